"""A variant's way through the suite on fake models and a fake clock: served, evaluated, measured against the baseline, judged."""

from __future__ import annotations

import math

import pytest
from suite_support import PROFILE, FakeModel, fake_suite
from tests_support import FakeClock

from compressors.data import load_data
from compressors.measure.budgets import Budget, Shortfall, Status
from compressors.measure.figures import Figures
from compressors.measure.injected import RepeatedWork
from compressors.measure.significance import decode_answers
from compressors.suite.verdict import judge


@pytest.fixture(scope="module")
def test_split():
    test = load_data(PROFILE.data)["test"]
    return list(test["text"]), list(test["intent"]), len(test.features["intent"].names)


def _models(clock, test_split):
    texts, labels, classes = test_split
    truth = dict(zip(texts, labels))
    wrong = {t: (label + 1) % classes for t, label in list(truth.items())[: len(texts) // 10]}
    flipped = {t: (label + 2) % classes for t, label in list(truth.items())[-5:]}
    return wrong, {
        "baseline": (FakeModel(clock, 4e-3, truth, classes), 100),
        "distilled": (FakeModel(clock, 1e-3, {**truth, **wrong}, classes), 40),
        "quantized": (FakeModel(clock, 0.5e-3, {**truth, **wrong}, classes, batched=flipped), 10),
    }


def test_record_combines_quality_speed_and_size_against_the_baseline(tmp_path, test_split) -> None:
    clock = FakeClock()
    wrong, models = _models(clock, test_split)
    suite = fake_suite(tmp_path, models, clock)
    texts = test_split[0]

    baseline = suite.record("baseline", [4e-3] * 50).figures
    assert (baseline.accuracy, baseline.speedup, baseline.p50_ratio, baseline.size_ratio) == (1.0, 1.0, 1.0, 1.0)

    distilled = suite.record("distilled", [1e-3] * 50).figures
    expected_accuracy = 1 - len(wrong) / len(texts)
    assert distilled.accuracy == pytest.approx(expected_accuracy)
    assert distilled.accuracy_drop == pytest.approx(1 - expected_accuracy)
    # Paired on the same queries: the distilled model only loses answers, so McNemar's p is 2 / 2**len(wrong).
    assert distilled.accuracy_drop_p == pytest.approx(2 / 2 ** len(wrong))
    assert 0 < distilled.accuracy_drop_low < distilled.accuracy_drop <= distilled.accuracy_drop_high
    assert decode_answers(distilled.right_answers).sum() == len(texts) - len(wrong)
    assert (distilled.speedup, distilled.speedup_low, distilled.speedup_high) == pytest.approx((4.0, 4.0, 4.0))
    assert distilled.paired_ratios == pytest.approx((0.25,) * PROFILE.harness.paired.pairs)
    assert distilled.machine_load == 0.125 and math.isnan(baseline.machine_load)  # the baseline is not paired
    assert distilled.p50_ratio == pytest.approx(4.0) and distilled.size_ratio == pytest.approx(0.4)
    assert distilled.accuracy_path == "batched" and distilled.batch_agreement == 1.0
    assert distilled.throughput_qps == pytest.approx(1000.0)
    assert distilled.meta == {"alpha": 0.5, "note": "fake"} and distilled.artifact == "digest-distilled"
    assert distilled.serving == "onnxruntime" and "test_slowdown" not in distilled.meta

    verdict = suite.record("quantized", [0.5e-3] * 50, Budget(min_speedup=9.0, max_drop_vs_source=0.0))
    quantized, checks = verdict.figures, verdict.checks
    # An int8 variant is scored on its timed path (batch size 1), and its batching is checked on every query.
    assert quantized.accuracy_path == "batch size 1" and quantized.accuracy == pytest.approx(expected_accuracy)
    assert quantized.accuracy_batched == pytest.approx(expected_accuracy - 5 / len(texts))
    assert quantized.batch_agreement == pytest.approx(1 - 5 / len(texts))
    assert quantized.accuracy_drop_vs_source == pytest.approx(0.0) and quantized.accuracy_drop_vs_source_p == 1.0
    assert quantized.speedup == pytest.approx(8.0)
    assert [c.status for c in checks] == [Status.OK, Status.BROKEN] and verdict.failed == (checks[1],)
    assert quantized.violations == (str(checks[1]),) and "speedup = 8 breaks budget min_speedup" in quantized.violations[0]
    assert [(r.key, r.status) for r in quantized.checks] == [("max_drop_vs_source", "ok"), ("min_speedup", "broken")]
    assert suite.figures["quantized"] is quantized


def test_the_baseline_p50_is_measured_when_its_test_has_not_run(tmp_path, test_split) -> None:
    clock = FakeClock()
    suite = fake_suite(tmp_path, _models(clock, test_split)[1], clock)
    distilled = suite.record("distilled", [2e-3] * 50).figures
    assert distilled.p50_ratio == pytest.approx(2.0)  # the baseline's 4 ms, timed on the fake clock


def test_an_injected_regression_does_the_work_again_and_is_recorded(tmp_path, test_split) -> None:
    clock = FakeClock()
    suite = fake_suite(tmp_path, _models(clock, test_split)[1], clock, injected={"distilled": 2.0})
    served = suite.served("distilled")
    assert isinstance(served.predictor, RepeatedWork) and served.injected == 2.0
    assert not isinstance(suite.served("baseline").predictor, RepeatedWork)
    distilled = suite.record("distilled").figures  # plain latency timed here, on the fake clock
    assert distilled.p50_ms == pytest.approx(2.0) and distilled.speedup == pytest.approx(2.0)
    assert distilled.meta["test_slowdown"] == 2.0 and "meta_test_slowdown" in distilled.to_extra_info()


def test_an_inconclusive_wall_clock_budget_is_recorded_but_neither_fails_nor_is_short() -> None:
    figures = Figures("distilled", speedup=2.0, accuracy_drop=0.001, paired_ratios=(0.5, 0.5), machine_load=0.6)
    verdict = judge(figures, Budget(min_speedup=3.0, max_accuracy_drop=0.005))
    assert [c.status for c in verdict.inconclusive] == [Status.INCONCLUSIVE] and not verdict.failed and not verdict.short
    assert verdict.figures.violations == () and [r.status for r in verdict.figures.checks] == ["ok", "inconclusive"]


def test_a_known_shortfall_is_short_in_the_verdict_and_its_figures() -> None:
    budget = Budget(max_accuracy_drop=0.005, shortfalls={"max_accuracy_drop": Shortfall(0.036, 0.005, "student")})
    verdict = judge(Figures("frontier", accuracy_drop=0.035), budget)
    assert len(verdict.short) == 1 and verdict.figures.shortfalls == (str(verdict.short[0]),)
    assert judge(Figures("frontier"), None).checks == ()
