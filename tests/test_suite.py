"""The suite's record of a variant: its arithmetic on fake models and a fake clock, and the test-only slow-down knob."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests_support import FakeClock

from compressors.artifacts import Artifact
from compressors.data import DataConfig
from compressors.measure.budgets import Budget
from compressors.profiles import SMALL
from compressors.suite import TEST_SLOWDOWN_ENV, Suite, _SlowedPredictor, parse_slowdown
from compressors.variants import VARIANT_NAMES


class FakeModel:
    """Answers from a table (batched calls may answer otherwise) and takes `cost` fake seconds per query."""

    def __init__(self, clock: FakeClock, cost: float, answers: dict[str, int], classes: int, batched: dict[str, int] | None = None) -> None:
        self.clock, self.cost, self.answers, self.classes, self.batched = clock, cost, answers, classes, batched or {}

    def __call__(self, text: str) -> int:
        self.clock.now += self.cost
        return self.answers[text]

    def logits(self, texts):
        self.clock.now += self.cost * len(texts)
        out = np.zeros((len(texts), self.classes), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, self.batched.get(text, self.answers[text])] = 1.0
        return out


@pytest.fixture(scope="module")
def data_profile():
    from dataclasses import replace

    return replace(SMALL, data=DataConfig(per_class={"train": 2, "validation": 1, "test": 2}), serving=())


def _artifact(tmp_path, name: str, size: int, kind: str = "onnx") -> Artifact:
    path = tmp_path / name
    path.mkdir()
    (path / "model.bin").write_bytes(b"x" * size)
    return Artifact(path, f"key-{name}", kind, f"digest-{name}", {"alpha": 0.5, "note": "fake"})


def test_record_combines_quality_speed_and_size_against_the_baseline(tmp_path, data_profile, monkeypatch) -> None:
    monkeypatch.setattr("compressors.suite.while_measuring", lambda measure: (measure(), 0.125))  # others' CPU share
    clock = FakeClock()
    suite = Suite(data_profile, tmp_path / "cache", device="cpu", clock=clock)
    texts, labels = suite.test["text"], suite.test["intent"]
    classes = len(suite.test.features["intent"].names)
    truth = dict(zip(texts, labels))
    wrong = {t: (label + 1) % classes for t, label in list(truth.items())[: len(texts) // 10]}
    flipped = {t: (label + 2) % classes for t, label in list(truth.items())[-5:]}
    fakes = {
        "baseline": (FakeModel(clock, 4e-3, truth, classes), 100),
        "distilled": (FakeModel(clock, 1e-3, {**truth, **wrong}, classes), 40),
        "quantized": (FakeModel(clock, 0.5e-3, {**truth, **wrong}, classes, batched=flipped), 10),
    }
    for name, (model, size) in fakes.items():
        suite._artifacts[name] = suite._served[name] = _artifact(tmp_path, name, size)
        suite._predictors[name] = model
        suite._serving[name] = {"serving": "fake"}

    baseline, _ = suite.record("baseline", [4e-3] * 50)
    assert (baseline.accuracy, baseline.speedup, baseline.p50_ratio, baseline.size_ratio) == (1.0, 1.0, 1.0, 1.0)

    distilled, _ = suite.record("distilled", [1e-3] * 50)
    expected_accuracy = 1 - len(wrong) / len(texts)
    assert distilled.accuracy == pytest.approx(expected_accuracy)
    assert distilled.accuracy_drop == pytest.approx(1 - expected_accuracy)
    assert (distilled.speedup, distilled.speedup_low, distilled.speedup_high) == pytest.approx((4.0, 4.0, 4.0))
    assert distilled.paired_ratios == pytest.approx((0.25,) * data_profile.harness.paired.pairs)
    assert distilled.machine_load == 0.125 and math.isnan(baseline.machine_load)  # the baseline is not paired
    assert distilled.p50_ratio == pytest.approx(4.0) and distilled.size_ratio == pytest.approx(0.4)
    assert distilled.accuracy_path == "batched" and distilled.batch_agreement == 1.0
    assert distilled.throughput_qps == pytest.approx(1000.0)
    assert distilled.meta == {"alpha": 0.5, "note": "fake"} and distilled.artifact == "digest-distilled"

    quantized, checks = suite.record("quantized", [0.5e-3] * 50, Budget(min_speedup=9.0, max_drop_vs_source=0.0))
    # An int8 variant is scored on its timed path (batch size 1), and its batching is checked on every query.
    assert quantized.accuracy_path == "batch size 1" and quantized.accuracy == pytest.approx(expected_accuracy)
    assert quantized.accuracy_batched == pytest.approx(expected_accuracy - 5 / len(texts))
    assert quantized.batch_agreement == pytest.approx(1 - 5 / len(texts))
    assert quantized.accuracy_drop_vs_source == pytest.approx(0.0)
    assert quantized.speedup == pytest.approx(8.0)
    assert [c.status for c in checks] == ["ok", "broken"]
    assert quantized.violations == (str(checks[1]),) and "speedup = 8 breaks budget min_speedup" in quantized.violations[0]
    assert suite.figures["quantized"] is quantized


def test_the_knob_is_off_by_default_and_parses_variant_factors(monkeypatch) -> None:
    monkeypatch.delenv(TEST_SLOWDOWN_ENV, raising=False)
    assert parse_slowdown("", VARIANT_NAMES) == {}
    assert parse_slowdown("distilled=1.5, student=2", VARIANT_NAMES) == {"distilled": 1.5, "student": 2.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("distiled=1.5", "unknown variant 'distiled'; did you mean 'distilled'"),
        ("distilled", "could not convert"),
        ("distilled=0.5", r"the factor must be in \[1, 100\)"),
        ("distilled=nan", r"the factor must be in \[1, 100\)"),
    ],
)
def test_bad_knob_values_name_the_variable_and_the_item(value, message) -> None:
    with pytest.raises(ValueError, match=message) as error:
        parse_slowdown(value, VARIANT_NAMES)
    assert str(error.value).startswith(f"{TEST_SLOWDOWN_ENV}: {value!r}")


def test_a_slowed_predictor_takes_factor_times_as_long_and_answers_the_same() -> None:
    clock = FakeClock()
    slowed = _SlowedPredictor(FakeModel(clock, 2e-3, {"hello": 7}, 9), 1.25, clock, wait=lambda s: setattr(clock, "now", clock.now + s))
    assert slowed("hello") == 7 and clock.now == pytest.approx(2.5e-3)
    assert slowed.logits(["hello", "hello"]).shape == (2, 9) and clock.now == pytest.approx(2.5e-3 + 5e-3)
