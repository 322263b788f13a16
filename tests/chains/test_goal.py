"""The floor and the objective: read from what a user types, refused in one line when unreadable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.chains.goal import Goal, parse_drop, parse_objective


@pytest.mark.parametrize("text, drop", [(0.005, 0.005), ("0.005", 0.005), ("0.5%", 0.005), (" 2% ", 0.02), (0, 0.0)])
def test_a_floor_reads_as_a_fraction_or_in_points(text, drop) -> None:
    assert parse_drop(text) == pytest.approx(drop)


@pytest.mark.parametrize("text", ["half a point", "", "-0.01", "1", "150%", "nan", True, "inf"])
def test_an_unreadable_floor_is_refused_in_one_line(text) -> None:
    with pytest.raises(ValueError) as error:
        parse_drop(text)
    assert "max_accuracy_drop must be a fraction" in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_objective_is_refused_with_the_nearest_name() -> None:
    with pytest.raises(ValueError, match=r"objective must be one of speed, size, both; got 'sped'; did you mean 'speed'\?"):
        parse_objective("sped")
    with pytest.raises(ValueError, match="got 3"):
        Goal(objective=3)


@given(st.floats(0, 1), st.floats(0, 0.999))
def test_the_floor_holds_exactly_when_the_drop_is_within_it(baseline, drop) -> None:
    goal = Goal(max_accuracy_drop=drop)
    assert goal.meets_floor(baseline - drop, baseline)
    assert not goal.meets_floor(baseline - drop - 1e-6, baseline)


def test_each_objective_orders_chains_by_its_own_figure() -> None:
    fast_big, slow_small = (10.0, 0.5), (4.0, 0.1)
    assert Goal(objective="speed").score(*fast_big) > Goal(objective="speed").score(*slow_small)
    assert Goal(objective="size").score(*slow_small) > Goal(objective="size").score(*fast_big)
    assert Goal(objective="both").score(*slow_small) > Goal(objective="both").score(*fast_big)  # 40 against 20
