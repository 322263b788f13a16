"""Accuracy, in-scope accuracy and out-of-scope recall: known values and bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.measure.metrics import intent_metrics

OOS = 2


def test_known_values() -> None:
    labels = np.array([0, 1, OOS, OOS, 1])
    predictions = np.array([0, 0, OOS, 1, 1])
    m = intent_metrics(predictions, labels, OOS)
    assert m.accuracy == pytest.approx(3 / 5)
    assert m.in_scope_accuracy == pytest.approx(2 / 3)
    assert m.oos_recall == pytest.approx(1 / 2)


def test_without_oos_class_in_scope_equals_accuracy() -> None:
    m = intent_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), None)
    assert m.in_scope_accuracy == m.accuracy == pytest.approx(2 / 3)
    assert math.isnan(m.oos_recall)


labelled = st.integers(1, 200).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 4), min_size=n, max_size=n), st.lists(st.integers(0, 4), min_size=n, max_size=n))
)


@given(labelled)
def test_metrics_are_fractions_and_accuracy_is_their_weighted_mean(pair) -> None:
    predictions, labels = map(np.array, pair)
    m = intent_metrics(predictions, labels, OOS)
    oos_count = int((labels == OOS).sum())
    for value in (m.accuracy, m.in_scope_accuracy, m.oos_recall):
        assert math.isnan(value) or 0.0 <= value <= 1.0
    parts = []
    if oos_count:
        parts.append(m.oos_recall * oos_count)
    if oos_count < len(labels):
        parts.append(m.in_scope_accuracy * (len(labels) - oos_count))
    assert m.accuracy == pytest.approx(sum(parts) / len(labels))


@given(st.lists(st.integers(0, 4), min_size=1, max_size=100))
def test_perfect_predictions_score_one(labels) -> None:
    labels = np.array(labels)
    m = intent_metrics(labels, labels, OOS)
    assert m.accuracy == 1.0
    assert (labels != OOS).any() <= (m.in_scope_accuracy == 1.0)
    assert (labels == OOS).any() <= (m.oos_recall == 1.0)


def test_shape_mismatch_and_empty_input_are_errors() -> None:
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        intent_metrics(np.array([1, 2]), np.array([1]), OOS)
    with pytest.raises(ValueError, match="no labels"):
        intent_metrics(np.array([]), np.array([]), OOS)
