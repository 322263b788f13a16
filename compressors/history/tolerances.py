"""The gate's tolerances: how much worse than an earlier run a figure may get (`[gate]` of a budgets file)."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from compressors.measure.budgets import GATE_TABLE, BudgetError, read_budgets_file
from compressors.names import did_you_mean


@dataclass(frozen=True)
class GateTolerances:
    """How much worse than the previous passing run a figure may get (the `[gate]` table).

    Attributes:
        max_accuracy_drop: accuracy and in-scope accuracy may fall by at most this (a fraction).
        max_oos_recall_drop: out-of-scope recall may fall by at most this (a fraction).
        max_size_growth: deployed size may grow by at most this fraction (0.01 = 1%).
        latency_factor: a variant's time relative to the baseline's may grow by at most this
            factor (the shift of its paired ratios) ...
        latency_p_value: ... and a larger shift only counts when the one-sided Mann-Whitney U
            test gives p below this.
        baseline_latency_factor: the baseline's own median (raw ms, same CPU, quiet runs only)
            may grow by at most this factor (with the same U test).
        max_baseline_drift: when the baseline's own latency moved by more than this factor
            (either way, same CPU, both runs quiet), relative latency cannot be judged: a change
            can cause that, so the run fails, saying why.
        max_machine_load: the share of the machine's CPU time other processes may use while a
            variant is timed for its wall-clock figures to be judged; above it, or unknown, they
            are inconclusive (neither pass nor fail).
        cost_factor: a variant's instructions per query (under callgrind; deterministic) may grow
            by at most this factor between runs of the same instruction set.
        drift_factor: over the history since the reference run, the newest level of a variant's
            relative latency may be at most this factor worse than the reference's level, however
            small each step (`compressors.history.changes`).
    """

    max_accuracy_drop: float = 0.01
    max_oos_recall_drop: float = 0.02
    max_size_growth: float = 0.01
    latency_factor: float = 1.15
    latency_p_value: float = 0.001
    baseline_latency_factor: float = 2.0
    max_baseline_drift: float = 1.5
    max_machine_load: float = 0.25
    cost_factor: float = 1.03
    drift_factor: float = 1.10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a number, got {value!r}")
        for name in ("max_accuracy_drop", "max_oos_recall_drop"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a fraction in [0, 1], got {getattr(self, name)}")
        if self.max_size_growth < 0:
            raise ValueError(f"max_size_growth must not be negative, got {self.max_size_growth}")
        if not 0 <= self.max_machine_load <= 1:
            raise ValueError(f"max_machine_load is a share of the CPU time in [0, 1], got {self.max_machine_load}")
        for name in ("latency_factor", "baseline_latency_factor", "max_baseline_drift", "cost_factor", "drift_factor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is a slow-down factor >= 1 (1.15 = 15% slower), got {getattr(self, name)}")
        if not 0 < self.latency_p_value < 1:
            raise ValueError(f"latency_p_value must be in (0, 1), e.g. 0.001, got {self.latency_p_value}")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def load_gate_tolerances(path: Path, profiles: Collection[str], profile: str | None = None) -> GateTolerances:
    """The `[gate]` table of a budgets file, with `[gate.<profile>]` over it for a run of that
    profile; the defaults of `GateTolerances` where both are silent. `profiles`: the known
    profile names (sub-tables named otherwise are errors).

    Raises:
        BudgetError: naming the file, the key and the reason.
    """
    path = Path(path)
    return gate_tolerances(path, read_budgets_file(path).get(GATE_TABLE, {}), profiles, profile)


def gate_tolerances(path: Path, table: object, profiles: Collection[str], profile: str | None = None) -> GateTolerances:
    """A `[gate]` table's tolerances (with its `[gate.<profile>]` sub-table applied), validated.

    Every sub-table must be named after a profile (a typo such as `[gate.smal]` is an error, not
    ignored), and each is validated, used or not; errors name the file and the key.
    """
    where = f"{path}: [{GATE_TABLE}]"
    if not isinstance(table, dict):
        raise BudgetError(f"{where}: must be a table of tolerances")
    shared = {key: value for key, value in table.items() if not isinstance(value, dict)}
    chosen = _tolerances(where, shared)
    for name, overrides in table.items():
        if not isinstance(overrides, dict):
            continue
        if name not in profiles:
            raise BudgetError(f"{path}: [{GATE_TABLE}.{name}] is not a profile{did_you_mean(name, list(profiles))}; "
                              f"sub-tables of [{GATE_TABLE}] are named after one of {sorted(profiles)}")
        tolerances = _tolerances(f"{path}: [{GATE_TABLE}.{name}]", {**shared, **overrides}, overrides)
        if name == profile:
            chosen = tolerances
    return chosen


def _tolerances(where: str, table: dict, keys: dict | None = None) -> GateTolerances:
    known = [f.name for f in fields(GateTolerances)]
    for key in table if keys is None else keys:
        if key not in known:
            raise BudgetError(f"{where}: unknown key {key!r}{did_you_mean(key, known)}; known keys: {known} "
                              "(or a sub-table named after a profile)")
    try:
        return GateTolerances(**table)
    except (TypeError, ValueError) as error:
        raise BudgetError(f"{where}: {error}") from None
