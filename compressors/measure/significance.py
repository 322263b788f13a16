"""Whether one model answers a fixed set of queries better than another beyond chance: McNemar's exact test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compressors.stats import mcnemar_exact


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


def compare_answers(first: np.ndarray, second: np.ndarray, labels: np.ndarray) -> AnswerComparison:
    """How the second model's predictions differ from the first's in being right, on the same labelled queries."""
    first, second, labels = (np.asarray(x) for x in (first, second, labels))
    if not first.shape == second.shape == labels.shape:
        raise ValueError(f"need one prediction per label from both models, got {first.shape}, {second.shape} and {labels.shape}")
    right_first, right_second = first == labels, second == labels
    gained, lost = int((right_second & ~right_first).sum()), int((right_first & ~right_second).sum())
    return AnswerComparison(gained, lost, mcnemar_exact(gained, lost))


@dataclass(frozen=True)
class PairedDifference:
    """How much more often a second model answers right than a first, on the same queries.

    Attributes:
        difference: the second model's share of right answers minus the first's (points as a fraction).
        low, high: its exact 95% interval: Clopper-Pearson on the split of the discordant answers
            (conditional on their number), so 0 lies outside it exactly when McNemar's p < 0.05, or nearly so.
        p_value: McNemar's exact two-sided p-value.
        queries: how many queries were compared (0: none; every figure is then NaN).
    """

    difference: float
    low: float
    high: float
    p_value: float
    queries: int

    @property
    def significant(self) -> bool:
        """Whether the difference is beyond chance at the 5% level."""
        return self.p_value < 0.05

    def describe(self) -> str:
        """E.g. "-1.20 points [-1.90, -0.52], p=0.0004"."""
        if not self.queries:
            return "no queries to compare"
        return (f"{100 * self.difference:+.2f} points [{100 * self.low:+.2f}, {100 * self.high:+.2f}], "
                f"p={self.p_value:.2g} over {self.queries} queries")


def paired_difference(first_right: np.ndarray, second_right: np.ndarray, confidence: float = 0.95) -> PairedDifference:
    """The paired difference in accuracy between two models from their per-query right/wrong answers."""
    first_right, second_right = np.asarray(first_right, dtype=bool), np.asarray(second_right, dtype=bool)
    if first_right.shape != second_right.shape or first_right.ndim != 1:
        raise ValueError(f"need one right/wrong answer per query from both models, got {first_right.shape} and {second_right.shape}")
    n = len(first_right)
    if n == 0:
        nan = float("nan")
        return PairedDifference(nan, nan, nan, nan, 0)
    gained, lost = int((second_right & ~first_right).sum()), int((first_right & ~second_right).sum())
    discordant = gained + lost
    low_share, high_share = _clopper_pearson(gained, discordant, confidence)
    return PairedDifference((gained - lost) / n, discordant * (2 * low_share - 1) / n, discordant * (2 * high_share - 1) / n,
                            mcnemar_exact(gained, lost), n)


def _clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """The exact interval of a binomial share; (0.5, 0.5) when there are no trials (the difference is then 0)."""
    if trials == 0:
        return 0.5, 0.5
    tail = (1 - confidence) / 2
    counts = np.arange(trials + 1)
    log_choose = _log_factorials(trials)
    log_choose = log_choose[trials] - log_choose - log_choose[::-1]

    def at_most(share: float) -> float:  # P(X <= successes) for X ~ Binomial(trials, share)
        with np.errstate(divide="ignore"):
            log_pmf = log_choose + counts * np.log(share) + (trials - counts) * np.log1p(-share)
        head = log_pmf[: successes + 1]
        peak = head.max()
        return float(np.exp(peak) * np.exp(head - peak).sum())

    # The lower bound: the share at which X >= successes has probability `tail`; the upper: X <= successes.
    low = 0.0 if successes == 0 else _solve(lambda share: 1 - (at_most(share) - _pmf(log_choose, successes, trials, share)) - tail)
    high = 1.0 if successes == trials else _solve(lambda share: tail - at_most(share))
    return low, high


def _pmf(log_choose: np.ndarray, k: int, n: int, share: float) -> float:
    return float(np.exp(log_choose[k] + k * np.log(share) + (n - k) * np.log1p(-share)))


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])


def _solve(increasing) -> float:
    """The share in (0, 1) where an increasing function crosses zero, by bisection to 1e-12."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if increasing(middle) < 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def encode_answers(predictions: np.ndarray) -> str:
    """A model's predicted class ids as a short text for a saved run (zlib-compressed little-endian uint16, base64)."""
    import base64
    import zlib

    ids = np.asarray(predictions)
    if ids.ndim != 1 or (ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.uint16).max)):
        raise ValueError(f"answers must be one class id in [0, 65535] per query, got shape {ids.shape}")
    return base64.b64encode(zlib.compress(ids.astype("<u2").tobytes(), 9)).decode("ascii")


def decode_answers(text: str) -> np.ndarray | None:
    """The class ids `encode_answers` wrote, or None when `text` is not such a record (an older or edited run)."""
    import base64
    import binascii
    import zlib

    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except (binascii.Error, zlib.error, ValueError, UnicodeEncodeError, AttributeError):
        return None
    if len(raw) % 2:
        return None
    return np.frombuffer(raw, dtype="<u2").astype(np.int64)
