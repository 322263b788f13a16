"""The Pareto front of variants over accuracy (higher is better), time per query and size (lower is better)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One variant's trade-off."""

    name: str
    accuracy: float
    time: float  # per query, in any unit shared by all points (e.g. the baseline's time / paired speed-up)
    size_mb: float


def dominates(a: Point, b: Point) -> bool:
    """True when `a` is at least as good as `b` on every figure and better on one."""
    at_least = a.accuracy >= b.accuracy and a.time <= b.time and a.size_mb <= b.size_mb
    better = a.accuracy > b.accuracy or a.time < b.time or a.size_mb < b.size_mb
    return at_least and better


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The points no other point dominates, in the given order."""
    return [p for p in points if not any(dominates(q, p) for q in points)]
