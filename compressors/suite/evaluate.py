"""Evaluate: a served variant's quality on the test split, on the path a server runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from compressors.measure.harness import HarnessConfig, batch_agreement, latency_query_set, predict_batched, predict_single
from compressors.measure.metrics import IntentMetrics, intent_metrics
from compressors.suite.serve import Served


@dataclass(frozen=True)
class Quality:
    """Accuracy figures of one variant on the test split, on its timed path.

    Attributes:
        metrics: accuracy, in-scope accuracy, OOS recall on the timed path.
        path: "batch size 1" (int8 variants: the path a server runs and the suite times) or "batched".
        batched_accuracy: accuracy of batched predictions when the path is batch size 1, else NaN.
        agreement: share of queries whose batched prediction equals the batch-size-1 one (the
            whole split for int8 variants, a sample for float ones).
        right: per test query, whether the timed path answered it right (for paired comparisons).
        oos: per test query, whether it is out of scope (all False without an out-of-scope class).
    """

    metrics: IntentMetrics
    path: str
    batched_accuracy: float
    agreement: float
    right: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    oos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class Evaluated:
    """A served variant with its quality: what `measure` needs besides timing."""

    name: str
    served: Served
    quality: Quality


def evaluate(served: Served, texts: Sequence[str], labels: Sequence[int], oos_id: int | None, harness: HarnessConfig,
             single_path: bool) -> Quality:
    """Test-split metrics on the timed path, and batched vs batch-size-1 agreement.

    Args:
        single_path: score batch-size-1 answers (int8 variants, whose batching may answer otherwise).
    """
    predictor, labels = served.predictor, np.asarray(labels)
    oos = labels == oos_id if oos_id is not None else np.zeros(len(labels), dtype=bool)
    batched = predict_batched(predictor, texts, harness.eval_batch_size)
    if single_path:
        single = predict_single(predictor, texts)
        return Quality(intent_metrics(single, labels, oos_id), "batch size 1", float((batched == labels).mean()),
                       float((batched == single).mean()), single == labels, oos)
    sample = latency_query_set(texts, harness.agreement_sample)
    agreement = batch_agreement(predictor, sample, harness.eval_batch_size)
    return Quality(intent_metrics(batched, labels, oos_id), "batched", math.nan, agreement, batched == labels, oos)
