"""The cost worker: runs under callgrind, measures one request a line (JSON on stdin, JSON on stdout).

Started by `compressors.measure.cost.CostMeter`; not a command of its own. Instrumentation is off
while it imports and loads, and on only around the counted queries.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path


def _answer(channel, message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def measure(requests: ctypes.CDLL, message: dict) -> dict:
    """Load the request's predictor, warm it up, and count its queries between two client requests."""
    from compressors.artifacts import ArtifactCache
    from compressors.formats.predictors import load_predictor

    artifact = ArtifactCache.load(Path(message["artifact"]))
    if artifact is None:
        return {"error": f"{message['artifact']} is not a complete artifact (missing or failed its checksums)"}
    predictor = load_predictor(artifact, message["threads"], message["max_length"], attention=message["attention"],
                               ort_spinning=message["ort_spinning"])
    if message["repeat_factor"] > 1:
        from compressors.measure.injected import RepeatedWork

        predictor = RepeatedWork(predictor, message["repeat_factor"])
    queries = message["queries"]
    for text in queries[: message["warm_queries"]]:
        predictor(text)
    requests.compressors_start()
    requests.compressors_zero()
    for text in queries:
        predictor(text)
    requests.compressors_dump(message["label"].encode())
    requests.compressors_stop()
    return {"queries": len(queries), "isa": _isa()}


def _isa() -> str:
    """The CPU capability torch's kernels dispatch to in this process (what valgrind's virtual CPU offers)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def main(argv: list[str]) -> int:
    requests = ctypes.CDLL(argv[0])
    if not requests.compressors_running_on_valgrind():
        print("the cost worker must run under valgrind --tool=callgrind", file=sys.stderr)
        return 2
    # Libraries that print would corrupt the replies: they get stderr, the replies a private copy of stdout.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import torch

    torch.set_num_threads(1)
    for line in sys.stdin:
        message = json.loads(line)
        try:
            reply = measure(requests, message)
        except Exception as error:  # the parent names the variant and stops the run
            reply = {"error": f"{type(error).__name__}: {error}"}
        _answer(replies, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
