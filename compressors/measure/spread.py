"""Seed spread: how much a figure moves when only the training seed changes."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The figures a seed study reports for each variant (test split unless named otherwise).
SEED_FIGURES = ("accuracy", "in_scope_accuracy", "oos_recall", "validation_accuracy")


@dataclass(frozen=True)
class Spread:
    """A figure over seeds: mean, sample standard deviation, and the lowest and highest value."""

    mean: float
    std: float
    low: float
    high: float
    seeds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of one figure's values, one per seed (NaN values are left out)."""
        kept = [float(v) for v in values if not math.isnan(v)]
        if not kept:
            nan = math.nan
            return cls(nan, nan, nan, nan, 0)
        std = statistics.stdev(kept) if len(kept) > 1 else math.nan
        return cls(statistics.fmean(kept), std, min(kept), max(kept), len(kept))

    @property
    def range(self) -> float:
        """Highest minus lowest: the distance a seed alone moved the figure."""
        return self.high - self.low

    def describe(self, scale: float = 100.0) -> str:
        """E.g. "90.12 ± 0.84 (89.20-91.00, 3 seeds)" in points."""
        if not self.seeds:
            return "n/a"
        std = "" if math.isnan(self.std) else f" ± {scale * self.std:.2f}"
        return f"{scale * self.mean:.2f}{std} ({scale * self.low:.2f}-{scale * self.high:.2f}, {self.seeds} seeds)"


def seed_spread(per_seed: Mapping[int, Mapping[str, float]]) -> dict[str, Spread]:
    """Each of `SEED_FIGURES` over the seeds of one variant (seed -> figure -> value)."""
    if not per_seed:
        raise ValueError("a seed spread needs at least one seed's figures")
    return {name: Spread.of([figures.get(name, math.nan) for figures in per_seed.values()]) for name in SEED_FIGURES}
