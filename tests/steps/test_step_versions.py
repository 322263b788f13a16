"""A step's cache key follows its code: changing a step's code is a recorded decision, never silent.

Every registered step has its VERSION and a hash of the code that decides what it builds recorded
in `step_sources.json`: its own module and every step or format module it imports, directly or
through others, read from the import graph (`tests/import_graph.py`), so that a helper such as
`steps/augment.py` is hashed with the steps that use it without anyone listing it. The step
protocol (`steps/base.py`) and the foundation modules are left out: they make the cache keys
themselves, which `tests/test_cache_keys.py` pins. When the code changes,
this test fails until the change is recorded: bump the step's VERSION if what it builds changes
(its artifacts are then rebuilt), or keep it if not (cached artifacts stay valid). Record with:

    python tests/steps/test_step_versions.py --record
"""

from __future__ import annotations

import hashlib
import json
import pkgutil
import sys
from importlib import import_module
from pathlib import Path

if __name__ == "__main__":  # run as a script to record: tests/ is not on the path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compressors.steps
import compressors.variants  # noqa: F401  (imports every step the registry uses)
from compressors.steps.base import registered_steps
from import_graph import graph, reachable

# Every step module, also those no variant uses yet: what is recorded must not depend on which
# other test modules ran first in the same session.
for _module in pkgutil.iter_modules(compressors.steps.__path__, "compressors.steps."):
    import_module(_module.name)

RECORD = Path(__file__).with_name("step_sources.json")
NOT_HASHED = {"compressors.steps.base"}


def hashed(module: str) -> bool:
    """Whether a module a step imports counts as the step's code."""
    return module.startswith(("compressors.steps.", "compressors.formats.")) and module not in NOT_HASHED


def current() -> dict[str, dict[str, str]]:
    """step name -> its VERSION, the modules that decide what it builds, and their hash."""
    steps = {}
    imports = graph()
    for config_type, rule in registered_steps().items():
        if not rule.build.__module__.startswith("compressors."):
            continue  # steps registered by tests
        modules = sorted(reachable(imports, rule.build.__module__, hashed))
        digest = hashlib.sha256()
        for name in modules:
            digest.update(name.encode() + b"\0" + Path(import_module(name).__file__).read_bytes())
        steps[config_type.STEP] = {"version": config_type.VERSION, "modules": modules, "sha256": digest.hexdigest()[:16]}
    return dict(sorted(steps.items()))


def test_every_steps_code_and_version_are_recorded() -> None:
    recorded = json.loads(RECORD.read_text())
    problems = []
    for step, now in current().items():
        before = recorded.get(step)
        if before is None:
            problems.append(f"step {step!r} is not recorded yet")
        elif before["version"] != now["version"] and before["sha256"] == now["sha256"]:
            problems.append(f"step {step!r}: VERSION {before['version']} -> {now['version']} with unchanged code")
        elif before != now:
            problems.append(
                f"step {step!r}: its code changed ({', '.join(now['modules'])}); bump its VERSION if what it builds "
                f"changes (now {now['version']}), keep it if not, and record the decision"
            )
    stale = sorted(set(recorded) - set(current()))
    if stale:
        problems.append(f"recorded steps that no longer exist: {stale}")
    assert not problems, "\n".join(problems) + "\nrecord with: python tests/steps/test_step_versions.py --record"


def test_a_step_hashes_what_it_imports_through_others() -> None:
    steps = current()
    assert "compressors.steps.augment" in steps["distill"]["modules"]  # distill -> augment
    assert {"compressors.steps.augment", "compressors.steps.distill"} <= set(steps["search-distill"]["modules"])
    assert "compressors.formats.onnx" in steps["ort-optimize"]["modules"]
    assert not {"compressors.steps.base", "compressors.artifacts"} & {m for s in steps.values() for m in s["modules"]}


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    RECORD.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"recorded {len(current())} steps in {RECORD}")
