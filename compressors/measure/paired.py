"""Paired speed-ups: a variant timed against the baseline in the same test, warm, in alternating blocks.

Each pair is two blocks on the same queries, one per model, in the order C V | V C | C V | ...
(ABBA), so a machine that gets busier or quieter over the run slows both blocks of a pair alike
and a drift cancels in their ratio. A block starts with a few untimed calls, so that each model
runs warm, as on a server that holds one model, and not right after the other model evicted its
weights from the cache. The block's figure is the median of its timed calls (robust to a call
that was preempted). The speed-up is the Hodges-Lehmann estimate over the pairs' ratios, with a
distribution-free confidence interval from the Wilcoxon signed-rank distribution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class PairedConfig:
    """How a paired speed-up is measured.

    Attributes:
        pairs: block pairs (each one block of the baseline and one of the variant).
        block_calls: timed batch-size-1 calls per block.
        warm_calls: untimed calls that start every block.
        confidence: coverage of the speed-up's interval.
    """

    pairs: int = 30
    block_calls: int = 20
    warm_calls: int = 3
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.pairs < 2 or self.block_calls < 1 or self.warm_calls < 0:
            raise ValueError(f"PairedConfig needs pairs >= 2, block_calls >= 1 and warm_calls >= 0, got {self}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"PairedConfig.confidence must be in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class PairedSpeedup:
    """How many times faster the variant ran than the baseline, with its confidence interval.

    Attributes:
        estimate: Hodges-Lehmann estimate of the speed-up (baseline time / variant time).
        low, high: the interval's bounds at the configured confidence.
        ratios: per pair, the variant's block median divided by the baseline's (the gate's evidence).
    """

    estimate: float
    low: float
    high: float
    ratios: tuple[float, ...]


def measure_paired(
    control,
    variant,
    queries: Sequence[str],
    config: PairedConfig,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Per pair of blocks, the variant's median call time over the control's (same queries, ABBA order)."""
    if not queries:
        raise ValueError("no queries to time")
    ratios = []
    for pair in range(config.pairs):
        start = pair * config.block_calls
        block = [queries[(start + i) % len(queries)] for i in range(config.warm_calls + config.block_calls)]
        order = (control, variant) if pair % 2 == 0 else (variant, control)
        medians = {id(model): _block_median(model, block, config.warm_calls, clock) for model in order}
        ratios.append(medians[id(variant)] / medians[id(control)])
    return ratios


def _block_median(model, block: Sequence[str], warm_calls: int, clock: Callable[[], float]) -> float:
    for query in block[:warm_calls]:
        model(query)
    times = []
    for query in block[warm_calls:]:
        start = clock()
        model(query)
        times.append(clock() - start)
    median = float(np.median(times))
    if not median > 0:
        raise ValueError(f"a block's median call time must be positive, got {median}")
    return median


def paired_speedup(ratios: Sequence[float], confidence: float = 0.95) -> PairedSpeedup:
    """The speed-up (1 / ratio) and its interval from per-pair time ratios."""
    values = np.asarray(ratios, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)) or not np.all(values > 0):
        raise ValueError(f"ratios must be positive and finite, got {values.size} value(s)")
    estimate, low, high = hodges_lehmann(np.log(values), confidence)
    return PairedSpeedup(math.exp(-estimate), math.exp(-high), math.exp(-low), tuple(float(r) for r in values))


def hodges_lehmann(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The one-sample Hodges-Lehmann location (median of the Walsh averages) and its interval.

    The interval is [W_(k), W_(N+1-k)] of the N sorted Walsh averages, k from the exact
    distribution of the Wilcoxon signed-rank statistic (up to 60 values; the normal approximation
    beyond). With too few values for the confidence asked, it is the whole range.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0:
        raise ValueError("no values")
    i, j = np.triu_indices(n)
    walsh = np.sort((x[i] + x[j]) / 2)
    k = _signed_rank_critical(n, (1 - confidence) / 2)
    low, high = (walsh[k - 1], walsh[walsh.size - k]) if k >= 1 else (walsh[0], walsh[-1])
    return float(np.median(walsh)), float(low), float(high)


def _signed_rank_critical(n: int, tail: float) -> int:
    """The largest k with P(W <= k - 1) <= tail for the signed-rank statistic W of n values."""
    if n <= 60:
        cumulative = np.cumsum(_signed_rank_counts(n)) / 2.0**n
        return int(np.searchsorted(cumulative, tail, side="right"))
    from statistics import NormalDist

    mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return max(0, int(math.floor(mean + NormalDist().inv_cdf(tail) * sd + 0.5)))


@lru_cache(maxsize=64)
def _signed_rank_counts(n: int) -> np.ndarray:
    """How many of the 2^n sign patterns give each rank sum 0..n(n+1)/2."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=np.float64)
    counts[0] = 1
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts
