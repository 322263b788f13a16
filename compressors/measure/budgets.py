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
enforced. Every other budget of the variant is judged as usual. A variant that is the same
model as another (the same answers, e.g. a search that found the same recipe) says
`same_as = "<variant>"` and shares that variant's whole budget: one model, one verdict.

One more top-level table, `[gate]`, holds the tolerances of `compressors gate` (a run against
earlier runs); `compressors.history.tolerances` reads it.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from compressors.measure.figures import CheckRecord, Figures
from compressors.names import did_you_mean

GATE_TABLE = "gate"
SHORTFALL_TABLE = "shortfall"
# `same_as = "distilled"`: a variant that is the same model as another shares its whole budget.
SAME_AS = "same_as"
# The budgets the package ships: the reference case's (CLINC150) floors, budgets and gate tolerances.
DEFAULT_BUDGETS = Path(str(resources.files("compressors") / "budgets.toml"))


class Direction(str, Enum):
    """Which way a limit points: the figure must be at least (MIN) or at most (MAX) the limit."""

    MIN = "min"
    MAX = "max"

    @property
    def relation(self) -> str:
        return ">=" if self is Direction.MIN else "<="


@dataclass(frozen=True)
class Limit:
    """One kind of budget: its TOML key, the `Figures` attribute it limits, and what it means.

    Attributes:
        relative: compares with the baseline or the source measured in the same run.
        data_specific: a relative figure that still depends on the data (speed ratios: int8 gains
            shrink on longer queries), so a user's data gets it from its own first run
            (`compressors budgets --from`), not from the packaged budgets.
        fraction: the figure is a share in [0, 1].
        out_of_scope: meaningless on data without an out-of-scope class.
        wall_clock: a timing on this machine; judged only when the machine was quiet while it was timed.
    """

    key: str
    figure: str
    direction: Direction
    description: str
    relative: bool = False
    fraction: bool = False
    out_of_scope: bool = False
    wall_clock: bool = False
    data_specific: bool = False


_MIN, _MAX = Direction.MIN, Direction.MAX
# The one table of budget kinds: the TOML keys, the checks, the errors and the README's key list come from it.
LIMITS: tuple[Limit, ...] = (
    Limit("min_accuracy", "accuracy", _MIN, "test accuracy at least this", fraction=True),
    Limit("min_in_scope_accuracy", "in_scope_accuracy", _MIN, "in-scope accuracy at least this", fraction=True),
    Limit("min_oos_recall", "oos_recall", _MIN, "out-of-scope recall at least this", fraction=True, out_of_scope=True),
    Limit("max_accuracy_drop", "accuracy_drop", _MAX, "baseline accuracy minus this variant's, at most this", relative=True),
    Limit("max_oos_recall_drop", "oos_recall_drop", _MAX, "baseline out-of-scope recall minus this variant's, at most this",
          relative=True, out_of_scope=True),
    Limit("max_drop_vs_source", "accuracy_drop_vs_source", _MAX, "fp32 source accuracy minus this variant's, at most this",
          relative=True),
    Limit("max_size_mb", "size_mb", _MAX, "deployed size in MB (1e6 bytes) at most this"),
    Limit("max_size_ratio", "size_ratio", _MAX, "size / baseline size at most this", relative=True),
    Limit("min_cost_ratio", "cost_ratio", _MIN,
          "baseline instructions per query / this variant's (under valgrind; the same on any host) at least this",
          relative=True, data_specific=True),
    Limit("max_instructions_per_query", "instructions_per_query", _MAX, "instructions per query under valgrind at most this"),
    Limit("min_speedup", "speedup", _MIN, "paired wall-clock speed-up against the baseline at least this (this host, quiet)",
          relative=True, wall_clock=True, data_specific=True),
    Limit("max_p50_ms", "p50_ms", _MAX, "median batch-size-1 latency in ms at most this (this host, quiet)", wall_clock=True),
    Limit("min_batch_agreement", "batch_agreement", _MIN, "batched vs batch-size-1 predictions agree on at least this share",
          fraction=True),
)
LIMITS_BY_KEY: dict[str, Limit] = {limit.key: limit for limit in LIMITS}
BUDGET_KEYS: tuple[str, ...] = tuple(LIMITS_BY_KEY)
# Budgets that hold on any data set: relative to the baseline measured in the same run.
RELATIVE_KEYS: tuple[str, ...] = tuple(limit.key for limit in LIMITS if limit.relative and not limit.data_specific)
OUT_OF_SCOPE_KEYS: tuple[str, ...] = tuple(limit.key for limit in LIMITS if limit.out_of_scope)
# Wall-clock budgets are judged only when others used at most this share of the CPU time while timing.
DEFAULT_MAX_MACHINE_LOAD = 0.25


def budget_keys_markdown() -> str:
    """The budget keys as a Markdown list (the README's list is checked against it)."""
    return "\n".join(f"- `{limit.key}`: {limit.description}" for limit in LIMITS)


class Status(str, Enum):
    """A budget's verdict.

    OK: the limit holds. BROKEN: missed, or the figure is NaN. SHORT: a known shortfall within its
    margin. WORSE: a shortfall beyond its margin (a regression). MET: a shortfall that now meets its
    target (remove it). INCONCLUSIVE: a wall-clock figure timed on a busy machine, neither pass nor fail.
    """

    OK = "ok"
    BROKEN = "broken"
    SHORT = "short"
    WORSE = "worse"
    MET = "met"
    INCONCLUSIVE = "inconclusive"

    @property
    def failed(self) -> bool:
        return self in (Status.BROKEN, Status.WORSE, Status.MET)


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


@dataclass(frozen=True, init=False)
class Budget:
    """The limits of one variant in one profile: `Budget(max_accuracy_drop=0.005, ...)`; an unset key has no limit."""

    values: Mapping[str, float]
    shortfalls: Mapping[str, Shortfall]

    def __init__(self, shortfalls: Mapping[str, Shortfall] | None = None, **limits: float | None) -> None:
        for key in limits:
            if key not in LIMITS_BY_KEY:
                raise ValueError(f"unknown budget key {key!r}{did_you_mean(key, list(BUDGET_KEYS))}; known keys: {list(BUDGET_KEYS)}")
        ordered = {key: float(limits[key]) for key in BUDGET_KEYS if limits.get(key) is not None}
        object.__setattr__(self, "values", MappingProxyType(ordered))
        object.__setattr__(self, "shortfalls", MappingProxyType(dict(shortfalls or {})))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Budget) and (dict(self.values), dict(self.shortfalls)) == (dict(other.values), dict(other.shortfalls))

    def __hash__(self) -> int:
        return hash((tuple(self.values.items()), tuple(self.shortfalls.items())))

    def __repr__(self) -> str:
        return f"Budget({dict(self.values)}, shortfalls={dict(self.shortfalls)})"

    def limits(self) -> dict[str, float]:
        """The keys that are set, with their limits."""
        return dict(self.values)

    def relative_only(self) -> Budget:
        """The budgets that hold on any data set (no absolute floors, no shortfalls of the reference case)."""
        return Budget(**{key: value for key, value in self.values.items() if key in RELATIVE_KEYS})

    def without(self, keys: Iterable[str]) -> Budget:
        """This budget without the limits (and shortfalls) of `keys`."""
        drop = set(keys)
        return Budget({k: s for k, s in self.shortfalls.items() if k not in drop},
                      **{k: v for k, v in self.values.items() if k not in drop})

    def merged(self, other: Budget) -> Budget:
        """This budget with every limit `other` sets overriding it."""
        return Budget({**self.shortfalls, **other.shortfalls}, **{**self.values, **other.values})


@dataclass(frozen=True)
class Check:
    """One budget judged against one figure; `machine_load` is the busy share behind an INCONCLUSIVE.

    An accuracy drop is judged on its point estimate; `low`, `high` and `p_value` are its paired
    95% interval and McNemar p-value on the same queries (NaN for other figures), reported beside it.
    """

    variant: str
    key: str
    value: float
    limit: float
    status: Status
    shortfall: Shortfall | None = None
    machine_load: float = math.nan
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan

    @property
    def figure(self) -> str:
        return LIMITS_BY_KEY[self.key].figure

    @property
    def relation(self) -> str:
        return LIMITS_BY_KEY[self.key].direction.relation

    @property
    def failed(self) -> bool:
        return self.status.failed

    def record(self) -> CheckRecord:
        """The check as the run stores it (figure, limit, value, status, paired interval), for the gate to re-judge."""
        return CheckRecord(self.key, self.figure, self.limit, self.value, self.status.value, self.low, self.high, self.p_value)

    @property
    def paired(self) -> str:
        """E.g. " (paired 95% CI [0.0052, 0.0171], p=0.0003: significant)", or "" when not a paired figure."""
        if math.isnan(self.p_value):
            return ""
        verdict = "significant" if self.p_value < 0.05 else "not significant"
        return f" (paired 95% CI [{self.low:.4f}, {self.high:.4f}], p={self.p_value:.2g}: {verdict})"

    def __str__(self) -> str:
        return self._text() + self.paired

    def _text(self) -> str:
        head = f"variant {self.variant!r}: {self.figure} = {self.value:.4g}"
        if self.status is Status.INCONCLUSIVE:
            load = "unknown" if math.isnan(self.machine_load) else f"{self.machine_load:.0%}"
            return (f"{head}: budget {self.key} ({self.relation} {self.limit:g}) inconclusive: machine busy "
                    f"(others used {load} of the CPU time while it was timed)")
        if self.status is Status.BROKEN and math.isnan(self.value):
            return f"variant {self.variant!r}: {self.figure} is NaN (not measured), so budget {self.key} ({self.relation} {self.limit:g}) cannot hold"
        if self.status is Status.BROKEN:
            return f"{head} breaks budget {self.key} (needs {self.figure} {self.relation} {self.limit:g})"
        s = self.shortfall or Shortfall(math.nan, math.nan)
        known = f"target {self.relation} {self.limit:g}, reached {s.reached:g} (margin {s.margin:g})"
        if self.status is Status.SHORT:
            return f"{self.variant}: {self.figure} {known}, now {self.value:.4g}" + (f": {s.why}" if s.why else "")
        if self.status is Status.WORSE:
            return f"{head} is worse than its known shortfall ({known}): a regression"
        if self.status is Status.MET:
            return f"{head} meets budget {self.key} ({self.relation} {self.limit:g}) declared short: remove the shortfall"
        return f"{head}: ok"


def judge(variant: str, budget: Budget, figures: Figures, max_machine_load: float = DEFAULT_MAX_MACHINE_LOAD) -> list[Check]:
    """Every budget of `budget` against the variant's figures; a NaN figure breaks its budget.

    A wall-clock budget of a variant timed while other processes used more than `max_machine_load`
    of the CPU time (or an unknown share) is INCONCLUSIVE; the baseline's own timing has no load
    record and is judged as it is.
    """
    checks = []
    busy = not figures.machine_load <= max_machine_load  # NaN: unknown, so not quiet
    for key, limit in budget.limits().items():
        kind = LIMITS_BY_KEY[key]
        value = float(getattr(figures, kind.figure))
        shortfall = budget.shortfalls.get(key)
        if kind.wall_clock and busy and figures.paired_ratios:
            checks.append(Check(variant, key, value, limit, Status.INCONCLUSIVE, shortfall, figures.machine_load))
            continue
        low, high, p_value = (float(getattr(figures, f"{kind.figure}_{part}", math.nan)) for part in ("low", "high", "p"))
        checks.append(Check(variant, key, value, limit, status_of(value, limit, kind.direction, shortfall), shortfall,
                            low=low, high=high, p_value=p_value))
    return checks


def status_of(value: float, limit: float, direction: Direction, shortfall: Shortfall | None) -> Status:
    """The verdict of one figure against one limit (and its declared shortfall, if any)."""
    if not math.isfinite(value):
        return Status.BROKEN
    sign = 1.0 if direction is Direction.MIN else -1.0  # sign * value grows with "better"
    meets = sign * (value - limit) >= 0
    if shortfall is None:
        return Status.OK if meets else Status.BROKEN
    if meets:
        return Status.MET
    return Status.SHORT if sign * (value - shortfall.reached) >= -shortfall.margin - 1e-12 else Status.WORSE


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
        if profile == GATE_TABLE:  # the gate's tolerances: compressors.history.tolerances reads them
            continue
        if profile not in profiles:
            raise BudgetError(f"{path}: [{profile}] is not a profile; expected one of {profiles}{did_you_mean(profile, profiles)}")
        if not isinstance(table, dict):
            raise BudgetError(f"{path}: {profile} must be a table of variants")
        shared: dict[str, str] = {}
        for variant, limits in table.items():
            where = f"{path}: [{profile}.{variant}]"
            if variant not in variants:
                raise BudgetError(f"{where}: unknown variant {variant!r}{did_you_mean(variant, variants)}")
            if isinstance(limits, dict) and SAME_AS in limits:
                shared[variant] = _same_as(where, limits, table)
                continue
            result[profile][variant] = parse_budget(where, limits)
        for variant, model in shared.items():
            result[profile][variant] = result[profile][model]
    return result


def _same_as(where: str, limits: dict, table: dict) -> str:
    """The variant whose budget a `same_as` table shares (the same model: one model, one verdict)."""
    model = limits[SAME_AS]
    if set(limits) != {SAME_AS}:
        raise BudgetError(f"{where}: {SAME_AS} shares another variant's whole budget; remove the other keys {sorted(set(limits) - {SAME_AS})}")
    if not isinstance(model, str) or model not in table:
        raise BudgetError(f"{where}: {SAME_AS} = {model!r} names no variant with a budget in this profile{did_you_mean(str(model), list(table))}")
    if isinstance(table[model], dict) and SAME_AS in table[model]:
        raise BudgetError(f"{where}: {SAME_AS} = {model!r}, which itself shares a budget; name the variant that holds it")
    return model


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
        if status_of(reached, limits[key], LIMITS_BY_KEY[key].direction, None) is Status.OK:
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
    if key not in LIMITS_BY_KEY:
        raise BudgetError(f"{where}: unknown key {key!r}{did_you_mean(key, list(BUDGET_KEYS))}; known keys: {sorted(BUDGET_KEYS)}")
    number = _number(where, key, value)
    if number < 0:
        raise BudgetError(f"{where}: {key} must not be negative, got {value}")
    if LIMITS_BY_KEY[key].fraction and number > 1:
        raise BudgetError(f"{where}: {key} is a fraction in [0, 1], got {value}")
    return number


