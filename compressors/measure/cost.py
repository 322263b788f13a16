"""A deterministic cost per query: instructions counted under valgrind's callgrind, around the queries only.

Wall-clock speed-ups between an int8 ONNX Runtime model and an fp32 PyTorch one differ 2.3x
between two hosts that both report "AMD EPYC, 2 cores, AVX2", and a neighbour moves them too.
Instructions executed under valgrind do not: valgrind presents the same virtual CPU on every host
of one instruction set and counts the guest program's instructions whatever else runs. So the
CI's speed verdict rests on this figure, and the wall-clock speed-up stays the reported speed.

One long-lived worker process (`compressors.measure.cost_worker`) runs under
`valgrind --tool=callgrind --instr-atstart=no`: importing torch and transformers is not
instrumented (under instrumentation it costs about 18.5 G instructions, five minutes). For each
variant the worker loads the predictor as the suite serves it, warms it up uninstrumented, then
switches instrumentation on (callgrind client requests from a tiny C library compiled on first use),
zeroes the counters, runs the queries one at a time, and dumps the counts under the variant's name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

INSTALL_HINT = "install valgrind (Debian/Ubuntu: apt-get install valgrind) or run without --cost"
# The client requests the worker calls; callgrind.h's macros, compiled once per machine.
_REQUESTS_C = b"""\
#include <valgrind/callgrind.h>
int compressors_running_on_valgrind(void) { return RUNNING_ON_VALGRIND; }
void compressors_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void compressors_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void compressors_zero(void) { CALLGRIND_ZERO_STATS; }
void compressors_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""
VALGRIND_HEADERS = Path("/usr/include/valgrind/callgrind.h")


class CostUnavailable(RuntimeError):
    """The cost figure cannot be measured on this machine (no valgrind, no C compiler, or the worker failed)."""


@dataclass(frozen=True)
class CostRequest:
    """What the worker measures: a served artifact, loaded as the suite serves it, over fixed queries.

    Attributes:
        label: names the measurement in callgrind's dump (the variant).
        artifact: the served artifact's directory.
        attention: the torch attention kernel the suite chose ("sdpa" or "eager"); ignored for ONNX.
        repeat_factor: the test-only injected regression (`compressors.measure.injected`); 1 is none.
    """

    label: str
    artifact: Path
    queries: tuple[str, ...]
    threads: int = 1
    max_length: int = 128
    attention: str = "sdpa"
    ort_spinning: bool = True
    warm_queries: int = 3
    repeat_factor: float = 1.0

    def to_json(self) -> dict:
        return {**self.__dict__, "artifact": str(self.artifact), "queries": list(self.queries)}


@dataclass(frozen=True)
class Cost:
    """Instructions (and simulated last-level cache misses) per query, and the CPU capability torch chose."""

    instructions_per_query: float
    ll_misses_per_query: float
    queries: int
    isa: str


def require_valgrind() -> str:
    """The valgrind executable, or CostUnavailable with one line saying how to install it."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise CostUnavailable(f"the cost figure needs valgrind, which is not on PATH: {INSTALL_HINT}")
    if not VALGRIND_HEADERS.exists():
        raise CostUnavailable(f"the cost figure needs valgrind's headers ({VALGRIND_HEADERS} is missing): {INSTALL_HINT}")
    return valgrind


def client_requests_library(directory: Path) -> Path:
    """The compiled client-request library, built into `directory` on first use (keyed by its source)."""
    key = hashlib.sha256(_REQUESTS_C).hexdigest()[:12]
    library = Path(directory) / f"callgrind-requests-{key}.so"
    if library.exists():
        return library
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise CostUnavailable("the cost figure needs a C compiler (cc or gcc) to build callgrind's client requests: "
                              "apt-get install gcc, or run without --cost")
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as scratch:
        source, built = Path(scratch) / "requests.c", Path(scratch) / "requests.so"
        source.write_bytes(_REQUESTS_C)
        result = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(built), str(source)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise CostUnavailable(f"building callgrind's client requests failed: {result.stderr.strip()[:300]}")
        os.replace(built, library)
    return library


def parse_callgrind_totals(text: str) -> dict[str, int]:
    """Event totals of one callgrind dump: its `events:` names matched with its `summary:` (or `totals:`) line."""
    events: list[str] = []
    totals: list[int] | None = None
    for line in text.splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")) and totals is None:
            totals = [int(value) for value in line.split()[1:]]
    if not events or totals is None:
        raise ValueError("not a callgrind dump: no events or summary line")
    return dict(zip(events, totals + [0] * (len(events) - len(totals))))


def cost_of(totals: dict[str, int], queries: int) -> tuple[float, float]:
    """(instructions, last-level misses) per query from a dump's totals; misses are NaN without cache simulation."""
    if queries < 1:
        raise ValueError(f"need at least one query, got {queries}")
    instructions = totals.get("Ir", 0) / queries
    if "DLmr" in totals:
        misses = (totals.get("ILmr", 0) + totals["DLmr"] + totals.get("DLmw", 0)) / queries
    else:
        misses = math.nan
    return instructions, misses


class CostMeter:
    """One worker under callgrind, measuring the cost of one request at a time; close it (or use `with`)."""

    def __init__(self, work_dir: Path, cache_sim: bool = False, python: str = sys.executable) -> None:
        valgrind = require_valgrind()
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        library = client_requests_library(self.work_dir)
        self.dumps = Path(tempfile.mkdtemp(prefix="callgrind-", dir=self.work_dir))
        command = [
            valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=yes",
            f"--cache-sim={'yes' if cache_sim else 'no'}", f"--callgrind-out-file={self.dumps}/callgrind.out",
            f"--log-file={self.dumps}/valgrind.log", python, "-m", "compressors.measure.cost_worker", str(library),
        ]
        # A fixed hash seed: the same dict and set orders, so the same instructions, run after run.
        env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
        logger.info("cost: starting a worker under valgrind (callgrind, instrumented around the queries only)")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def measure(self, request: CostRequest) -> Cost:
        """The request's cost per query, counted in the worker."""
        before = set(self.dumps.glob("callgrind.out*"))
        reply = self._ask(request.to_json())
        dumps = sorted(set(self.dumps.glob("callgrind.out*")) - before, key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise CostUnavailable(f"cost of {request.label}: callgrind wrote no dump (see {self.dumps}/valgrind.log)")
        instructions, misses = cost_of(parse_callgrind_totals(dumps[-1].read_text()), reply["queries"])
        for dump in dumps:
            dump.unlink()
        return Cost(instructions, misses, reply["queries"], reply["isa"])

    def _ask(self, message: dict) -> dict:
        if self.process.poll() is not None:
            raise CostUnavailable(f"the cost worker has exited ({self.process.returncode}); see {self.dumps}/valgrind.log")
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise CostUnavailable(f"the cost worker stopped answering; see {self.dumps}/valgrind.log")
        reply = json.loads(line)
        if "error" in reply:
            raise CostUnavailable(f"cost of {message.get('label')}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.dumps, ignore_errors=True)

    def __enter__(self) -> CostMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



class RunCosts:
    """A suite run's cost figures: one worker for every variant (started on first use), each count kept.

    Torch variants are counted with sdpa attention, the kernel a user gets by default: the suite's
    own choice between sdpa and eager is made by timing, which a busy machine can flip, and the
    count must not move with it.
    """

    def __init__(self, work_dir: Path, queries: Sequence[str], threads: int, max_length: int,
                 ort_spinning: bool = True, cache_sim: bool = False) -> None:
        if not queries:
            raise ValueError("the cost figure needs at least one query")
        self.work_dir, self.queries, self.cache_sim = Path(work_dir), tuple(queries), cache_sim
        self.threads, self.max_length, self.ort_spinning = threads, max_length, ort_spinning
        self._meter: CostMeter | None = None
        self._costs: dict[str, Cost] = {}

    def of(self, label: str, artifact: Path, repeat_factor: float = 1.0) -> Cost:
        """The cost per query of a served artifact, counted once per label."""
        if label not in self._costs:
            if self._meter is None:
                self._meter = CostMeter(self.work_dir, self.cache_sim)
            request = CostRequest(label, Path(artifact), self.queries, self.threads, self.max_length,
                                  ort_spinning=self.ort_spinning, repeat_factor=repeat_factor)
            self._costs[label] = self._meter.measure(request)
            logger.info("cost: %s runs %.3f M instructions a query", label, self._costs[label].instructions_per_query / 1e6)
        return self._costs[label]

    def close(self) -> None:
        if self._meter is not None:
            self._meter.close()
            self._meter = None
