"""The suite's test-only slow-down knob: parsed strictly, off by default, and it slows by the factor."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

from compressors.suite import TEST_SLOWDOWN_ENV, _SlowedPredictor, parse_slowdown


def test_the_knob_is_off_by_default_and_parses_variant_factors(monkeypatch) -> None:
    monkeypatch.delenv(TEST_SLOWDOWN_ENV, raising=False)
    assert parse_slowdown("") == {}
    assert parse_slowdown("distilled=1.5, student=2") == {"distilled": 1.5, "student": 2.0}


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
        parse_slowdown(value)
    assert str(error.value).startswith(f"{TEST_SLOWDOWN_ENV}: {value!r}")


class Busy:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def _wait(self) -> None:
        deadline = time.perf_counter() + self.seconds
        while time.perf_counter() < deadline:
            pass

    def __call__(self, text: str) -> int:
        self._wait()
        return 7

    def logits(self, texts):
        self._wait()
        return np.zeros((len(texts), 3))


def test_a_slowed_predictor_takes_factor_times_as_long_and_answers_the_same() -> None:
    slowed = _SlowedPredictor(Busy(0.002), 1.5)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        assert slowed("hello") == 7
        times.append(time.perf_counter() - start)
    assert statistics.median(times) == pytest.approx(0.003, rel=0.15)
    assert slowed.logits(["a", "b"]).shape == (2, 3)
