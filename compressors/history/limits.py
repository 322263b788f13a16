"""Trusted limits: the budgets and `[gate]` tolerances a run is judged by come from the history, not
only from the change under test (a change that edits budgets.toml must not be judged by its own edit).

Each run the gate saves records the sha256 of the budgets file it was judged by, and the storage
keeps that file as `limits/<sha256>.toml`. The next gate reads the limits of the run it compares
with (or a file given explicitly, e.g. the base branch's): when the checkout's differ, it prints
the difference and fails, unless they were accepted explicitly (`--accept-limits`, recorded in the
saved run).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from compressors.artifacts import write_atomic
from compressors.history.runs import HistoryError, SavedRun
from compressors.history.tolerances import GateTolerances, load_gate_tolerances
from compressors.measure.budgets import LIMITS_BY_KEY, Budget, Direction, load_budgets

LIMITS_DIR = "limits"


@dataclass(frozen=True)
class Limits:
    """The budgets (variant -> Budget) and tolerances of one profile, read from `path`."""

    path: Path
    budgets: dict[str, Budget]
    tolerances: GateTolerances

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def read_limits(path: Path, profile: str | None, variants: Collection[str], profiles: Collection[str]) -> Limits:
    """A budgets file's limits for a run of `profile` (BudgetError naming the file when it is malformed)."""
    budgets = load_budgets(path, variants, profiles).get(profile, {}) if profile else {}
    return Limits(Path(path), budgets, load_gate_tolerances(path, profiles, profile))


def store_limits(storage: Path, limits: Limits) -> str:
    """Keep the budgets file in the storage under its sha256 (idempotent); returns the sha256."""
    sha = limits.sha256
    target = Path(storage) / LIMITS_DIR / f"{sha}.toml"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, limits.path.read_bytes())
    return sha


def recorded_limits(storage: Path, run: SavedRun) -> Path | None:
    """The budgets file a saved run was judged by, when the storage keeps it.

    Raises HistoryError when the kept file no longer has the sha256 it is stored under (edited
    after the run was judged): limits that could be changed in place would not be trusted ones.
    """
    sha = (run.gate or {}).get("limits_sha256")
    path = Path(storage) / LIMITS_DIR / f"{sha}.toml"
    if not (sha and path.is_file()):
        return None
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
        raise HistoryError(f"{path}: the limits run {run.name} was judged by were edited after it (sha256 differs from its name)")
    return path


def limit_differences(trusted: Limits, checkout: Limits) -> list[str]:
    """Every budget and tolerance that differs, with which way it moved ("looser" fails the most)."""
    lines = []
    for variant in sorted(set(trusted.budgets) | set(checkout.budgets)):
        old = trusted.budgets.get(variant, Budget())
        new = checkout.budgets.get(variant, Budget())
        for key in sorted(set(old.values) | set(new.values)):
            before, after = old.values.get(key), new.values.get(key)
            if before != after:
                lines.append(f"[{variant}] {key}: {_shown(before)} -> {_shown(after)} ({_way(key, before, after)})")
        for key in sorted(set(old.shortfalls) | set(new.shortfalls)):
            if old.shortfalls.get(key) != new.shortfalls.get(key):
                lines.append(f"[{variant}] shortfall.{key}: {old.shortfalls.get(key)} -> {new.shortfalls.get(key)}")
    old_t, new_t = trusted.tolerances.as_dict(), checkout.tolerances.as_dict()
    lines += [f"[gate] {key}: {old_t[key]:g} -> {new_t[key]:g}" for key in old_t if old_t[key] != new_t[key]]
    return lines


def _shown(value: float | None) -> str:
    return "unset" if value is None else f"{value:g}"


def _way(key: str, before: float | None, after: float | None) -> str:
    if before is None:
        return "new limit"
    if after is None:
        return "removed: looser"
    tighter = after > before if LIMITS_BY_KEY[key].direction is Direction.MIN else after < before
    return "tighter" if tighter else "looser"
