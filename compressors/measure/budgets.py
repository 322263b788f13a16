"""Performance budgets: one human-edited TOML file, judged against each variant's figures.

Layout: one table per profile and variant, e.g. `[full.distilled]`, holding any of the keys in
`BUDGET_KEYS`. Relative budgets compare with the baseline (or the variant's fp32 source)
measured in the same run. A budget a variant is known to miss is declared as data, under
`shortfall.<key>` of its table, with the value it reached and a noise margin:

    [full.frontier]
    max_accuracy_drop = 0.005
    shortfall.max_accuracy_drop = { reached = 0.036, margin = 0.005, why = "..." }

The short figure must then stay within `margin` of what it reached: worse fails (a regression
of that variant), and meeting the target fails too, so the shortfall is removed and the budget
enforced. Every other budget of the variant is judged as usual.

One more top-level table, `[gate]`, holds the tolerances of `compressors gate` (a run against
the previous passing run); see `GateTolerances`.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from compressors.measure.figures import Figures

GATE_TABLE = "gate"
SHORTFALL_TABLE = "shortfall"
# The budgets the package ships: the reference case's (CLINC150) floors, budgets and gate tolerances.
DEFAULT_BUDGETS = Path(str(resources.files("compressors") / "budgets.toml"))

# key -> (Figures attribute it limits, "min" or "max", what it means)
BUDGET_KEYS: dict[str, tuple[str, str, str]] = {
    "min_accuracy": ("accuracy", "min", "test accuracy at least this"),
    "min_in_scope_accuracy": ("in_scope_accuracy", "min", "in-scope accuracy at least this"),
    "min_oos_recall": ("oos_recall", "min", "out-of-scope recall at least this"),
    "max_accuracy_drop": ("accuracy_drop", "max", "baseline accuracy minus this variant's, at most this"),
    "max_oos_recall_drop": ("oos_recall_drop", "max", "baseline out-of-scope recall minus this variant's"),
    "max_drop_vs_source": ("accuracy_drop_vs_source", "max", "fp32 source accuracy minus this variant's"),
    "max_size_mb": ("size_mb", "max", "deployed size in MB (1e6 bytes) at most this"),
    "max_size_ratio": ("size_ratio", "max", "size / baseline size at most this"),
    "min_speedup": ("speedup", "min", "paired speed-up against the baseline at least this"),
    "max_p50_ms": ("p50_ms", "max", "median batch-size-1 latency in ms (machine-specific)"),
    "min_batch_agreement": ("batch_agreement", "min", "batched vs batch-size-1 predictions agree on this fraction"),
}
# Budgets that hold on any data set: relative to the baseline measured in the same run.
RELATIVE_KEYS = ("max_accuracy_drop", "max_oos_recall_drop", "max_drop_vs_source", "max_size_ratio", "min_speedup")
_FRACTIONS = ("accuracy", "in_scope_accuracy", "oos_recall", "batch_agreement")


class BudgetError(ValueError):
    """A budgets file that cannot be used as it is."""


class BudgetBroken(AssertionError):
    """A variant broke a budget, or a known shortfall got worse or was met."""


@dataclass(frozen=True)
class Shortfall:
    """A budget a variant is known to miss: the value it reached, the noise margin, and why."""

    reached: float
    margin: float
    why: str = ""


@dataclass(frozen=True)
class Budget:
    """The limits of one variant in one profile; None means no limit."""

    min_accuracy: float | None = None
    min_in_scope_accuracy: float | None = None
    min_oos_recall: float | None = None
    max_accuracy_drop: float | None = None
    max_oos_recall_drop: float | None = None
    max_drop_vs_source: float | None = None
    max_size_mb: float | None = None
    max_size_ratio: float | None = None
    min_speedup: float | None = None
    max_p50_ms: float | None = None
    min_batch_agreement: float | None = None
    shortfalls: dict[str, Shortfall] = field(default_factory=dict)

    def limits(self) -> dict[str, float]:
        """The keys that are set, with their limits."""
        return {key: getattr(self, key) for key in BUDGET_KEYS if getattr(self, key) is not None}

    def relative_only(self) -> Budget:
        """The budgets that hold on any data set (no absolute floors, no shortfalls of the reference case)."""
        return Budget(**{key: getattr(self, key) for key in RELATIVE_KEYS})

    def merged(self, other: Budget) -> Budget:
        """This budget with every limit `other` sets overriding it."""
        return replace(self, **other.limits(), shortfalls={**self.shortfalls, **other.shortfalls})


@dataclass(frozen=True)
class Check:
    """One budget judged against one figure.

    `status` is "ok", "broken" (limit missed, or the figure is NaN), "short" (a known shortfall
    within its margin), "worse" (a shortfall beyond its margin) or "met" (a shortfall that now
    meets its target: remove it, the budget then holds).
    """

    variant: str
    key: str
    value: float
    limit: float
    status: str
    shortfall: Shortfall | None = None

    @property
    def figure(self) -> str:
        return BUDGET_KEYS[self.key][0]

    @property
    def relation(self) -> str:
        return ">=" if BUDGET_KEYS[self.key][1] == "min" else "<="

    @property
    def failed(self) -> bool:
        return self.status in ("broken", "worse", "met")

    def __str__(self) -> str:
        head = f"variant {self.variant!r}: {self.figure} = {self.value:.4g}"
        if self.status == "broken" and math.isnan(self.value):
            return f"variant {self.variant!r}: {self.figure} is NaN (not measured), so budget {self.key} ({self.relation} {self.limit:g}) cannot hold"
        if self.status == "broken":
            return f"{head} breaks budget {self.key} (needs {self.figure} {self.relation} {self.limit:g})"
        s = self.shortfall or Shortfall(math.nan, math.nan)
        known = f"target {self.relation} {self.limit:g}, reached {s.reached:g} (margin {s.margin:g})"
        if self.status == "short":
            return f"{self.variant}: {self.figure} {known}, now {self.value:.4g}" + (f": {s.why}" if s.why else "")
        if self.status == "worse":
            return f"{head} is worse than its known shortfall ({known}): a regression"
        if self.status == "met":
            return f"{head} meets budget {self.key} ({self.relation} {self.limit:g}) declared short: remove the shortfall"
        return f"{head}: ok"


def judge(variant: str, budget: Budget, figures: Figures) -> list[Check]:
    """Every budget of `budget` against the variant's figures; a NaN figure breaks its budget."""
    checks = []
    for key, limit in budget.limits().items():
        attribute, direction, _ = BUDGET_KEYS[key]
        value = float(getattr(figures, attribute))
        shortfall = budget.shortfalls.get(key)
        checks.append(Check(variant, key, value, limit, _status(value, limit, direction, shortfall), shortfall))
    return checks


def _status(value: float, limit: float, direction: str, shortfall: Shortfall | None) -> str:
    if math.isnan(value):
        return "broken"
    sign = 1.0 if direction == "min" else -1.0  # sign * value grows with "better"
    meets = sign * (value - limit) >= 0
    if shortfall is None:
        return "ok" if meets else "broken"
    if meets:
        return "met"
    return "short" if sign * (value - shortfall.reached) >= -shortfall.margin - 1e-12 else "worse"


def load_budgets(path: Path, variants: Iterable[str], profiles: Iterable[str]) -> dict[str, dict[str, Budget]]:
    """Parse and validate a budgets file: profile -> variant -> Budget.

    Raises:
        BudgetError: naming the file, the table, the key and the reason, for unknown profiles,
            variants or keys, non-numbers, negative numbers, accuracies outside [0, 1], and
            shortfalls that name no budget or reach their target.
    """
    path = Path(path)
    raw = read_budgets_file(path)
    variants, profiles = list(variants), list(profiles)
    result: dict[str, dict[str, Budget]] = {p: {} for p in profiles}
    for profile, table in raw.items():
        if profile == GATE_TABLE:
            gate_tolerances(path, table)
            continue
        if profile not in profiles:
            raise BudgetError(f"{path}: [{profile}] is not a profile; expected one of {profiles}{hint(profile, profiles)}")
        if not isinstance(table, dict):
            raise BudgetError(f"{path}: {profile} must be a table of variants")
        for variant, limits in table.items():
            where = f"{path}: [{profile}.{variant}]"
            if variant not in variants:
                raise BudgetError(f"{where}: unknown variant {variant!r}{hint(variant, variants)}")
            result[profile][variant] = parse_budget(where, limits)
    return result


def parse_budget(where: str, limits: object) -> Budget:
    """One variant's table of limits (and shortfalls), validated; `where` names it in errors."""
    if not isinstance(limits, dict):
        raise BudgetError(f"{where}: must be a table of limits")
    values = {k: _limit(where, k, v) for k, v in limits.items() if k != SHORTFALL_TABLE}
    shortfalls = _shortfalls(where, limits.get(SHORTFALL_TABLE, {}), values)
    return Budget(**values, shortfalls=shortfalls)


def _shortfalls(where: str, table: object, limits: dict[str, float]) -> dict[str, Shortfall]:
    if not isinstance(table, dict):
        raise BudgetError(f"{where}: {SHORTFALL_TABLE} must be a table of budget keys")
    result = {}
    for key, spec in table.items():
        at = f"{where}: {SHORTFALL_TABLE}.{key}"
        if key not in limits:
            raise BudgetError(f"{at}: a shortfall needs the budget {key!r} set in the same table")
        if not isinstance(spec, dict) or set(spec) - {"reached", "margin", "why"} or not {"reached", "margin"} <= set(spec):
            raise BudgetError(f"{at}: must be {{ reached = <number>, margin = <number>, why = \"...\" }}, got {spec!r}")
        reached, margin = (_number(at, name, spec[name]) for name in ("reached", "margin"))
        if margin < 0:
            raise BudgetError(f"{at}: margin must not be negative, got {margin}")
        if _status(reached, limits[key], BUDGET_KEYS[key][1], None) == "ok":
            raise BudgetError(f"{at}: reached {reached:g} meets the budget {limits[key]:g}; that is no shortfall: remove it")
        result[key] = Shortfall(reached, margin, str(spec.get("why", "")))
    return result


def read_budgets_file(path: Path) -> dict:
    """The parsed TOML of a budgets file, or a BudgetError naming it."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BudgetError(f"budgets file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise BudgetError(f"{path}: not valid TOML ({error})") from None


def _number(where: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BudgetError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _limit(where: str, key: str, value: object) -> float:
    if key not in BUDGET_KEYS:
        raise BudgetError(f"{where}: unknown key {key!r}{hint(key, list(BUDGET_KEYS))}; known keys: {sorted(BUDGET_KEYS)}")
    number = _number(where, key, value)
    if number < 0:
        raise BudgetError(f"{where}: {key} must not be negative, got {value}")
    if BUDGET_KEYS[key][0] in _FRACTIONS and number > 1:
        raise BudgetError(f"{where}: {key} is a fraction in [0, 1], got {value}")
    return number


def hint(name: str, options: list[str]) -> str:
    """`; did you mean 'x'?` for the nearest option, or nothing."""
    close = difflib.get_close_matches(name, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


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
        baseline_latency_factor: the baseline's own median (raw ms, same CPU only) may grow by
            at most this factor (with the same U test). The baseline has no control, and raw
            times on a shared machine move by 1.5x between unchanged runs, so this only guards
            against gross slow-downs (threads, debug builds) unless the machine is quiet.
        max_baseline_drift: when the baseline's own latency moved by more than this factor
            (either way, same CPU), the machine was in a different state: contention slows a
            memory-bound fp32 model and a compute-bound int8 one unequally, so the ratios move
            too. Latency relative to the baseline is then shown but not gated against the
            previous run (the reference run still gates it).
        busy_latency_factor: the factor that replaces `latency_factor` when either run was timed
            on a busy machine (others used more than `max_machine_load` of its CPU time, or the
            run did not record it): a neighbour slows fp32 and int8 models unequally. Never below
            `latency_factor`; the default 1 leaves busy runs at `latency_factor`.
        max_machine_load: the share of the machine's CPU time other processes may use while a
            variant is timed for its run to count as quiet.
    """

    max_accuracy_drop: float = 0.01
    max_oos_recall_drop: float = 0.02
    max_size_growth: float = 0.01
    latency_factor: float = 1.15
    latency_p_value: float = 0.001
    baseline_latency_factor: float = 2.0
    max_baseline_drift: float = 1.5
    busy_latency_factor: float = 1.0
    max_machine_load: float = 0.25

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
        for name in ("latency_factor", "baseline_latency_factor", "max_baseline_drift", "busy_latency_factor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is a slow-down factor >= 1 (1.15 = 15% slower), got {getattr(self, name)}")
        if not 0 < self.latency_p_value < 1:
            raise ValueError(f"latency_p_value must be in (0, 1), e.g. 0.001, got {self.latency_p_value}")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def load_gate_tolerances(path: Path, profile: str | None = None) -> GateTolerances:
    """The `[gate]` table of a budgets file, with `[gate.<profile>]` over it for a run of that
    profile; the defaults of `GateTolerances` where both are silent.

    Raises:
        BudgetError: naming the file, the key and the reason.
    """
    path = Path(path)
    return gate_tolerances(path, read_budgets_file(path).get(GATE_TABLE, {}), profile)


def gate_tolerances(path: Path, table: object, profile: str | None = None) -> GateTolerances:
    """A `[gate]` table's tolerances (with its `[gate.<profile>]` sub-table applied), validated;
    errors name the file and the key. Every profile sub-table is validated, used or not."""
    where = f"{path}: [{GATE_TABLE}]"
    if not isinstance(table, dict):
        raise BudgetError(f"{where}: must be a table of tolerances")
    shared = {key: value for key, value in table.items() if not isinstance(value, dict)}
    chosen = _tolerances(where, shared)
    for name, overrides in table.items():
        if isinstance(overrides, dict):
            tolerances = _tolerances(f"{path}: [{GATE_TABLE}.{name}]", {**shared, **overrides}, overrides)
            if name == profile:
                chosen = tolerances
    return chosen


def _tolerances(where: str, table: dict, keys: dict | None = None) -> GateTolerances:
    known = [f.name for f in fields(GateTolerances)]
    for key in table if keys is None else keys:
        if key not in known:
            raise BudgetError(f"{where}: unknown key {key!r}{hint(key, known)}; known keys: {known} "
                              "(or a sub-table named after a profile)")
    try:
        return GateTolerances(**table)
    except (TypeError, ValueError) as error:
        raise BudgetError(f"{where}: {error}") from None
