"""The Pareto front: nothing on it is dominated, everything off it is dominated by a point on it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from compressors.history.pareto import Point, dominates, pareto_front

figures = st.tuples(st.integers(0, 5), st.integers(1, 5), st.integers(1, 5))
point_lists = st.lists(figures, max_size=12).map(
    lambda rows: [Point(f"v{i}", a / 5, float(p), float(s)) for i, (a, p, s) in enumerate(rows)]
)


@given(point_lists)
def test_front_members_are_undominated_and_the_rest_dominated_by_a_member(points) -> None:
    front = pareto_front(points)
    assert all(not any(dominates(q, p) for q in points) for p in front)
    assert all(any(dominates(q, p) for q in front) for p in points if p not in front)
    assert bool(front) == bool(points)


def test_a_point_does_not_dominate_its_equal_or_a_trade_off() -> None:
    fast = Point("fast", 0.85, 1.0, 10.0)
    accurate = Point("accurate", 0.88, 12.0, 90.0)
    assert not dominates(fast, Point("same", 0.85, 1.0, 10.0))
    assert pareto_front([fast, accurate]) == [fast, accurate]
    assert pareto_front([fast, accurate, Point("worse", 0.84, 2.0, 10.0)]) == [fast, accurate]
