"""Measure: a served variant's figures against a reference (the baseline), given its queries, harness and clock.

`evaluate` scores a served predictor on the test split; `measure` times it (plain latency, the
paired speed-up against the reference, throughput) and assembles its `Figures`. Both are pure
given their inputs, the clock and the load monitor: no cache, no files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from compressors.measure.contention import while_measuring
from compressors.measure.figures import Figures
from compressors.measure.harness import (
    HarnessConfig,
    batch_agreement,
    latency_query_set,
    latency_summary,
    measure_latency,
    measure_throughput,
    predict_batched,
    predict_single,
)
from compressors.measure.metrics import IntentMetrics, intent_metrics
from compressors.measure.paired import measure_paired, paired_speedup
from compressors.suite.serve import Served

Monitor = Callable[[Callable[[], list[float]]], tuple[list[float], float]]


@dataclass(frozen=True)
class Quality:
    """Accuracy figures of one variant on the test split, on its timed path.

    Attributes:
        metrics: accuracy, in-scope accuracy, OOS recall on the timed path.
        path: "batch size 1" (int8 variants: the path a server runs and the suite times) or "batched".
        batched_accuracy: accuracy of batched predictions when the path is batch size 1, else NaN.
        agreement: share of queries whose batched prediction equals the batch-size-1 one (the
            whole split for int8 variants, a sample for float ones).
    """

    metrics: IntentMetrics
    path: str
    batched_accuracy: float
    agreement: float


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
class Evaluated:
    """A served variant with its quality: what `measure` needs besides timing."""

    name: str
    served: Served
    quality: Quality


@dataclass(frozen=True)
class Reference:
    """What figures are relative to: the baseline's (or a sweep's dense model's) quality, size and plain p50."""

    evaluated: Evaluated
    p50_ms: float


def evaluate(served: Served, texts: Sequence[str], labels: Sequence[int], oos_id: int | None, harness: HarnessConfig,
             single_path: bool) -> Quality:
    """Test-split metrics on the timed path, and batched vs batch-size-1 agreement.

    Args:
        single_path: score batch-size-1 answers (int8 variants, whose batching may answer otherwise).
    """
    predictor, labels = served.predictor, np.asarray(labels)
    batched = predict_batched(predictor, texts, harness.eval_batch_size)
    if single_path:
        single = predict_single(predictor, texts)
        return Quality(intent_metrics(single, labels, oos_id), "batch size 1", float((batched == labels).mean()),
                       float((batched == single).mean()))
    sample = latency_query_set(texts, harness.agreement_sample)
    agreement = batch_agreement(predictor, sample, harness.eval_batch_size)
    return Quality(intent_metrics(batched, labels, oos_id), "batched", math.nan, agreement)


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
        oos_recall_drop=b.oos_recall - m.oos_recall,
        accuracy_drop_vs_source=source.metrics.accuracy - m.accuracy if source is not None else math.nan,
        throughput_qps=measure_throughput(served.predictor, queries, harness.throughput_batch_size, clock=clock),
        throughput_batch_size=harness.throughput_batch_size,
        threads=harness.threads,
        serving=served.choice.runtime,
        artifact=artifact.digest,
        artifact_key=artifact.key,
        meta=meta,
    )
