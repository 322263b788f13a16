"""Classification metrics of the CLINC150 paper: accuracy, in-scope accuracy, out-of-scope recall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntentMetrics:
    """Accuracy over all queries, over in-scope queries, and recall of the out-of-scope class.

    `in_scope_accuracy` equals `accuracy` and `oos_recall` is NaN when there is no
    out-of-scope class (or no out-of-scope query).
    """

    accuracy: float
    in_scope_accuracy: float
    oos_recall: float


def intent_metrics(predictions: np.ndarray, labels: np.ndarray, oos_id: int | None) -> IntentMetrics:
    """Compute the three metrics from predicted and true label ids.

    Args:
        predictions: predicted class ids, shape (n,).
        labels: true class ids, shape (n,).
        oos_id: the out-of-scope class id, or None when the label set has none.
    """
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} must be equal 1-d shapes")
    if labels.size == 0:
        raise ValueError("no labels: metrics need at least one query")
    correct = predictions == labels
    accuracy = float(correct.mean())
    if oos_id is None:
        return IntentMetrics(accuracy, accuracy, float("nan"))
    oos = labels == oos_id
    in_scope = float(correct[~oos].mean()) if (~oos).any() else float("nan")
    recall = float(correct[oos].mean()) if oos.any() else float("nan")
    return IntentMetrics(accuracy, in_scope, recall)
