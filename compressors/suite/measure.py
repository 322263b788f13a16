"""Measure: a served variant's figures against a reference (the baseline), given its queries, harness and clock.

`measure` times an evaluated variant (plain latency, the paired speed-up against the reference,
throughput) and assembles its `Figures`; it is pure given its inputs, the clock and the load
monitor: no cache, no files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from compressors.measure.contention import while_measuring
from compressors.measure.figures import Figures
from compressors.measure.harness import HarnessConfig, latency_summary, measure_latency, measure_throughput
from compressors.measure.paired import measure_paired, paired_speedup
from compressors.measure.significance import encode_answers, paired_difference
from compressors.suite.evaluate import Evaluated, Quality

Monitor = Callable[[Callable[[], list[float]]], tuple[list[float], float]]


@dataclass(frozen=True)
class Latency:
    """Plain batch-size-1 latency in milliseconds."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        """The summary of per-call seconds."""
        summary = latency_summary(seconds)
        return cls(**{f.name: summary[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Reference:
    """What figures are relative to: the baseline's (or a sweep's dense model's) quality, size and plain p50."""

    evaluated: Evaluated
    p50_ms: float


def measure(subject: Evaluated, reference: Reference | None, queries: Sequence[str], harness: HarnessConfig,
            latency_seconds: Sequence[float] | None = None, *, source: Quality | None = None,
            clock: Callable[[], float] = time.perf_counter, monitor: Monitor = while_measuring) -> Figures:
    """A variant's figures: quality, size, plain latency, paired speed-up and ratios against `reference`.

    Args:
        reference: what ratios are relative to; None when the subject is the reference itself.
        latency_seconds: plain per-call seconds (pytest-benchmark's); measured here when None.
        source: the quality of the variant's fp32 source (int8 variants), for `accuracy_drop_vs_source`.
        monitor: runs the paired timing and returns it with the share of the CPU others used meanwhile.
    """
    served, quality = subject.served, subject.quality
    if latency_seconds is None:
        latency_seconds = measure_latency(served.predictor, queries, harness.rounds, harness.warmup_rounds, clock)
    latency = Latency.of(latency_seconds)
    if reference is None:
        reference = Reference(subject, latency.p50_ms)
        speedup, ratios, load = paired_speedup([1.0, 1.0]), (), math.nan
    else:
        control = reference.evaluated.served.predictor
        measured, load = monitor(lambda: measure_paired(control, served.predictor, queries, harness.paired, clock))
        ratios = tuple(measured)
        speedup = paired_speedup(ratios, harness.paired.confidence)
    m, b = quality.metrics, reference.evaluated.quality.metrics
    artifact, size = served.artifact, served.artifact.deployed_bytes()
    meta = {k: v for k, v in artifact.meta.items() if isinstance(v, (int, float, str))} | served.choice.meta()
    if served.injected != 1.0:
        meta["test_slowdown"] = served.injected  # the gate never saves a run with this key
    return Figures(
        variant=subject.name,
        accuracy=m.accuracy,
        in_scope_accuracy=m.in_scope_accuracy,
        oos_recall=m.oos_recall,
        accuracy_batched=quality.batched_accuracy,
        accuracy_path=quality.path,
        batch_agreement=quality.agreement,
        size_bytes=size,
        p50_ms=latency.p50_ms,
        p90_ms=latency.p90_ms,
        p99_ms=latency.p99_ms,
        mean_ms=latency.mean_ms,
        std_ms=latency.std_ms,
        speedup=speedup.estimate,
        speedup_low=speedup.low,
        speedup_high=speedup.high,
        p50_ratio=reference.p50_ms / latency.p50_ms,
        paired_ratios=ratios,
        machine_load=load,
        size_ratio=size / reference.evaluated.served.artifact.deployed_bytes(),
        accuracy_drop=b.accuracy - m.accuracy,
        in_scope_accuracy_drop=b.in_scope_accuracy - m.in_scope_accuracy,
        oos_recall_drop=b.oos_recall - m.oos_recall,
        accuracy_drop_vs_source=source.metrics.accuracy - m.accuracy if source is not None else math.nan,
        **paired_drops(quality, reference.evaluated.quality, source),
        right_answers=encode_answers(quality.right.astype(int)) if quality.right.size else "",
        throughput_qps=measure_throughput(served.predictor, queries, harness.throughput_batch_size, clock=clock),
        throughput_batch_size=harness.throughput_batch_size,
        threads=harness.threads,
        serving=served.choice.runtime,
        artifact=artifact.digest,
        artifact_key=artifact.key,
        meta=meta,
    )


def paired_drops(subject: Quality, reference: Quality, source: Quality | None = None) -> dict[str, float]:
    """Each accuracy drop's exact 95% interval and McNemar p-value, paired on the same test queries.

    Empty when either side has no per-query answers (a stand-in in tests); the out-of-scope
    recall's only when the split has out-of-scope queries.
    """
    own, base, oos = subject.right, reference.right, subject.oos
    if not own.size or own.shape != base.shape:
        return {}
    drops = _paired("accuracy_drop", own, base) | _paired("in_scope_accuracy_drop", own[~oos], base[~oos])
    if oos.any():
        drops |= _paired("oos_recall_drop", own[oos], base[oos])
    if source is not None and source.right.shape == own.shape:
        drops |= _paired("accuracy_drop_vs_source", own, source.right)
    return drops


def _paired(figure: str, own_right, other_right) -> dict[str, float]:
    difference = paired_difference(own_right, other_right)  # the other's share right minus this one's: the drop
    return {f"{figure}_low": difference.low, f"{figure}_high": difference.high, f"{figure}_p": difference.p_value}
