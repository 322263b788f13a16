"""The one typed record of what a run measured of a variant, as the suite writes it and history reads it.

`Figures.to_extra_info` gives the keys of pytest-benchmark's `extra_info` in the saved JSON;
`Figures.from_extra_info` reads them back (NaN for a figure a run did not record). The suite,
the gate and the report all go through this record, and `figures_table` is the book's
`perf_metrics` table for any list of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

# The variant every ratio divides by: speed-ups, size ratios and accuracy drops are relative to it.
BASELINE = "baseline"
NAN = float("nan")
META_PREFIX = "meta_"


@dataclass(frozen=True)
class CheckRecord:
    """One budget's verdict as a run stores it: the budget key, the figure, its limit, the value and the status;
    for an accuracy drop also its paired 95% interval (`low`, `high`) and McNemar `p_value` (NaN otherwise)."""

    key: str
    figure: str
    limit: float
    value: float
    status: str
    low: float = NAN
    high: float = NAN
    p_value: float = NAN

    def to_json(self) -> dict[str, Any]:
        record = {"key": self.key, "figure": self.figure, "limit": self.limit, "value": self.value, "status": self.status}
        return record | {k: v for k, v in (("low", self.low), ("high", self.high), ("p_value", self.p_value)) if math.isfinite(v)}

    @classmethod
    def from_json(cls, raw: object) -> CheckRecord | None:
        """A stored record, or None when it is not one (an older or hand-edited run)."""
        if not isinstance(raw, dict) or not {"key", "figure", "limit", "value", "status"} <= set(raw):
            return None
        paired = (_number(raw.get(k, NAN)) for k in ("low", "high", "p_value"))
        return cls(str(raw["key"]), str(raw["figure"]), _number(raw["limit"]), _number(raw["value"]), str(raw["status"]), *paired)


@dataclass(frozen=True)
class Figures:
    """Everything measured of one variant in one run.

    Attributes:
        accuracy, in_scope_accuracy, oos_recall: on the test split, on the timed path (batch
            size 1 for int8 variants, batched for float ones; see `accuracy_path`).
        accuracy_batched: accuracy of batched predictions (NaN when it is `accuracy`).
        batch_agreement: share of queries whose batched prediction equals the batch-size-1 one.
        p50_ms ... std_ms: plain batch-size-1 latency of this variant alone (pytest-benchmark).
        speedup, speedup_low, speedup_high: the paired speed-up against the baseline, measured
            in the same test in alternating warm blocks, and its 95% confidence interval.
        p50_ratio: the baseline's plain p50 over this variant's (measured minutes apart).
        paired_ratios: per block pair, this variant's time over the baseline's (the gate's evidence).
        machine_load: share of the machine's CPU time that other processes used while the paired
            speed-up was measured (NaN: unknown); wall-clock verdicts of a busy run are inconclusive.
        instructions_per_query: instructions one batch-size-1 query costs (tokenization included,
            one thread) under valgrind's callgrind: the same on any host of one instruction set
            and under any load. cost_ratio: the baseline's over this variant's. cost_isa: the CPU
            capability the libraries chose under valgrind (e.g. "AVX2"). ll_misses_per_query: the
            last-level cache misses callgrind simulated per query (memory traffic instructions hide).
        accuracy_drop, in_scope_accuracy_drop, oos_recall_drop: the baseline's figure minus this
            variant's, each paired on the same queries: `<drop>_low`, `<drop>_high` its exact 95%
            interval and `<drop>_p` McNemar's exact p-value (`measure.significance.paired_difference`).
        accuracy_drop_vs_source: the fp32 source's accuracy minus this variant's (int8 variants),
            with its interval and p-value likewise.
        right_answers: which test queries it answered right, in the split's order
            (`measure.significance.encode_answers` of 0/1), so a later run can be compared query by query.
        serving: how it was served, e.g. "torch sdpa" or "onnxruntime".
        checks: every budget's verdict (key, figure, limit, value, status), for the gate to re-judge.
        violations: broken budgets; shortfalls: known shortfalls within their stated margin (as text).
        meta: facts the build recorded (best hyper-parameters, fusion counts, ...).
    """

    variant: str
    accuracy: float = NAN
    in_scope_accuracy: float = NAN
    oos_recall: float = NAN
    accuracy_batched: float = NAN
    accuracy_path: str = "batched"
    batch_agreement: float = NAN
    size_bytes: float = NAN
    p50_ms: float = NAN
    p90_ms: float = NAN
    p99_ms: float = NAN
    mean_ms: float = NAN
    std_ms: float = NAN
    speedup: float = NAN
    speedup_low: float = NAN
    speedup_high: float = NAN
    p50_ratio: float = NAN
    paired_ratios: tuple[float, ...] = ()
    machine_load: float = NAN
    instructions_per_query: float = NAN
    cost_ratio: float = NAN
    cost_isa: str = ""
    ll_misses_per_query: float = NAN
    size_ratio: float = NAN
    accuracy_drop: float = NAN
    accuracy_drop_low: float = NAN
    accuracy_drop_high: float = NAN
    accuracy_drop_p: float = NAN
    in_scope_accuracy_drop: float = NAN
    in_scope_accuracy_drop_low: float = NAN
    in_scope_accuracy_drop_high: float = NAN
    in_scope_accuracy_drop_p: float = NAN
    oos_recall_drop: float = NAN
    oos_recall_drop_low: float = NAN
    oos_recall_drop_high: float = NAN
    oos_recall_drop_p: float = NAN
    accuracy_drop_vs_source: float = NAN
    accuracy_drop_vs_source_low: float = NAN
    accuracy_drop_vs_source_high: float = NAN
    accuracy_drop_vs_source_p: float = NAN
    right_answers: str = ""
    throughput_qps: float = NAN
    throughput_batch_size: int = 0
    threads: int = 0
    serving: str = ""
    artifact: str = ""
    artifact_key: str = ""
    checks: tuple[CheckRecord, ...] = ()
    violations: tuple[str, ...] = ()
    shortfalls: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    def to_extra_info(self) -> dict[str, Any]:
        """The flat keys of the saved JSON; tuples become lists, meta keys get `meta_`."""
        info: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("variant", "meta"):
                continue
            value = getattr(self, f.name)
            if f.name == "checks":
                value = tuple(check.to_json() for check in value)
            info[f.name] = list(value) if isinstance(value, tuple) else value
        info["size_mb"] = self.size_mb
        info.update({f"{META_PREFIX}{k}": v for k, v in self.meta.items()})
        return info

    @classmethod
    def from_extra_info(cls, variant: str, info: dict[str, Any]) -> Figures:
        """Read a saved record back; absent or malformed numbers are NaN, absent lists empty."""
        values: dict[str, Any] = {"variant": variant}
        for f in fields(cls):
            if f.name in ("variant", "meta") or f.name not in info:
                continue
            raw, default = info[f.name], f.default
            if isinstance(default, float):
                values[f.name] = _number(raw)
            elif isinstance(default, int):
                values[f.name] = int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 0
            elif f.name in ("violations", "shortfalls"):
                values[f.name] = tuple(str(v) for v in raw or ())
            elif f.name == "checks":
                records = (CheckRecord.from_json(item) for item in (raw if isinstance(raw, list) else ()))
                values[f.name] = tuple(record for record in records if record is not None)
            elif f.name == "paired_ratios":
                values[f.name] = tuple(_number(v) for v in raw or ())
            else:
                values[f.name] = str(raw)
        if "size_bytes" not in info and "size_mb" in info:
            values["size_bytes"] = _number(info["size_mb"]) * 1e6
        values["meta"] = {k[len(META_PREFIX):]: v for k, v in info.items() if k.startswith(META_PREFIX)}
        return cls(**values)


def _number(value: object) -> float:
    """A stored number as a float; anything else, infinities included, is NaN (missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return NAN
    return float(value)


def format_number(value: object, spec: str = ".4f") -> str:
    """A figure for a table: `n/a` for a missing or NaN value."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "n/a"
    return format(value, spec)


def format_speedup(figures: Figures) -> str:
    """`9.71 [9.52, 9.90]`: the paired speed-up and its 95% interval."""
    if math.isnan(figures.speedup):
        return "n/a"
    return f"{figures.speedup:.2f} [{figures.speedup_low:.2f}, {figures.speedup_high:.2f}]"


def format_drop(figures: Figures) -> str:
    """`1.67 [0.95, 2.40] p=1e-05`: the accuracy drop against the baseline in points, its paired 95% interval and p."""
    if math.isnan(figures.accuracy_drop):
        return "n/a"
    if math.isnan(figures.accuracy_drop_p):
        return f"{100 * figures.accuracy_drop:.2f}"
    return (f"{100 * figures.accuracy_drop:.2f} [{100 * figures.accuracy_drop_low:.2f}, {100 * figures.accuracy_drop_high:.2f}]"
            f" p={figures.accuracy_drop_p:.2g}")


TABLE_COLUMNS = (
    "variant", "accuracy", "drop, points (paired 95% CI)", "in-scope", "OOS recall", "size MB", "p50 ms", "p90 ms", "p99 ms",
    "speedup (paired, 95% CI)", "cost ratio", "p50 ratio", "size ratio", "throughput q/s",
)


def figures_table(rows: Sequence[Figures]) -> str:
    """The book's `perf_metrics` table as Markdown, one row per variant."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for f in rows:
        cells = [
            f.variant, format_number(f.accuracy), format_drop(f), format_number(f.in_scope_accuracy), format_number(f.oos_recall),
            format_number(f.size_mb, ".1f"), format_number(f.p50_ms, ".2f"), format_number(f.p90_ms, ".2f"),
            format_number(f.p99_ms, ".2f"), format_speedup(f), format_number(f.cost_ratio, ".2f"), format_number(f.p50_ratio, ".2f"),
            format_number(f.size_ratio, ".3f"), format_number(f.throughput_qps, ",.0f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
