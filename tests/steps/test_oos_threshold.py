"""The out-of-scope decision: the best threshold on validation, carried by the artifact, applied by every predictor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import copy_as_artifact

from compressors.formats.decision import DecisionPredictor, OosDecision, read_decision, top_probability
from compressors.formats.predictors import load_predictor
from compressors.steps.base import apply_step
from compressors.steps.oos_threshold import RESOLVABLE_P, InheritedDecision, OosThreshold, best_decision, family_decision


def _accuracy(decision: OosDecision, logits: np.ndarray, labels: np.ndarray) -> float:
    return float((decision.apply(logits) == labels).mean())


cases = st.integers(2, 5).flatmap(
    lambda classes: st.tuples(
        st.lists(st.lists(st.floats(-6, 6), min_size=classes, max_size=classes), min_size=1, max_size=25),
        st.lists(st.integers(0, classes - 1), min_size=25, max_size=25),
        st.integers(0, classes - 1),
    )
)


@settings(deadline=None, max_examples=150)
@given(cases, st.lists(st.sampled_from([0.5, 1.0, 2.0, 5.0]), min_size=1, max_size=3, unique=True))
def test_the_chosen_decision_is_the_best_threshold_and_never_worse_than_argmax(case, temperatures) -> None:
    rows, labels, oos_id = case
    logits, labels = np.asarray(rows), np.asarray(labels[: len(rows)])
    decision, accuracy = best_decision(logits, labels, oos_id, tuple(temperatures))
    assert _accuracy(decision, logits, labels) == pytest.approx(accuracy)
    assert accuracy >= float((logits.argmax(-1) == labels).mean()) - 1e-12
    for temperature in temperatures:  # brute force: no threshold does better at any temperature
        for threshold in [0.0, *np.nextafter(top_probability(logits, temperature), np.inf)]:
            assert _accuracy(OosDecision(oos_id, temperature, float(threshold)), logits, labels) <= accuracy + 1e-12


def test_a_decision_rejects_the_unsure_queries() -> None:
    logits = np.array([[5.0, 0.0, 0.0], [1.0, 1.1, 0.9], [0.0, 0.0, 4.0]])
    decision = OosDecision(oos_id=0, temperature=1.0, threshold=0.5)
    assert decision.apply(logits).tolist() == [0, 0, 2]


class Table:
    """Fixed logits per text."""

    def __init__(self, rows: dict[str, list[float]]) -> None:
        self.rows = rows

    def logits(self, texts):
        return np.array([self.rows[t] for t in texts], dtype=np.float32)

    def __call__(self, text: str) -> int:
        return int(self.logits([text]).argmax(-1)[0])


def test_a_wrapped_predictor_answers_by_the_decision_batched_and_one_by_one() -> None:
    inner = Table({"sure": [0.0, 6.0, 0.0], "unsure": [0.0, 1.0, 0.9]})
    predictor = DecisionPredictor(inner, OosDecision(oos_id=2, temperature=1.0, threshold=0.6))
    assert predictor("sure") == 1 and predictor("unsure") == 2
    assert predictor.logits(["sure", "unsure"]).argmax(-1).tolist() == [1, 2]


def test_the_step_writes_the_decision_beside_the_model_and_predictors_follow_it(tiny_checkpoint, tmp_path, context) -> None:
    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    thresholded = apply_step(source, OosThreshold(), context)
    assert thresholded.kind == source.kind
    decision = read_decision(thresholded.path)
    assert decision.oos_id == context.label_names.index("oos") and decision.temperature in OosThreshold().temperatures
    assert thresholded.meta["validation_accuracy"] >= thresholded.meta["validation_accuracy_argmax"]
    assert {p.name for p in source.path.iterdir()} | {"decision.json"} == {p.name for p in thresholded.path.iterdir()}
    assert isinstance(load_predictor(thresholded), DecisionPredictor)
    assert not isinstance(load_predictor(source), DecisionPredictor)


def test_no_out_of_scope_class_is_an_error(tiny_checkpoint, tmp_path, context) -> None:
    context.oos_label = ""
    with pytest.raises(ValueError, match="needs a data set with an out-of-scope class"):
        apply_step(copy_as_artifact(tiny_checkpoint, tmp_path), OosThreshold(), context)


def _balanced(decision: OosDecision, logits: np.ndarray, labels: np.ndarray, oos_id: int) -> float:
    predictions, oos = decision.apply(logits), labels == oos_id
    return float(((predictions == labels)[~oos].mean() + (predictions == labels)[oos].mean()) / 2)


@settings(deadline=None, max_examples=150)
@given(cases, st.lists(st.sampled_from([0.5, 1.0, 2.0, 5.0]), min_size=1, max_size=3, unique=True))
def test_the_balanced_objective_finds_the_best_mean_of_in_scope_accuracy_and_oos_recall(case, temperatures) -> None:
    rows, labels, oos_id = case
    logits, labels = np.asarray(rows), np.asarray(labels[: len(rows)])
    decision, value = best_decision(logits, labels, oos_id, tuple(temperatures), "balanced")
    if (labels == oos_id).all() or not (labels == oos_id).any():  # one kind of query: plain accuracy
        assert value == pytest.approx(_accuracy(decision, logits, labels))
        return
    assert _balanced(decision, logits, labels, oos_id) == pytest.approx(value)
    for temperature in temperatures:
        for threshold in [0.0, *np.nextafter(top_probability(logits, temperature), np.inf)]:
            assert _balanced(OosDecision(oos_id, temperature, float(threshold)), logits, labels, oos_id) <= value + 1e-12


def test_the_balanced_objective_trades_in_scope_accuracy_for_recall_on_a_rare_out_of_scope_class() -> None:
    # 10 in-scope queries (two of them unsure but right) and 1 out-of-scope query, a little surer:
    # accuracy answers them all (10/11 against 9/11), balanced rejects all three (8/10 and recall 1).
    logits = np.array([[0.0, 6.0]] * 8 + [[0.0, 0.2]] * 2 + [[0.0, 0.3]])
    labels = np.array([1] * 10 + [0])
    by_accuracy, _ = best_decision(logits, labels, 0, (1.0,))
    balanced, value = best_decision(logits, labels, 0, (1.0,), "balanced")
    assert by_accuracy.apply(logits).tolist() == [1] * 11
    assert balanced.apply(logits).tolist() == [1] * 8 + [0] * 3 and value == pytest.approx((8 / 10 + 1) / 2)
    with pytest.raises(ValueError, match="objective must be one of"):
        OosThreshold(objective="recall")


def _family_case(unsure_oos: int) -> tuple[np.ndarray, np.ndarray]:
    """100 sure in-scope queries (class 1, top probability ~0.98) and `unsure_oos` out-of-scope ones (top ~0.4)."""
    sure = np.tile([0.0, 5.0, 0.0], (100, 1))
    unsure = np.tile([0.0, 0.4, 0.2], (unsure_oos, 1))
    return np.concatenate([sure, unsure]), np.array([1] * 100 + [0] * unsure_oos)


def test_a_format_keeps_its_familys_decision_when_its_own_is_better_by_chance_only() -> None:
    logits, labels = _family_case(unsure_oos=3)
    own, _ = best_decision(logits, labels, 0, (1.0,))
    never_rejects = InheritedDecision("distilled", 1.0, 0.0)  # 3 answers worse: McNemar p = 0.25
    kept, value, record = family_decision(logits, labels, own, never_rejects, "accuracy")
    assert (kept.temperature, kept.threshold) == (1.0, 0.0) and value == pytest.approx(100 / 103)
    assert record["decision_rule"] == "inherited from distilled" and record["decision_rule_p"] == pytest.approx(0.25)
    assert record["validation_objective_own"] == pytest.approx(1.0)


def test_a_format_takes_its_own_decision_when_validation_resolves_the_difference() -> None:
    logits, labels = _family_case(unsure_oos=12)
    own, _ = best_decision(logits, labels, 0, (1.0,))
    kept, value, record = family_decision(logits, labels, own, InheritedDecision("distilled", 1.0, 0.0), "accuracy")
    assert kept == own and value == pytest.approx(1.0)
    assert record["decision_rule"] == "own" and record["decision_rule_p"] < RESOLVABLE_P


def test_an_inherited_decision_keys_the_served_artifact_apart_and_is_recorded(tiny_checkpoint, tmp_path, context) -> None:
    source = copy_as_artifact(tiny_checkpoint, tmp_path / "source")
    free = apply_step(source, OosThreshold(), context)
    family = apply_step(source, OosThreshold(inherited=InheritedDecision("baseline", 2.0, 0.01)), context)
    assert free.key != family.key and "decision_rule" not in free.meta
    assert family.meta["decision_rule"] in ("own", "inherited from baseline")
    if family.meta["decision_rule"] != "own":
        assert (read_decision(family.path).temperature, read_decision(family.path).threshold) == (2.0, 0.01)
