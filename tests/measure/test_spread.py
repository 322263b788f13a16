"""The seed spread of a figure: mean, sample deviation and range over seeds."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.measure.spread import SEED_FIGURES, Spread, seed_spread


@given(st.lists(st.floats(0, 1), min_size=2, max_size=10))
def test_a_spread_holds_the_mean_deviation_and_range_of_its_values(values) -> None:
    spread = Spread.of(values)
    assert spread.seeds == len(values) and spread.low <= spread.mean <= spread.high
    assert spread.std == pytest.approx(statistics.stdev(values), abs=1e-12) and spread.range == max(values) - min(values)


def test_missing_figures_are_left_out_and_one_seed_has_no_deviation() -> None:
    assert Spread.of([0.9, math.nan]).seeds == 1 and math.isnan(Spread.of([0.9]).std)
    assert Spread.of([0.9]).describe() == "90.00 (90.00-90.00, 1 seeds)" and Spread.of([]).describe() == "n/a"
    spread = seed_spread({42: {"accuracy": 0.90, "oos_recall": 0.7}, 43: {"accuracy": 0.88, "oos_recall": 0.5}})
    assert set(spread) == set(SEED_FIGURES) and spread["validation_accuracy"].seeds == 0
    assert spread["accuracy"].describe() == "89.00 ± 1.41 (88.00-90.00, 2 seeds)"
    with pytest.raises(ValueError, match="at least one seed"):
        seed_spread({})
