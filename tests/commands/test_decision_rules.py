"""Cross-validating the out-of-scope rule: folds stratified, every query answered by a rule fitted without it."""

from __future__ import annotations

import numpy as np
import pytest

from compressors.commands.decision_rules import DEFAULT_RULE, RULES, held_out_answers, rule_table, stratified_folds


def test_folds_deal_every_class_evenly() -> None:
    labels = np.array([0] * 10 + [1] * 7 + [2] * 3)
    fold = stratified_folds(labels, 5)
    for label in (0, 1, 2):
        counts = np.bincount(fold[labels == label], minlength=5)
        assert counts.max() - counts.min() <= 1
    with pytest.raises(ValueError, match="--folds must be at least 2"):
        stratified_folds(labels, 1)


def _case(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """In-scope queries (classes 1-3) sure of their class, out-of-scope ones (class 0) unsure."""
    rng = np.random.default_rng(seed)
    labels = np.array([1, 2, 3] * 40 + [0] * 30)
    logits = rng.normal(0, 0.3, (len(labels), 4))
    logits[np.arange(120), labels[:120]] += 4.0
    logits[120:, 1] += 0.5
    return logits, labels


def test_a_held_out_answer_does_not_depend_on_its_own_label() -> None:
    logits, labels = _case()
    fold = stratified_folds(labels, 5)
    answers = held_out_answers(logits, labels, 0, DEFAULT_RULE, fold)
    flipped = labels.copy()
    flipped[fold == 0] = 0  # relabel the held-out fold: its answers must not move
    assert np.array_equal(held_out_answers(logits, flipped, 0, DEFAULT_RULE, fold)[fold == 0], answers[fold == 0])


def test_a_threshold_beats_argmax_on_unsure_out_of_scope_queries_and_the_default_is_its_own_reference() -> None:
    logits, labels = _case()
    rows = {row["rule"]: row for row in rule_table(logits, labels, 0)}
    assert len(rows) == len(RULES) and rows[DEFAULT_RULE.name]["p_vs_default"] == 1.0
    assert rows["argmax (no threshold)"]["oos_recall"] < 0.2 and rows[DEFAULT_RULE.name]["oos_recall"] > 0.8
    assert rows["argmax (no threshold)"]["p_vs_default"] < 0.001
