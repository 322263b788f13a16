"""Performance budgets: one human-edited TOML file, checked against each variant's measurements.

Layout: one table per profile and variant, e.g. `[full.distilled]`, holding any of the keys in
`BUDGET_KEYS`. Relative budgets compare with the baseline (or the variant's fp32 source)
measured in the same run. One more top-level table, `[gate]`, holds the tolerances of
`compressors gate` (run vs previous passing run; see `compressors.regression.GateTolerances`).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from compressors.regression import GateTolerances

GATE_TABLE = "gate"
# key -> (figure it limits, "min" or "max", what it means)
BUDGET_KEYS: dict[str, tuple[str, str, str]] = {
    "min_accuracy": ("accuracy", "min", "test accuracy at least this"),
    "min_in_scope_accuracy": ("in_scope_accuracy", "min", "in-scope accuracy at least this"),
    "min_oos_recall": ("oos_recall", "min", "out-of-scope recall at least this"),
    "max_accuracy_drop": ("accuracy_drop", "max", "baseline accuracy minus this variant's, at most this"),
    "max_drop_vs_source": ("accuracy_drop_vs_source", "max", "fp32 source accuracy minus this variant's"),
    "max_size_mb": ("size_mb", "max", "deployed size in MB (1e6 bytes) at most this"),
    "max_size_ratio": ("size_ratio", "max", "size / baseline size at most this"),
    "min_speedup": ("speedup", "min", "baseline p50 / this variant's p50 at least this"),
    "max_p50_ms": ("p50_ms", "max", "median batch-size-1 latency in ms (machine-specific)"),
    "min_batch_agreement": ("batch_agreement", "min", "batched vs batch-size-1 predictions agree on this fraction"),
}


class BudgetError(ValueError):
    """A budgets file that cannot be used as it is."""


class BudgetBroken(AssertionError):
    """A variant broke one of its budgets (the only failure a known shortfall may excuse)."""


@dataclass(frozen=True)
class Budget:
    """The limits of one variant in one profile; None means no limit."""

    min_accuracy: float | None = None
    min_in_scope_accuracy: float | None = None
    min_oos_recall: float | None = None
    max_accuracy_drop: float | None = None
    max_drop_vs_source: float | None = None
    max_size_mb: float | None = None
    max_size_ratio: float | None = None
    min_speedup: float | None = None
    max_p50_ms: float | None = None
    min_batch_agreement: float | None = None


@dataclass(frozen=True)
class Violation:
    """One broken budget."""

    variant: str
    key: str
    figure: str
    measured: float
    limit: float

    def __str__(self) -> str:
        relation = ">=" if BUDGET_KEYS[self.key][1] == "min" else "<="
        return (
            f"variant {self.variant!r}: {self.figure} = {self.measured:.4g} breaks budget "
            f"{self.key} (needs {self.figure} {relation} {self.limit:g})"
        )


def load_budgets(path: Path, variants: Iterable[str], profiles: Iterable[str]) -> dict[str, dict[str, Budget]]:
    """Parse and validate a budgets file: profile -> variant -> Budget.

    Raises:
        BudgetError: naming the file, the key and the reason, for unknown profiles, variants or
            keys, non-numbers, negative numbers, and accuracies outside [0, 1].
    """
    path = Path(path)
    raw = _read_budgets_file(path)
    variants, profiles = list(variants), list(profiles)
    result: dict[str, dict[str, Budget]] = {p: {} for p in profiles}
    for profile, table in raw.items():
        if profile == GATE_TABLE:
            _gate_tolerances(path, table)
            continue
        if profile not in profiles:
            raise BudgetError(f"{path}: [{profile}] is not a profile; expected one of {profiles}{_hint(profile, profiles)}")
        if not isinstance(table, dict):
            raise BudgetError(f"{path}: {profile} must be a table of variants")
        for variant, limits in table.items():
            where = f"{path}: [{profile}.{variant}]"
            if variant not in variants:
                raise BudgetError(f"{where}: unknown variant {variant!r}{_hint(variant, variants)}")
            if not isinstance(limits, dict):
                raise BudgetError(f"{where}: must be a table of limits")
            result[profile][variant] = Budget(**{k: _limit(where, k, v) for k, v in limits.items()})
    return result


def load_gate_tolerances(path: Path) -> GateTolerances:
    """The `[gate]` table of a budgets file; the defaults of `GateTolerances` where it is absent.

    Raises:
        BudgetError: naming the file, the key and the reason.
    """
    path = Path(path)
    raw = _read_budgets_file(path)
    return _gate_tolerances(path, raw.get(GATE_TABLE, {}))


def _gate_tolerances(path: Path, table: object) -> GateTolerances:
    where = f"{path}: [{GATE_TABLE}]"
    if not isinstance(table, dict):
        raise BudgetError(f"{where}: must be a table of tolerances")
    known = [f.name for f in fields(GateTolerances)]
    for key in table:
        if key not in known:
            raise BudgetError(f"{where}: unknown key {key!r}{_hint(key, known)}; known keys: {known}")
    try:
        return GateTolerances(**table)
    except ValueError as error:
        raise BudgetError(f"{where}: {error}") from None


def _read_budgets_file(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BudgetError(f"budgets file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise BudgetError(f"{path}: not valid TOML ({error})") from None


def _limit(where: str, key: str, value: object) -> float:
    if key not in BUDGET_KEYS:
        raise BudgetError(f"{where}: unknown key {key!r}{_hint(key, list(BUDGET_KEYS))}; known keys: {sorted(BUDGET_KEYS)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BudgetError(f"{where}: {key} must be a number, got {value!r}")
    if value < 0:
        raise BudgetError(f"{where}: {key} must not be negative, got {value}")
    if BUDGET_KEYS[key][0] in ("accuracy", "in_scope_accuracy", "oos_recall", "batch_agreement") and value > 1:
        raise BudgetError(f"{where}: {key} is a fraction in [0, 1], got {value}")
    return float(value)


def _hint(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_budget(variant: str, budget: Budget, figures: dict[str, float]) -> list[Violation]:
    """The budgets `figures` break. A figure that is absent or NaN is not checked."""
    violations = []
    for key, (figure, direction, _) in BUDGET_KEYS.items():
        limit = getattr(budget, key)
        value = figures.get(figure)
        if limit is None or value is None or math.isnan(value):
            continue
        broken = value < limit if direction == "min" else value > limit
        if broken:
            violations.append(Violation(variant, key, figure, float(value), limit))
    return violations
