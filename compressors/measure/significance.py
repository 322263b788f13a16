"""Whether one model answers a fixed set of queries better than another beyond chance: McNemar's exact test."""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np


@dataclass(frozen=True)
class AnswerComparison:
    """Two models' answers to the same queries.

    Attributes:
        gained: queries the second model answers right and the first wrong.
        lost: queries the first model answers right and the second wrong.
        p_value: McNemar's exact two-sided p-value: how likely so uneven a split of the
            disagreements is when neither model is better.
    """

    gained: int
    lost: int
    p_value: float


def mcnemar_exact(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value of `gained` against `lost` discordant answers (1 when there are none)."""
    if gained < 0 or lost < 0:
        raise ValueError(f"counts of answers must not be negative, got {gained} and {lost}")
    n = gained + lost
    tail = sum(comb(n, k) for k in range(min(gained, lost) + 1))
    return min(1.0, 2 * tail / 2**n)


def compare_answers(first: np.ndarray, second: np.ndarray, labels: np.ndarray) -> AnswerComparison:
    """How the second model's predictions differ from the first's in being right, on the same labelled queries."""
    first, second, labels = (np.asarray(x) for x in (first, second, labels))
    if not first.shape == second.shape == labels.shape:
        raise ValueError(f"need one prediction per label from both models, got {first.shape}, {second.shape} and {labels.shape}")
    right_first, right_second = first == labels, second == labels
    gained, lost = int((right_second & ~right_first).sum()), int((right_first & ~right_second).sum())
    return AnswerComparison(gained, lost, mcnemar_exact(gained, lost))
