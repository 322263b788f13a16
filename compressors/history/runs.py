"""Saved runs of the suite: pytest-benchmark JSON files, loaded, ordered, chosen and saved.

A run is the JSON pytest-benchmark writes (`--benchmark-json FILE`, or `--benchmark-save` /
`--benchmark-autosave` into its storage, `<storage>/<machine-id>/NNNN_<tag>.json`). The gate adds
one top-level key, `compressors_gate`, to the runs it saves; `latest_passing` only picks those,
so a run that failed the gate is never the baseline of the next comparison. A storage may pin a
reference run (`reference.json`) that every later run is also compared with, so that small
accepted drops cannot add up without limit.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path

from compressors.artifacts import write_atomic
from compressors.measure.figures import Figures

GATE_KEY = "compressors_gate"
REFERENCE_FILE = "reference.json"
# Machine facts (from `compressors.measure.machine.machine_facts`) that make latency incomparable.
CPU_KEYS = ("cpu_model", "cpu_count", "threads")
_NUMBERED = re.compile(r"^(\d{4})_")


class HistoryError(ValueError):
    """A saved run that cannot be read, or a storage that holds no usable run."""


@dataclass(frozen=True)
class Benchmark:
    """One variant's record in a saved run."""

    variant: str
    group: str | None
    fullname: str
    extra_info: dict
    stats: dict

    @property
    def samples_ms(self) -> tuple[float, ...]:
        """Per-call times in ms, when the run was saved with them (`--benchmark-json`, `--benchmark-save-data`)."""
        data = self.stats.get("data")
        return tuple(float(s) * 1e3 for s in data) if data else ()

    def figures(self) -> Figures:
        """The typed record of this variant's figures; the p50 falls back to the timing stats."""
        figures = Figures.from_extra_info(self.variant, self.extra_info)
        if math.isnan(figures.p50_ms) and isinstance(self.stats.get("median"), (int, float)):
            figures = replace(figures, p50_ms=float(self.stats["median"]) * 1e3)
        return figures


@dataclass(frozen=True)
class SavedRun:
    """One run of the suite as pytest-benchmark saved it."""

    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def datetime(self) -> datetime:
        return datetime.fromisoformat(self.data["datetime"])

    @property
    def machine_info(self) -> dict:
        return self.data.get("machine_info", {})

    @property
    def commit_info(self) -> dict:
        return self.data.get("commit_info", {})

    @property
    def gate(self) -> dict | None:
        """What the gate recorded when it saved this run; None for a run it did not save."""
        return self.data.get(GATE_KEY)

    @property
    def passed(self) -> bool:
        return bool(self.gate and self.gate.get("passed"))

    @cached_property
    def benchmarks(self) -> dict[str, Benchmark]:
        """variant -> its benchmark, in the order they ran."""
        result = {}
        for bench in self.data["benchmarks"]:
            variant = (bench.get("params") or {}).get("variant") or bench["name"]
            result[variant] = Benchmark(variant, bench.get("group"), bench.get("fullname", bench["name"]), bench.get("extra_info", {}), bench["stats"])
        return result

    @property
    def groups(self) -> set[str | None]:
        """Benchmark groups (profile, batch size, threads): runs compare only within a group."""
        return {b.group for b in self.benchmarks.values()}

    @property
    def profile(self) -> str | None:
        """The profile every benchmark of the run belongs to (the first word of its group), if one."""
        profiles = {(group or "").split(" ")[0] for group in self.groups}
        return profiles.pop() if len(profiles) == 1 and "" not in profiles else None

    @property
    def test_slowdown(self) -> dict[str, float]:
        """Variants slowed by the test-only knob in this run (`meta_test_slowdown`)."""
        return {v: b.extra_info["meta_test_slowdown"] for v, b in self.benchmarks.items() if "meta_test_slowdown" in b.extra_info}

    def label(self) -> str:
        return f"{self.name} ({self.data['datetime'][:19]})"


def load_run(path: Path) -> SavedRun:
    """Read one saved run, checking it is pytest-benchmark's JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except FileNotFoundError:
        raise HistoryError(f"saved run {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HistoryError(f"{path}: not a JSON file ({error})") from None
    missing = {"benchmarks", "datetime", "machine_info"} - set(data) if isinstance(data, dict) else {"benchmarks"}
    if missing:
        raise HistoryError(f"{path}: not a pytest-benchmark run (missing {sorted(missing)})")
    if not isinstance(data["benchmarks"], list):
        raise HistoryError(f"{path}: 'benchmarks' must be a list, got {type(data['benchmarks']).__name__}")
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, dict) or "stats" not in bench or "name" not in bench:
            raise HistoryError(f"{path}: benchmark #{i} has no 'name' or 'stats'")
        if not isinstance(bench["stats"], dict) or not isinstance(bench.get("extra_info", {}), dict):
            raise HistoryError(f"{path}: benchmark #{i}: 'stats' and 'extra_info' must be objects")
    try:
        stamp = datetime.fromisoformat(str(data["datetime"]))
    except ValueError:
        raise HistoryError(f"{path}: 'datetime' {data['datetime']!r} is not an ISO date and time") from None
    if stamp.tzinfo is None:  # naive and aware times cannot be ordered together
        raise HistoryError(f"{path}: 'datetime' {data['datetime']!r} has no time zone (pytest-benchmark writes UTC with +00:00)")
    return SavedRun(path, data)


def run_files(storage: Path) -> list[Path]:
    """The numbered run files of a pytest-benchmark storage directory (any machine id)."""
    storage = Path(storage)
    files = [p for p in storage.glob("*/*.json") if _NUMBERED.match(p.name)]
    files += [p for p in storage.glob("*.json") if _NUMBERED.match(p.name)]
    return sorted(files)


def load_runs(sources: list[Path], skipped: list[str] | None = None) -> list[SavedRun]:
    """Runs from files and storage directories, oldest first, each run once.

    A run given twice (the current JSON and its copy saved by the gate share the same
    `datetime`) is kept once, preferring the copy that carries the gate's record. A file given
    by name must be readable; an unreadable file found in a storage directory is skipped, and
    named in `skipped` when a list is given, so that one corrupt file cannot block every later gate.
    """
    runs: dict[tuple[str, str], SavedRun] = {}
    for source in map(Path, sources):
        if source.is_dir():
            paths, named = run_files(source), False
        elif source.exists():
            paths, named = [source], True
        else:
            raise HistoryError(f"{source}: no such run file or storage directory")
        for path in paths:
            try:
                run = load_run(path)
            except HistoryError as error:
                if named:
                    raise
                if skipped is not None:
                    skipped.append(f"skipped unreadable saved run: {error}")
                continue
            key = (run.data["datetime"], run.machine_info.get("node", ""))
            if key not in runs or (run.gate and not runs[key].gate):
                runs[key] = run
    return sorted(runs.values(), key=lambda r: (r.datetime, r.name))


def differences(run: SavedRun, like: SavedRun) -> list[str]:
    """Why `run`'s latency is not comparable with `like`'s: other CPU, int8 flags or library versions."""
    before, after = run.machine_info, like.machine_info
    reasons = [f"{key} {before.get(key)!r} -> {after.get(key)!r}" for key in (*CPU_KEYS, "int8_flags") if before.get(key) != after.get(key)]
    old, new = before.get("versions") or {}, after.get("versions") or {}
    changed = [f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        reasons.append("library versions " + ", ".join(changed))
    return reasons


def _candidates(runs: list[SavedRun], like: SavedRun) -> list[SavedRun]:
    return [
        r for r in runs
        if r.passed and r.groups & like.groups and r.data["datetime"] != like.data["datetime"] and r.datetime <= like.datetime
    ]


def latest_passing(runs: list[SavedRun], like: SavedRun) -> tuple[SavedRun | None, list[str]]:
    """The newest passing run before `like` in its benchmark group, from the same machine and libraries.

    When no passing run shares the machine and library versions, the newest passing run of the
    group is returned with the reasons it differs (the gate prints them loudly).
    """
    candidates = _candidates(runs, like)
    same = [r for r in candidates if not differences(r, like)]
    if same:
        return max(same, key=lambda r: (r.datetime, r.name)), []
    newest = max(candidates, key=lambda r: (r.datetime, r.name), default=None)
    return newest, differences(newest, like) if newest else []


def reference_run(storage: Path, runs: list[SavedRun], like: SavedRun) -> SavedRun | None:
    """The pinned reference run of a storage (`reference.json`), else its oldest passing run like `like`."""
    pin = Path(storage) / REFERENCE_FILE
    if pin.is_file():
        try:
            name = json.loads(pin.read_text())["run"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise HistoryError(f"{pin}: expected {{\"run\": \"<saved run name>\"}} ({error})") from None
        matches = [r for r in runs if r.name == name]
        if not matches:
            raise HistoryError(f"{pin}: pinned reference run {name!r} is not in {storage}")
        return matches[0]
    candidates = [r for r in _candidates(runs, like) if not differences(r, like)]
    return min(candidates, key=lambda r: (r.datetime, r.name), default=None)


def pin_reference(storage: Path, run: SavedRun) -> Path:
    """Pin `run` as the storage's reference run; returns the pin file."""
    pin = Path(storage) / REFERENCE_FILE
    pin.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(pin, json.dumps({"run": run.name}).encode())
    return pin


def find_run(storage: Path, which: str) -> SavedRun:
    """A run chosen by path, file name, stem or number (`0003`) within a storage directory."""
    candidate = Path(which)
    if candidate.is_file():
        return load_run(candidate)
    matches = [p for p in run_files(storage) if which in (p.name, p.stem, p.stem.split("_", 1)[0])]
    if len(matches) != 1:
        found = "no run" if not matches else f"{len(matches)} runs ({', '.join(str(m) for m in matches)})"
        raise HistoryError(f"--against {which!r}: {found} matches in {storage}; give a file path or a unique NNNN number")
    return load_run(matches[0])


def machine_id(machine_info: dict) -> str:
    """pytest-benchmark's storage folder for a run's machine, e.g. `Linux-CPython-3.11-64bit`."""
    version = ".".join(str(machine_info.get("python_version", platform.python_version())).split(".")[:2])
    bits = (machine_info.get("cpu") or {}).get("bits")
    return "-".join(
        (
            machine_info.get("system") or platform.system(),
            machine_info.get("python_implementation") or platform.python_implementation(),
            version,
            f"{bits}bit" if bits else platform.architecture()[0],
        )
    )


def default_tag(run: SavedRun) -> str:
    """pytest-benchmark's autosave tag: commit id, time, and a mark for uncommitted changes."""
    commit = run.commit_info.get("id") or "unversioned"
    parts = [commit if commit != "unknown" else "unversioned", run.datetime.strftime("%Y%m%d_%H%M%S")]
    if run.commit_info.get("dirty"):
        parts.append("uncommitted-changes")
    return "_".join(parts)


def save_run(data: dict, storage: Path, tag: str) -> Path:
    """Write a run into storage as `<machine-id>/NNNN_<tag>.json`, atomically, and return its path."""
    if not re.fullmatch(r"[\w.-]+", tag):
        raise HistoryError(f"tag {tag!r} must be letters, digits, '.', '-' or '_' (it becomes a file name)")
    folder = Path(storage) / machine_id(data.get("machine_info", {}))
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(data, indent=4, ensure_ascii=True).encode())
        while True:
            numbers = [int(m.group(1)) for p in folder.glob("*.json") if (m := _NUMBERED.match(p.name))]
            target = folder / f"{max(numbers, default=0) + 1:04d}_{tag}.json"
            try:
                os.link(tmp, target)  # fails if another gate took this number meanwhile
                return target
            except FileExistsError:
                continue
    finally:
        Path(tmp).unlink(missing_ok=True)
