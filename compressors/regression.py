"""The gate's regression rule: pure functions of two runs' figures, no I/O.

Latency (asv's rule, applied to ratios against a control measured alongside):

* The samples compared are, for each variant, its per-query time divided by the baseline's
  (the control) on the same query, the two called back to back (`control_ratios`, from
  `compressors.harness.measure_interleaved`). A machine that gets busier slows both calls of a
  pair, so the ratio stays put, within a run and from run to run. Runs saved before that was
  recorded fall back to the variant's own samples divided by the baseline's p50 of the same run
  (the `speedup` figure), which a load change between the two measurements does move.
  The baseline itself is compared in raw milliseconds, and only between runs on the same CPU.
* A variant regresses when both hold:
  1. `ratio > latency_factor` (practical significance: the variant got that much slower
     relative to the baseline), where `ratio` is the Hodges-Lehmann estimate of the shift, the
     median of all pairwise ratios current_i / previous_j. It is the effect size that goes with
     the U test, and unlike the ratio of medians it does not jump when a sample is a mixture of
     two modes (a pair run in either order, a call preempted or not) whose median falls
     between them.
  2. a one-sided Mann-Whitney U test says current is stochastically greater than previous with
     `p < latency_p_value` (statistical significance: not one unlucky sample).
* When a run carries no samples (saved without `--benchmark-save-data`), or fewer than
  `MIN_SAMPLES`, only condition 1 is applied, to the ratio of medians.
* Interleaving cancels load that slows both calls of a pair alike. It does not cancel a change
  of machine state that slows models unequally: measured here, going from a 2-core machine
  shared with a training job to an idle one made the fp32 baseline 2.5x faster but the ONNX
  Runtime and int8 variants only 1.4-1.8x faster, while same-architecture torch variants kept
  their ratio. So when the baseline's own latency moved by more than `max_baseline_drift`
  (either way, same CPU), relative latency is shown but not gated, and the passing run becomes
  the reference for the new state.

False-alarm rate: for two sets of independent samples from one distribution, condition 2 alone
fires with probability at most `latency_p_value` (0.001 in `benchmarks/budgets.toml`); requiring
condition 1 as well only lowers it, so at most 0.1% per variant and comparison, and at most
`k * 0.001` for a gate over k variants. `tests/test_regression.py` checks this rate by simulation.
Samples of two real runs are not independent draws (a run shares one machine state), which is
what the factor is for: a run-level drift smaller than the factor never fails the gate.

Power: a 25% slow-down is caught in more than 99.8% of simulated pairs with 50 samples per run,
up to 10% noise and 10% outliers (the small profile takes 60, the full profile 400); much
noisier samples need more rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

# Below this many samples per run the U test cannot reach a strict p-value; use the factor alone.
MIN_SAMPLES = 20


@dataclass(frozen=True)
class GateTolerances:
    """How much worse than the previous passing run a figure may get (the `[gate]` table).

    Attributes:
        max_accuracy_drop: accuracy and in-scope accuracy may fall by at most this (a fraction).
        max_oos_recall_drop: out-of-scope recall may fall by at most this (a fraction).
        max_size_growth: deployed size may grow by at most this fraction (0.01 = 1%).
        latency_factor: a variant's time relative to the baseline's may grow by at most this
            factor (the shift of its interleaved ratios) ...
        latency_p_value: ... and a larger shift only counts when the one-sided Mann-Whitney U
            test gives p below this.
        baseline_latency_factor: the baseline's own median (raw ms, same CPU only) may grow by
            at most this factor (with the same U test). The baseline has no control, and raw
            times on a shared machine move by 1.5x between unchanged runs, so this only guards
            against gross slow-downs (threads, debug builds) unless the machine is quiet.
        max_baseline_drift: when the baseline's own latency moved by more than this factor
            (either way, same CPU), the machine was in a different state: contention slows a
            memory-bound fp32 model and a compute-bound int8 one unequally, so the ratios move
            too. Latency relative to the baseline is then shown but not gated.
    """

    max_accuracy_drop: float = 0.01
    max_oos_recall_drop: float = 0.02
    max_size_growth: float = 0.01
    latency_factor: float = 1.15
    latency_p_value: float = 0.001
    baseline_latency_factor: float = 2.0
    max_baseline_drift: float = 1.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a number, got {value!r}")
        for name in ("max_accuracy_drop", "max_oos_recall_drop"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a fraction in [0, 1], got {getattr(self, name)}")
        if self.max_size_growth < 0:
            raise ValueError(f"max_size_growth must not be negative, got {self.max_size_growth}")
        for name in ("latency_factor", "baseline_latency_factor", "max_baseline_drift"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is a slow-down factor >= 1 (1.15 = 15% slower), got {getattr(self, name)}")
        if not 0 < self.latency_p_value < 1:
            raise ValueError(f"latency_p_value must be in (0, 1), e.g. 0.001, got {self.latency_p_value}")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class LatencyVerdict:
    """The latency rule applied to one variant: the shift ratio and the U test's p-value."""

    ratio: float
    p_value: float | None
    factor: float
    alpha: float

    @property
    def regressed(self) -> bool:
        slower = self.ratio > self.factor
        return slower and (self.p_value is None or self.p_value < self.alpha)

    def describe(self) -> str:
        if self.p_value is None:
            return f"ratio of medians x{self.ratio:.3f}, limit x{self.factor:g}, factor only (no or too few samples)"
        text = f"shift x{self.ratio:.3f}, limit x{self.factor:g}"
        relation = "<" if self.p_value < self.alpha else ">="
        return text + f", Mann-Whitney U p={self.p_value:.2g} {relation} {self.alpha:g}"


def shift_ratio(previous: Sequence[float], current: Sequence[float]) -> float:
    """Hodges-Lehmann estimate of how many times larger `current` is: the median of all current_i / previous_j."""
    previous, current = _positive(previous, "previous"), _positive(current, "current")
    # Above ~4M pairs, evenly spaced order statistics give the same estimate in bounded memory.
    previous, current = (np.sort(x)[np.linspace(0, x.size - 1, min(x.size, 2000)).astype(int)] for x in (previous, current))
    return float(np.exp(np.median(np.subtract.outer(np.log(current), np.log(previous)))))


def typical_ratio(samples: Sequence[float]) -> float:
    """Hodges-Lehmann location of positive samples: exp of the median of all pairwise means of their logs.

    The one-sample counterpart of `shift_ratio`, used to show a run's interleaved speed-up: it
    stays put where a median would jump between the two modes of a mixture.
    """
    logs = np.log(_positive(samples, "ratio"))
    logs = np.sort(logs)[np.linspace(0, logs.size - 1, min(logs.size, 2000)).astype(int)]
    i, j = np.triu_indices(logs.size)
    return float(np.exp(np.median((logs[i] + logs[j]) / 2)))


def latency_regressions(previous: np.ndarray, current: np.ndarray, factor: float, alpha: float) -> np.ndarray:
    """The latency rule over a batch of sample pairs (for simulation), as `compare_latency` decides it.

    Args:
        previous: samples of the previous run, shape (..., n).
        current: samples of the current run, shape (..., m).
        factor: least shift ratio (current / previous) that counts as slower.
        alpha: the one-sided Mann-Whitney U p-value below which "slower" is significant.

    Returns:
        Booleans of shape (...): True where the current samples regressed.
    """
    from scipy.stats import mannwhitneyu

    previous, current = np.asarray(previous, dtype=np.float64), np.asarray(current, dtype=np.float64)
    p = mannwhitneyu(current, previous, alternative="greater", axis=-1, method="asymptotic").pvalue
    regressed = np.asarray(p < alpha)
    flat_previous = previous.reshape(-1, previous.shape[-1])
    flat_current = current.reshape(-1, current.shape[-1])
    flat = regressed.reshape(-1)
    for i in np.flatnonzero(flat):  # the shift is costlier; only where the U test already fired
        flat[i] = shift_ratio(flat_previous[i], flat_current[i]) > factor
    return flat.reshape(regressed.shape)


def compare_latency(previous: Sequence[float], current: Sequence[float], factor: float, alpha: float) -> LatencyVerdict:
    """The latency rule for one variant's samples of two runs (any unit, the same for both)."""
    previous, current = np.asarray(previous, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if previous.size == 0 or current.size == 0:
        raise ValueError(f"need samples of both runs, got {previous.size} previous and {current.size} current")
    if min(previous.size, current.size) < MIN_SAMPLES:
        return LatencyVerdict(float(np.median(current) / np.median(previous)), None, factor, alpha)
    from scipy.stats import mannwhitneyu

    ratio = shift_ratio(previous, current)
    p = float(mannwhitneyu(current, previous, alternative="greater", method="asymptotic").pvalue)
    return LatencyVerdict(ratio, p, factor, alpha)


def _positive(samples: Sequence[float], name: str) -> np.ndarray:
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0 or not (np.all(values > 0) and np.all(np.isfinite(values))):
        raise ValueError(f"{name} samples must be positive, finite times or ratios; got {values.size} value(s), min {values.min(initial=np.inf):g}")
    return values


def compare_medians(previous: float, current: float, factor: float, alpha: float) -> LatencyVerdict:
    """The latency rule when only medians are known: the factor alone."""
    return LatencyVerdict(current / previous, None, factor, alpha)


@dataclass(frozen=True)
class VariantFigures:
    """What the gate compares of one variant in one run (from its saved extra_info and stats).

    `samples_ms` are the per-call times in ms, or None when the run was saved without them.
    `speedup` is baseline p50 / this variant's p50 in the same run.
    `control_ratios` are per-query time / baseline time, measured interleaved; None if not recorded.
    """

    accuracy: float
    in_scope_accuracy: float
    oos_recall: float
    size_bytes: float
    p50_ms: float
    speedup: float
    samples_ms: tuple[float, ...] | None = None
    control_ratios: tuple[float, ...] | None = None

    def normalised_samples(self) -> np.ndarray | None:
        """Per-call times divided by the same run's baseline p50 (= p50_ms * speedup)."""
        if self.samples_ms is None:
            return None
        return np.asarray(self.samples_ms) / (self.p50_ms * self.speedup)


@dataclass(frozen=True)
class Finding:
    """One figure of one variant compared between two runs; `exceeded` the rule, and whether that counts."""

    variant: str
    figure: str
    previous: float
    current: float
    rule: str
    exceeded: bool
    gated: bool = True

    @property
    def regressed(self) -> bool:
        return self.exceeded and self.gated

    @property
    def verdict(self) -> str:
        if self.regressed:
            return "REGRESSED"
        return "exceeded, not gated" if self.exceeded else "ok"

    def __str__(self) -> str:
        return f"{self.verdict}: variant {self.variant!r}: {self.figure} {self.previous:.4g} -> {self.current:.4g} ({self.rule})"


def baseline_drift(previous: VariantFigures, current: VariantFigures) -> float:
    """How many times slower the baseline itself ran in `current`: the machine's change of state."""
    if previous.samples_ms and current.samples_ms and min(len(previous.samples_ms), len(current.samples_ms)) >= MIN_SAMPLES:
        return shift_ratio(previous.samples_ms, current.samples_ms)
    return current.p50_ms / previous.p50_ms


def compare_variant(
    variant: str,
    previous: VariantFigures,
    current: VariantFigures,
    tolerances: GateTolerances,
    *,
    control: bool = False,
    same_cpu: bool = True,
    same_int8_flags: bool = True,
    drift: float | None = None,
) -> list[Finding]:
    """Every gated figure of one variant, previous run vs current run.

    Args:
        control: the variant is the baseline other variants are normalised by; its latency is
            compared in raw ms, and only when `same_cpu`.
        same_cpu: both runs ran on the same CPU model, count and threads.
        same_int8_flags: both machines had the same int8 CPU flags; when not, normalised latency
            is not compared (int8 speed-ups depend on them).
        drift: `baseline_drift` of the two runs, when known; beyond `max_baseline_drift` either
            way, latency relative to the baseline is shown but not gated.
    """
    t = tolerances
    findings = []
    for figure, limit in (
        ("accuracy", t.max_accuracy_drop),
        ("in_scope_accuracy", t.max_accuracy_drop),
        ("oos_recall", t.max_oos_recall_drop),
    ):
        before, after = getattr(previous, figure), getattr(current, figure)
        if math.isnan(before) or math.isnan(after):
            continue
        findings.append(Finding(variant, figure, before, after, f"drop <= {limit:g}", before - after > limit + 1e-12))
    growth_limit = previous.size_bytes * (1 + t.max_size_growth)
    findings.append(
        Finding(
            variant, "size_mb", previous.size_bytes / 1e6, current.size_bytes / 1e6,
            f"growth <= {t.max_size_growth:.0%}", current.size_bytes > growth_limit,
        )
    )
    if control:
        if same_cpu:
            verdict = _latency(previous.samples_ms, current.samples_ms, previous.p50_ms, current.p50_ms, t.baseline_latency_factor, t)
            findings.append(Finding(variant, "p50_ms", previous.p50_ms, current.p50_ms, verdict.describe(), verdict.regressed))
        return findings
    if not same_int8_flags:
        return findings
    steady = drift is None or 1 / t.max_baseline_drift <= drift <= t.max_baseline_drift
    if previous.control_ratios and current.control_ratios:
        verdict = compare_latency(previous.control_ratios, current.control_ratios, t.latency_factor, t.latency_p_value)
        figure, before, after = "interleaved speedup", 1 / typical_ratio(previous.control_ratios), 1 / typical_ratio(current.control_ratios)
    else:
        # Samples divided by the same run's baseline p50: their shift is about previous / current speedup.
        verdict = _latency(
            previous.normalised_samples(), current.normalised_samples(),
            1 / previous.speedup, 1 / current.speedup, t.latency_factor, t,
        )
        figure, before, after = "speedup", previous.speedup, current.speedup
    findings.append(Finding(variant, figure, before, after, verdict.describe(), verdict.regressed, gated=steady))
    return findings


def _latency(previous, current, previous_median: float, current_median: float, factor: float, t: GateTolerances) -> LatencyVerdict:
    if previous is None or current is None:
        return compare_medians(previous_median, current_median, factor, t.latency_p_value)
    return compare_latency(previous, current, factor, t.latency_p_value)
