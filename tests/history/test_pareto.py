"""The Pareto front: nothing on it is dominated, everything off it is dominated by a point on it.

The properties check `dominates` and `pareto_front` against an oracle written another way: a
point as a vector to minimise, (-accuracy, time, size), dominating another when it is nowhere
larger and not the same vector.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.history.pareto import Point, dominates, pareto_front

figures = st.tuples(st.integers(0, 5), st.integers(1, 5), st.integers(1, 5))
point_lists = st.lists(figures, max_size=12).map(
    lambda rows: [Point(f"v{i}", a / 5, float(p), float(s)) for i, (a, p, s) in enumerate(rows)]
)


def costs(p: Point) -> tuple[float, float, float]:
    return (-p.accuracy, p.time, p.size_mb)


def oracle_dominates(a: Point, b: Point) -> bool:
    return costs(a) != costs(b) and max(x - y for x, y in zip(costs(a), costs(b))) <= 0


@given(point_lists)
def test_dominance_agrees_with_the_oracle_on_every_pair(points) -> None:
    assert [[dominates(a, b) for b in points] for a in points] == [[oracle_dominates(a, b) for b in points] for a in points]


@given(point_lists)
def test_front_members_are_undominated_and_the_rest_dominated_by_a_member(points) -> None:
    front = pareto_front(points)
    assert front == [p for p in points if not any(oracle_dominates(q, p) for q in points)]  # in the given order
    assert all(any(oracle_dominates(q, p) for q in front) for p in points if p not in front)
    assert bool(front) == bool(points)


@pytest.mark.parametrize(
    ("better", "figure"),
    [(Point("b", 0.86, 1.0, 10.0), "accuracy"), (Point("b", 0.85, 0.9, 10.0), "time"), (Point("b", 0.85, 1.0, 9.0), "size")],
)
def test_being_better_on_one_figure_and_equal_on_the_others_dominates(better, figure) -> None:
    base = Point("a", 0.85, 1.0, 10.0)
    assert dominates(better, base) and not dominates(base, better)


def test_a_point_does_not_dominate_its_equal_or_a_trade_off() -> None:
    fast = Point("fast", 0.85, 1.0, 10.0)
    accurate = Point("accurate", 0.88, 12.0, 90.0)
    assert not dominates(fast, Point("same", 0.85, 1.0, 10.0))
    assert not dominates(fast, accurate) and not dominates(accurate, fast)
    for worse_on_one in (Point("w", 0.84, 0.5, 5.0), Point("w", 0.90, 1.5, 5.0), Point("w", 0.90, 0.5, 11.0)):
        assert not dominates(worse_on_one, fast) and not dominates(fast, worse_on_one)
    assert pareto_front([fast, accurate]) == [fast, accurate]
    assert pareto_front([fast, accurate, Point("worse", 0.84, 2.0, 10.0)]) == [fast, accurate]
    assert pareto_front([accurate, Point("same", 0.85, 1.0, 10.0), fast]) == [accurate, Point("same", 0.85, 1.0, 10.0), fast]
