"""Exact tests every layer may use (pure functions of counts)."""

from __future__ import annotations

from math import comb


def mcnemar_exact(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value of `gained` against `lost` discordant answers (1 when there are none)."""
    if gained < 0 or lost < 0:
        raise ValueError(f"counts of answers must not be negative, got {gained} and {lost}")
    n = gained + lost
    tail = sum(comb(n, k) for k in range(min(gained, lost) + 1))
    return min(1.0, 2 * tail / 2**n)
