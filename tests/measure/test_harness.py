"""Harness measurements with a deterministic stand-in predictor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.measure.harness import (
    HarnessConfig,
    batch_agreement,
    evaluate,
    latency_query_set,
    latency_summary,
    measure_latency,
    measure_throughput,
)


class LengthPredictor:
    """Predicts len(text) % 3; batched calls flip the prediction of texts listed in `flaky`."""

    def __init__(self, flaky=()):
        self.flaky = set(flaky)
        self.calls = 0

    def logits(self, texts):
        out = np.zeros((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            label = len(text) % 3
            out[i, (label + 1) % 3 if text in self.flaky else label] = 1
        return out

    def __call__(self, text):
        self.calls += 1
        return len(text) % 3


TEXTS = [f"query {'x' * i}" for i in range(30)]


def test_evaluate_uses_batched_predictions_in_input_order() -> None:
    labels = [len(t) % 3 for t in TEXTS]
    labels[0] = (labels[0] + 1) % 3
    m = evaluate(LengthPredictor(), TEXTS, labels, oos_id=None, batch_size=4)
    assert m.accuracy == pytest.approx(29 / 30)


def test_batch_agreement_detects_batching_changes() -> None:
    assert batch_agreement(LengthPredictor(), TEXTS, 8) == 1.0
    assert batch_agreement(LengthPredictor(flaky=TEXTS[:3]), TEXTS, 8) == pytest.approx(27 / 30)


def test_latency_query_set_is_fixed_and_spread() -> None:
    texts = [str(i) for i in range(1000)]
    queries = latency_query_set(texts, 10)
    assert queries == [str(i) for i in range(0, 1000, 100)]
    assert latency_query_set(texts[:5], 10) == texts[:5]


class FakeClock:
    """A clock that advances by the next of `ticks` each time it is read."""

    def __init__(self, ticks):
        self.ticks = iter(ticks)
        self.now = 0.0

    def __call__(self):
        self.now += next(self.ticks)
        return self.now


def test_latency_summary_of_known_samples() -> None:
    # numpy's default (linear) percentiles of 1..10 ms: p50 between 5 and 6, p90 = 9 + 0.1, p99 = 9 + 0.91
    summary = latency_summary([i / 1e3 for i in range(10, 0, -1)])  # order must not matter
    assert summary == pytest.approx({"p50_ms": 5.5, "p90_ms": 9.1, "p99_ms": 9.91, "mean_ms": 5.5, "std_ms": 3.0276503540974917})
    assert latency_summary([0.002]) == {"p50_ms": 2.0, "p90_ms": 2.0, "p99_ms": 2.0, "mean_ms": 2.0, "std_ms": 0.0}


@given(st.lists(st.floats(1e-5, 1.0), min_size=2, max_size=200))
def test_latency_percentiles_are_ordered_and_in_milliseconds(samples) -> None:
    summary = latency_summary(samples)
    assert min(samples) * 1e3 <= summary["p50_ms"] <= summary["p90_ms"] <= summary["p99_ms"] <= max(samples) * 1e3 * (1 + 1e-9)
    assert summary["mean_ms"] == pytest.approx(np.mean(samples) * 1e3)


def test_measure_latency_times_each_round_after_warmup() -> None:
    predictor = LengthPredictor()
    # each round reads the clock twice, around the call: 1 s pauses between rounds, i ms calls
    clock = FakeClock(t for i in range(1, 11) for t in (1.0, i / 1e3))
    samples = measure_latency(predictor, TEXTS[:4], rounds=10, warmup_rounds=3, clock=clock)
    assert samples == pytest.approx([i / 1e3 for i in range(1, 11)], abs=1e-9)
    assert predictor.calls == 13


def test_throughput_counts_queries_per_second() -> None:
    # 30 texts in batches of 8: three full batches (24 queries) a pass; each pass takes 0.5 s
    clock = FakeClock([0.0, 0.5, 0.5, 0.5])
    assert measure_throughput(LengthPredictor(), TEXTS, batch_size=8, min_seconds=1.2, clock=clock) == pytest.approx(72 / 1.5)


@pytest.mark.parametrize("field", ["threads", "rounds", "latency_queries", "throughput_batch_size"])
def test_harness_config_rejects_non_positive_counts(field) -> None:
    with pytest.raises(ValueError, match=f"HarnessConfig.{field} must be >= 1"):
        HarnessConfig(**{field: 0})
