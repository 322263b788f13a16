"""The measurements every variant goes through: accuracy, size, latency, throughput.

The book's `PerformanceBenchmark`, with batched evaluation, a fixed set of real queries for
latency, percentiles, and a check that batching does not change predictions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from compressors.measure.metrics import IntentMetrics, intent_metrics
from compressors.measure.paired import PairedConfig
from compressors.formats.predictors import Predictor


@dataclass(frozen=True)
class HarnessConfig:
    """How variants are measured.

    Attributes:
        threads: intra-op threads of torch and ONNX Runtime during measurement.
        latency_queries: size of the fixed query set used for batch-size-1 latency.
        warmup_rounds: untimed calls before timing.
        rounds: timed batch-size-1 calls (cycling over the query set).
        throughput_batch_size: batch size of the throughput measurement.
        eval_batch_size: batch size of the accuracy evaluation.
        agreement_sample: queries compared between batched and batch-size-1 predictions of a
            float variant (an int8 variant is compared on the whole test split, and its accuracy
            is that of batch size 1, the timed path).
        paired: how the paired speed-up against the baseline is measured.
        attention_pairs: block pairs timing sdpa against eager attention, to serve each torch
            variant with the faster one.
        ort_spinning: let ONNX Runtime's idle worker threads spin (matters with threads > 1).
        max_length: tokens per query at most (longer queries are truncated).
        cost_queries: queries (the first of the latency set) whose instructions are counted
            under valgrind for the cost figure (`--cost`); the count is deterministic, so a few suffice.
        cost_cache_sim: also simulate the caches for the last-level misses per query (slower).
    """

    threads: int = 1
    latency_queries: int = 200
    warmup_rounds: int = 20
    rounds: int = 400
    throughput_batch_size: int = 32
    eval_batch_size: int = 64
    agreement_sample: int = 200
    paired: PairedConfig = field(default_factory=PairedConfig)
    attention_pairs: int = 8
    ort_spinning: bool = True
    max_length: int = 64
    cost_queries: int = 20
    cost_cache_sim: bool = True

    def __post_init__(self) -> None:
        for name in ("threads", "latency_queries", "rounds", "throughput_batch_size", "eval_batch_size", "agreement_sample",
                     "attention_pairs", "max_length", "cost_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"HarnessConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_rounds < 0:
            raise ValueError(f"HarnessConfig.warmup_rounds must be >= 0, got {self.warmup_rounds}")


def predict_batched(predictor: Predictor, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Predicted label ids for many texts, in batches of similar length."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    predictions = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        predictions[rows] = predictor.logits([texts[i] for i in rows]).argmax(-1)
    return predictions


def predict_single(predictor: Predictor, texts: Sequence[str]) -> np.ndarray:
    """Predicted label ids one query at a time: the path a server runs and the suite times."""
    return np.array([predictor(text) for text in texts], dtype=np.int64)


def evaluate(
    predictor: Predictor, texts: Sequence[str], labels: Sequence[int], oos_id: int | None, batch_size: int
) -> IntentMetrics:
    """Accuracy, in-scope accuracy and out-of-scope recall on labelled texts (batched predictions)."""
    return intent_metrics(predict_batched(predictor, texts, batch_size), np.asarray(labels), oos_id)


def batch_agreement(predictor: Predictor, texts: Sequence[str], batch_size: int) -> float:
    """Fraction of texts whose batched prediction equals their batch-size-1 prediction."""
    batched = predict_batched(predictor, texts, batch_size)
    return float((batched == predict_single(predictor, texts)).mean())


def latency_query_set(texts: Sequence[str], count: int) -> list[str]:
    """A fixed, evenly spaced sample of real queries (the same for every variant and run)."""
    if not texts:
        raise ValueError("no texts to draw latency queries from")
    step = max(1, len(texts) // count)
    return list(texts[::step][:count])


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/std of per-call latencies, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if ms.size == 0:
        raise ValueError("no latency samples")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
        "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
    }


def measure_latency(
    predictor: Predictor, queries: Sequence[str], rounds: int, warmup_rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Per-call seconds of batch-size-1 calls cycling over `queries`, after warm-up."""
    for i in range(warmup_rounds):
        predictor(queries[i % len(queries)])
    samples = []
    for i in range(rounds):
        query = queries[i % len(queries)]
        start = clock()
        predictor(query)
        samples.append(clock() - start)
    return samples


def measure_throughput(
    predictor: Predictor, queries: Sequence[str], batch_size: int, min_seconds: float = 1.0,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Queries per second when calling with batches of `batch_size` real queries."""
    batches = [list(queries[i : i + batch_size]) for i in range(0, len(queries), batch_size)]
    batches = [b for b in batches if len(b) == batch_size] or [list(queries[:batch_size])]
    predictor.logits(batches[0])  # warm-up
    done, start = 0, clock()
    while True:
        for batch in batches:
            predictor.logits(batch)
            done += len(batch)
        elapsed = clock() - start
        if elapsed >= min_seconds:
            return done / elapsed

