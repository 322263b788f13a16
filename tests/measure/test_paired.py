"""Paired speed-ups: the ABBA block order, warm calls, drift cancelling, and the Hodges-Lehmann interval."""

from __future__ import annotations

import numpy as np
import pytest
from tests_support import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from compressors.measure.paired import PairedConfig, hodges_lehmann, measure_paired, paired_speedup


class Model:
    """Takes `cost * slowdown(now)` fake seconds per call and logs who ran."""

    def __init__(self, name: str, cost: float, clock: FakeClock, log: list[str], slowdown=lambda now: 1.0) -> None:
        self.name, self.cost, self.clock, self.log, self.slowdown = name, cost, clock, log, slowdown

    def __call__(self, text: str) -> int:
        self.log.append(self.name)
        self.clock.now += self.cost * self.slowdown(self.clock.now)
        return 0


QUERIES = [f"query {i}" for i in range(7)]


def test_blocks_alternate_abba_with_untimed_warm_calls() -> None:
    clock, log = FakeClock(), []
    config = PairedConfig(pairs=4, block_calls=3, warm_calls=2)
    ratios = measure_paired(Model("C", 2.0, clock, log), Model("V", 0.5, clock, log), QUERIES, config, clock)
    block = 2 + 3
    blocks = [log[i : i + block] for i in range(0, len(log), block)]
    assert len(log) == 4 * 2 * block and all(len(set(b)) == 1 for b in blocks)
    assert "".join(b[0] for b in blocks) == "CVVCCVVC"
    assert ratios == [0.25] * 4


def test_both_blocks_of_a_pair_run_the_same_queries() -> None:
    seen: dict[str, list[str]] = {"C": [], "V": []}

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, text: str) -> int:
            seen[self.name].append(text)
            return 0

    ticks = iter(range(1, 10_000))
    measure_paired(Recorder("C"), Recorder("V"), QUERIES, PairedConfig(pairs=3, block_calls=4, warm_calls=1), lambda: next(ticks))
    assert seen["C"] == seen["V"] and len(seen["C"]) == 3 * 5


def test_a_machine_that_slows_down_during_the_run_leaves_the_paired_ratio_in_place() -> None:
    clock, log = FakeClock(), []

    def slowdown(now: float) -> float:  # the machine gets 3x slower over the run
        return 1.0 + now / 150.0

    config = PairedConfig(pairs=20, block_calls=10, warm_calls=0)
    ratios = measure_paired(Model("C", 2.0, clock, log, slowdown), Model("V", 0.5, clock, log, slowdown), QUERIES, config, clock)
    assert clock.now > 300  # the drift was large
    assert paired_speedup(ratios).estimate == pytest.approx(4.0, rel=0.02)


def test_constant_ratios_give_a_point_interval() -> None:
    result = paired_speedup([0.5] * 12)
    assert (result.estimate, result.low, result.high) == pytest.approx((2.0, 2.0, 2.0))
    assert result.ratios == (0.5,) * 12


@settings(deadline=None, max_examples=200)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40), st.floats(-3, 3))
def test_hodges_lehmann_is_inside_its_interval_and_shift_equivariant(values, shift) -> None:
    estimate, low, high = hodges_lehmann(values)
    assert low <= estimate <= high
    assert min(values) <= low and high <= max(values)
    shifted = hodges_lehmann([v + shift for v in values])
    assert shifted == pytest.approx((estimate + shift, low + shift, high + shift), abs=1e-9)


def test_the_interval_covers_the_true_centre_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    covered = sum(low <= 0.0 <= high for _, low, high in (hodges_lehmann(rng.standard_t(3, 30)) for _ in range(2000)))
    assert 0.93 <= covered / 2000 <= 0.97


@pytest.mark.parametrize("ratios", [[], [0.5, -1.0], [0.5, float("nan")]])
def test_bad_ratios_are_rejected(ratios) -> None:
    with pytest.raises(ValueError, match="ratios must be positive and finite"):
        paired_speedup(ratios)


def test_paired_config_validates() -> None:
    with pytest.raises(ValueError, match="pairs >= 2"):
        PairedConfig(pairs=1)
