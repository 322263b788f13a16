"""The history side of the gate: each figure of each variant as a series over the passing runs
since the reference, judged for change points and cumulative drift (`changes.judge_series`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from compressors.history.changes import MIN_RUNS, judge_series
from compressors.history.runs import CPU_KEYS, SavedRun
from compressors.history.tolerances import GateTolerances
from compressors.measure.figures import Figures


@dataclass(frozen=True)
class Series:
    """One figure followed over the history: which way is worse, on a log scale or not, its limits."""

    figure: str
    worse: int
    log: bool
    step: Callable[[GateTolerances], float]
    drift: Callable[[GateTolerances], float]
    wall_clock: bool = False
    cost: bool = False


SERIES: tuple[Series, ...] = (
    Series("accuracy", -1, False, lambda t: t.max_accuracy_drop, lambda t: t.max_accuracy_drop),
    Series("in_scope_accuracy", -1, False, lambda t: t.max_accuracy_drop, lambda t: t.max_accuracy_drop),
    Series("oos_recall", -1, False, lambda t: t.max_oos_recall_drop, lambda t: t.max_oos_recall_drop),
    Series("size_mb", 1, True, lambda t: math.log1p(t.max_size_growth), lambda t: math.log1p(t.max_size_growth)),
    Series("speedup", -1, True, lambda t: math.log(t.latency_factor), lambda t: math.log(t.drift_factor), wall_clock=True),
    Series("instructions_per_query", 1, True, lambda t: math.log(t.cost_factor), lambda t: math.log(t.cost_factor), cost=True),
)


@dataclass(frozen=True)
class DriftFinding:
    """The history of one figure of one variant: the runs it covers, its change points, and whether it alarms."""

    variant: str
    series: Series
    runs: tuple[str, ...]
    values: tuple[float, ...]
    points: tuple[int, ...]
    step: float
    drift: float
    drift_limit: float
    alarm: str

    def describe(self) -> str:
        """The change points with the runs that bracket each, and the drift since the reference."""
        s = self.series
        shown = (lambda v: f"x{math.exp(v):.4f}") if s.log else (lambda v: f"{v:+.4f}")
        changes = "; ".join(
            f"{self.values[i - 1]:.4g} -> {self.values[i]:.4g} between {self.runs[i - 1]} and {self.runs[i]}" for i in self.points
        ) or "no change point"
        drift, limit = shown(s.worse * self.drift), shown(s.worse * self.drift_limit)
        return (f"variant {self.variant!r}: {s.figure} over {len(self.runs)} runs since {self.runs[0]}: {changes}; "
                f"newest level against the reference's {drift} (limit {limit})")


def history_findings(history: list[SavedRun], current: SavedRun, tolerances: GateTolerances) -> list[DriftFinding]:
    """Every figure of every variant of `current` followed over `history` (oldest first, the reference first) and `current`."""
    runs = [*history, current]
    found = []
    for variant in current.benchmarks:
        for series in SERIES:
            points = series_values(runs, variant, series, current, tolerances)
            if len(points) < MIN_RUNS or points[-1][0] is not current:
                continue
            names, values = tuple(run.name for run, _ in points), tuple(value for _, value in points)
            space = [math.log(v) for v in values] if series.log else list(values)
            verdict = judge_series(space, worse=series.worse, step_limit=series.step(tolerances), drift_limit=series.drift(tolerances))
            alarm = ""
            if verdict.step_alarm:
                alarm = f"the newest runs start a change beyond the {series.figure} limit"
            elif verdict.drift_alarm:
                alarm = f"{series.figure} drifted beyond its limit since the reference, in steps each within it"
            found.append(DriftFinding(variant, series, names, values, verdict.points, verdict.step, verdict.drift,
                                      series.drift(tolerances), alarm))
    return found


def series_values(runs: list[SavedRun], variant: str, series: Series, like: SavedRun,
                  tolerances: GateTolerances) -> list[tuple[SavedRun, float]]:
    """The runs that are points of one figure's series, with its value in each (raw, not logarithms).

    A run is left out when it lacks the variant or a finite value, and, for a wall-clock figure,
    when it was timed on a busy machine (or an unknown load) or on another CPU than `like`; for
    the cost, when another instruction set was measured than `like`'s.
    """
    bench = like.benchmarks.get(variant)
    if bench is None:
        return []
    now = bench.figures()
    return [(run, value) for run in runs if (value := _value(run, variant, series, now, like, tolerances)) is not None]


def _value(run: SavedRun, variant: str, series: Series, now: Figures, current: SavedRun, t: GateTolerances) -> float | None:
    bench = run.benchmarks.get(variant)
    if bench is None:
        return None
    figures = bench.figures()
    value = float(getattr(figures, series.figure))
    if not math.isfinite(value) or (series.log and value <= 0):
        return None
    if series.wall_clock and not (
        figures.machine_load <= t.max_machine_load
        and all(run.machine_info.get(k) == current.machine_info.get(k) for k in CPU_KEYS)
    ):
        return None  # busy, unknown load or another CPU: not a point of this series
    if series.cost and figures.cost_isa != now.cost_isa:
        return None
    return value
