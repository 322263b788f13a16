"""Change points over a figure's history: pure functions of a series of values, no I/O.

A figure of a variant, run after run, is a series. Comparing each run with the previous passing
one misses a drift made of steps each under the limit; asv, conbench and Otava find change points
over the whole series instead, and their users still report missed drift made of small steps.
So two questions are asked of a series (oldest first, its first value the reference run's):

* Where did it move? Binary segmentation: split a segment where the difference of the means on
  either side is largest, if it is significant, and recurse. The statistic is that difference
  over its standard error, `sigma * sqrt(1/n_left + 1/n_right)`, with `sigma` the run-to-run
  noise estimated robustly from successive differences (a step moves one difference, not the
  median of all of them). A split counts when the statistic passes Student's t quantile of
  `alpha / (2 (n - 1))` (Bonferroni over the n - 1 places a split can fall; t, because on a
  short history the noise is itself an estimate).
* Did it move too far? The newest segment against the one before it (a step larger than the
  figure's limit), and the newest runs' level against the reference's level (a cumulative
  drift larger than the figure's drift limit, one-sided, significant at `alpha` by Student's
  t). Each level of the drift is the mean of the first or the newest `window` runs (at most
  half the history), so a ramp lumped into one segment still shows its newest level.

Values are in a space where a change is a difference: the gate passes logarithms of ratios
(speed-up, instructions, size) and raw fractions (accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

DEFAULT_ALPHA = 0.001
DEFAULT_WINDOW = 10
# Below this many runs the noise cannot be estimated (two runs always look "significantly"
# different): no change points; the comparisons with the previous and reference runs judge them.
MIN_RUNS = 8


def noise_scale(values: Sequence[float]) -> float:
    """Run-to-run noise (a standard deviation) of a series, robust to a few steps: from the MAD of successive differences."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 3:
        return 0.0
    d = np.diff(x)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _floor(sigma: float, x: np.ndarray) -> float:
    # A deterministic series (instruction counts) has no noise: any real step is significant,
    # a rounding difference is not.
    return max(sigma, 1e-9 * max(1.0, float(np.abs(x).max(initial=0.0))))


def change_points(values: Sequence[float], alpha: float = DEFAULT_ALPHA, sigma: float | None = None) -> list[int]:
    """The indices at which a new level of the series starts, in order (binary segmentation).

    Args:
        values: the series, oldest first; NaN is not allowed (leave such runs out).
        alpha: the false-alarm probability of each split test.
        sigma: the run-to-run noise; estimated from the series when None (then at least
            `MIN_RUNS` values are needed, else no change point is reported).
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"change_points needs finite values; got {int((~np.isfinite(x)).sum())} NaN or infinite of {x.size}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if x.size < 2 or (sigma is None and x.size < MIN_RUNS):
        return []
    if sigma is None:
        # The MAD of differences is robust to steps but noisy on short series; the pooled spread
        # within the segments it finds is sharper. Take the larger: an underestimate would split noise.
        rough = _segment(x, _floor(noise_scale(x), x), alpha, x.size - 2)
        sigma = max(noise_scale(x), within_spread(x, rough))
        return _segment(x, _floor(sigma, x), alpha, x.size - 2)
    return _segment(x, _floor(sigma, x), alpha, None)


def within_spread(values: Sequence[float], points: Sequence[int]) -> float:
    """The pooled standard deviation of a series around the means of its segments (0 when it cannot be estimated)."""
    x = np.asarray(values, dtype=np.float64)
    bounds = (0, *points, x.size)
    residuals = np.concatenate([x[a:b] - x[a:b].mean() for a, b in zip(bounds, bounds[1:]) if b > a])
    dof = x.size - (len(bounds) - 1)
    return float(math.sqrt((residuals**2).sum() / dof)) if dof > 0 else 0.0


def _segment(x: np.ndarray, s: float, alpha: float, dof: int | None) -> list[int]:
    """Binary segmentation; `dof`: the degrees of freedom of an estimated `s` (Student's t), None for a known one."""
    from scipy.stats import t as student

    found, pending = [], [(0, x.size)]
    while pending:
        start, stop = pending.pop()
        n = stop - start
        if n < 2:
            continue
        k, z = _best_split(x[start:stop], s)
        p = alpha / (2 * (n - 1))
        if z > (NormalDist().inv_cdf(1 - p) if dof is None else float(student.isf(p, max(dof, 1)))):
            found.append(start + k)
            pending += [(start, start + k), (start + k, stop)]
    return sorted(found)


def _best_split(x: np.ndarray, sigma: float) -> tuple[int, float]:
    n = x.size
    k = np.arange(1, n)
    cumulative = np.cumsum(x)[:-1]
    left = cumulative / k
    right = (x.sum() - cumulative) / (n - k)
    z = np.abs(right - left) / (sigma * np.sqrt(1 / k + 1 / (n - k)))
    best = int(np.argmax(z))
    return best + 1, float(z[best])


@dataclass(frozen=True)
class SeriesVerdict:
    """What the history of one figure says: its change points, the newest step and the drift since the reference.

    `step` and `drift` are signed so that positive is worse, in the series' space.
    """

    points: tuple[int, ...]
    step: float
    step_limit: float
    drift: float
    drift_limit: float
    drift_z: float
    drift_significant: bool

    @property
    def step_alarm(self) -> bool:
        return self.step > self.step_limit + 1e-12

    @property
    def drift_alarm(self) -> bool:
        return self.drift > self.drift_limit + 1e-12 and self.drift_significant

    @property
    def alarm(self) -> bool:
        return self.step_alarm or self.drift_alarm


def judge_series(
    values: Sequence[float],
    *,
    worse: int,
    step_limit: float,
    drift_limit: float,
    alpha: float = DEFAULT_ALPHA,
    window: int = DEFAULT_WINDOW,
) -> SeriesVerdict:
    """Change points of a series, the newest step against `step_limit` and the drift since its first value against `drift_limit`.

    Args:
        values: oldest first; the first is the reference run's, the last the run being gated.
        worse: +1 when a larger value is worse (time, instructions, size), -1 when smaller is (accuracy, speed-up).
        step_limit: the largest change between the last two segments that passes (same space as values).
        drift_limit: the largest change of the newest level from the reference level that passes.
        window: at most this many runs of a segment make its level.

    A series shorter than `MIN_RUNS` raises no alarm (its noise is unknown).
    """
    if worse not in (1, -1):
        raise ValueError(f"worse must be +1 (larger is worse) or -1 (smaller is worse), got {worse}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    x = np.asarray(values, dtype=np.float64)
    points = tuple(change_points(x, alpha))
    if x.size < MIN_RUNS:
        return SeriesVerdict(points, 0.0, step_limit, 0.0, drift_limit, 0.0, False)
    sigma = _floor(max(noise_scale(x), within_spread(x, points)), x)
    bounds = (0, *points, x.size)
    step = 0.0
    if points:
        before, newest = x[bounds[-3]:bounds[-2]], x[bounds[-2]:]
        step = worse * (float(newest[:window].mean()) - float(before[-window:].mean()))
    # The levels are the first and the newest runs, whatever the segmentation found: a spurious
    # change point on a short history must not make either a single run.
    size = min(window, max(1, x.size // 2))
    first, last = x[:size], x[-size:]
    drift = worse * (float(last.mean()) - float(first.mean()))
    z = drift / (sigma * math.sqrt(1 / first.size + 1 / last.size))
    # Student's t, not the normal: on a short history the noise itself is an estimate.
    from scipy.stats import t as student

    dof = max(1, 2 * size - 2)
    return SeriesVerdict(points, step, step_limit, drift, drift_limit, z, z > float(student.isf(alpha, dof)))


@dataclass(frozen=True)
class Step:
    """One change point of a series: the new level starts at `index`; `before` and `after` are the two segments' means."""

    index: int
    before: float
    after: float

    @property
    def size(self) -> float:
        return self.after - self.before


def level_steps(values: Sequence[float], points: Sequence[int]) -> list[Step]:
    """Each change point with the means of the segments on either side of it."""
    x = np.asarray(values, dtype=np.float64)
    bounds = (0, *points, x.size)
    return [Step(b, float(x[a:b].mean()), float(x[b:c].mean())) for a, b, c in zip(bounds, bounds[1:], bounds[2:])]
