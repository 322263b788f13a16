"""The injected regression: real extra inference on a deterministic share of calls, importable without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.measure.injected import MAX_FACTOR, RepeatedWork


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def logits(self, texts):
        self.calls.append("batch")
        return np.ones((len(texts), 3))


def _runs_per_call(factor: float, calls: int) -> list[int]:
    inner = Counter()
    wrapped = RepeatedWork(inner, factor)
    runs = []
    for i in range(calls):
        before = len(inner.calls)
        assert wrapped(f"q{i}") == len(f"q{i}")  # the inner answer, unchanged
        runs.append(len(inner.calls) - before)
    return runs


def test_factor_1_25_runs_one_extra_inference_every_4th_call() -> None:
    assert _runs_per_call(1.25, 8) == [1, 1, 1, 2, 1, 1, 1, 2]


def test_factor_2_runs_every_call_twice_and_2_5_adds_a_third_every_other_call() -> None:
    assert _runs_per_call(2.0, 4) == [2, 2, 2, 2]
    assert _runs_per_call(2.5, 4) == [2, 3, 2, 3]
    assert _runs_per_call(1.0, 3) == [1, 1, 1]


def test_batched_calls_are_repeated_too() -> None:
    inner = Counter()
    wrapped = RepeatedWork(inner, 2.0)
    assert wrapped.logits(["a", "b"]).shape == (2, 3) and inner.calls == ["batch", "batch"]


@given(factor=st.floats(min_value=1.0, max_value=MAX_FACTOR, exclude_max=True), calls=st.integers(0, 300))
def test_the_extra_work_is_the_factor_share_of_calls(factor: float, calls: int) -> None:
    total = sum(_runs_per_call(factor, calls))
    assert calls * factor - 1 <= total <= calls * factor + 1e-6 * calls + 1e-9


@pytest.mark.parametrize("factor", [0.5, 100.0, float("nan"), float("inf")])
def test_factors_outside_1_to_100_are_refused(factor: float) -> None:
    with pytest.raises(ValueError, match=r"the factor must be in \[1, 100\)"):
        RepeatedWork(Counter(), factor)


def test_the_wrapper_imports_without_torch_or_numpy() -> None:
    code = "import sys, compressors.measure.injected; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
