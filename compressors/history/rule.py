"""The gate's regression rule: pure functions of two runs' figures, no I/O.

Latency (asv's rule, applied to ratios against a control measured alongside):

* The samples compared are, for each variant, its paired ratios: per block pair, its median
  call time over the baseline's on the same queries, the two blocks run back to back, warm
  (`paired_ratios`, from `compressors.measure.paired`). A machine that gets busier slows both
  blocks of a pair, so the ratio stays put, within a run and from run to run. Runs that carry
  no paired ratios fall back to the plain ratio of p50s (`p50_ratio`), with the factor alone.
  The baseline itself is compared in raw milliseconds, and only between runs on the same CPU.
* A variant regresses when both hold:
  1. `ratio > latency_factor` (practical significance: the variant got that much slower
     relative to the baseline), where `ratio` is the Hodges-Lehmann estimate of the shift, the
     median of all pairwise ratios current_i / previous_j. It is the effect size that goes with
     the U test, and unlike the ratio of medians it does not jump when a sample is a mixture of
     two modes whose median falls between them.
  2. a one-sided Mann-Whitney U test says current is stochastically greater than previous with
     `p < latency_p_value` (statistical significance: not one unlucky sample).
* With fewer than `MIN_SAMPLES` ratios in a run, only condition 1 is applied, to the ratio of medians.
* Pairing cancels load that slows both blocks of a pair alike. It does not cancel a change of
  machine state that slows models unequally: measured here, going from a 2-core machine shared
  with a training job to an idle one made the fp32 baseline 2.5x faster but the ONNX Runtime and
  int8 variants only 1.4-1.8x faster. So a wall-clock comparison is made only when both runs
  were quiet: each run records the share of the machine's CPU time other processes used while a
  variant was timed (`machine_load`); when either run's share exceeds `max_machine_load`, or is
  unknown, the comparison is inconclusive (neither pass nor fail; `machine_busy`), and the
  variant's verdict rests on its cost, accuracy and size. Between quiet runs on the same CPU, a
  baseline that itself moved by more than `max_baseline_drift` fails the run (`gate.py`): a
  change can cause that, so it must not switch relative latency off.
* Cost: instructions per query under callgrind are deterministic, so they are compared raw (not
  relative to the baseline) with `cost_factor`, between runs of the same instruction set
  (`cost_isa`) whatever the CPU model or load.
* A figure the previous run had and the current run lacks (missing or NaN) fails.
* Accuracy is judged on the point estimate (at most `max_accuracy_drop` lower), and, when both
  runs stored which test queries each answered right (`Figures.right_answers`, the same queries
  in the same order), the verdict carries the paired difference on those queries with its exact
  95% interval and McNemar's p (`measure.significance.paired_difference`): whether the change is
  beyond chance is said beside the verdict, not used to pass or fail it.

False-alarm rate: for two sets of independent samples from one distribution, condition 2 alone
fires with probability at most `latency_p_value` (0.001 in the budgets file); requiring
condition 1 as well only lowers it, so at most 0.1% per variant and comparison, and at most
`k * 0.001` for a gate over k variants. `tests/history/test_rule.py` checks this rate by
simulation. Samples of two real runs are not independent draws (a run shares one machine
state), which is what the factor is for: a run-level drift smaller than the factor never fails.

Power: a 25% slow-down is caught in more than 99.8% of simulated pairs with 50 samples per run,
up to 10% noise and 10% outliers; the paired ratios of a block pair are medians of 10-20 calls,
far less noisy than single calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compressors.history.tolerances import GateTolerances
from compressors.measure.figures import Figures
from compressors.measure.significance import PairedDifference, decode_answers, paired_difference

# Below this many samples per run the U test cannot reach a strict p-value; use the factor alone.
MIN_SAMPLES = 20


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

    The one-sample counterpart of `shift_ratio`: it stays put where a median would jump between
    the two modes of a mixture.
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
class Finding:
    """One figure of one variant compared between two runs, and whether it `exceeded` the rule.

    `unjudged` names why a comparison was neither pass nor fail ("inconclusive": a busy machine;
    "not gated": a figure neither run can be compared on); empty when it was judged. `paired`: for
    accuracy, the current run's minus the earlier run's on the same queries with its 95% interval
    and McNemar's p, when both runs stored their answers; `unpaired` says why not, where one did.
    """

    variant: str
    figure: str
    previous: float
    current: float
    rule: str
    exceeded: bool
    unjudged: str = ""
    paired: PairedDifference | None = None
    unpaired: str = ""

    @property
    def regressed(self) -> bool:
        return self.exceeded and not self.unjudged

    @property
    def verdict(self) -> str:
        if self.unjudged:
            return self.unjudged
        return "REGRESSED" if self.exceeded else "ok"

    @property
    def significance(self) -> str:
        """The paired difference and whether it is beyond chance, e.g. "-1.20 points [-1.90, -0.52], p=0.0004 over 450 queries: significant"."""
        if self.paired is None:
            return self.unpaired
        return f"{self.paired.describe()}: {'significant' if self.paired.significant else 'not significant'} (McNemar, 5%)"

    def __str__(self) -> str:
        paired = f"; paired {self.significance}" if self.paired else (f"; {self.unpaired}" if self.unpaired else "")
        return f"{self.verdict}: variant {self.variant!r}: {self.figure} {self.previous:.4g} -> {self.current:.4g} ({self.rule}{paired})"


def paired_accuracy(previous: Figures, current: Figures) -> tuple[PairedDifference | None, str]:
    """The paired difference in accuracy, current minus previous, on the same test queries; or None and why not.

    Needs both runs' `right_answers` (per query 1 right, 0 wrong, in the split's order) of one length.
    """
    texts = getattr(previous, "right_answers", ""), getattr(current, "right_answers", "")
    if not all(texts):
        return None, ("" if not any(texts) else "not paired: only one run stored its answers")
    before, after = (decode_answers(text) for text in texts)
    if before is None or after is None or before.max(initial=0) > 1 or after.max(initial=0) > 1:
        return None, "not paired: a stored answers record is not a right/wrong list"
    if before.size != after.size or not before.size:
        return None, f"not paired: {before.size} and {after.size} queries (another test split)"
    return paired_difference(before.astype(bool), after.astype(bool)), ""


def machine_busy(loads: Sequence[float], max_machine_load: float) -> str:
    """Why wall-clock figures timed under these loads cannot be judged, or "" when every one is quiet.

    A NaN load (not recorded) counts as busy: missing data never loosens a verdict.
    """
    if all(load <= max_machine_load for load in loads):  # False for NaN
        return ""
    worst = max((load for load in loads if not math.isnan(load)), default=math.nan)
    if any(math.isnan(load) for load in loads):
        return f"machine busy: the share of the CPU time others used was not recorded (limit {max_machine_load:.0%})"
    return f"machine busy: others used {worst:.0%} of the CPU time (limit {max_machine_load:.0%})"


def baseline_drift(previous_samples_ms: Sequence[float], current_samples_ms: Sequence[float],
                   previous_p50_ms: float, current_p50_ms: float) -> float:
    """How many times slower the baseline itself ran in the current run: the machine's change of state."""
    if min(len(previous_samples_ms), len(current_samples_ms)) >= MIN_SAMPLES:
        return shift_ratio(previous_samples_ms, current_samples_ms)
    return current_p50_ms / previous_p50_ms


def compare_variant(
    variant: str,
    previous: Figures,
    current: Figures,
    tolerances: GateTolerances,
    *,
    control: bool = False,
    previous_samples_ms: Sequence[float] = (),
    current_samples_ms: Sequence[float] = (),
    same_cpu: bool = True,
    same_int8_flags: bool = True,
    run_loads: Sequence[float] = (),
) -> list[Finding]:
    """Every gated figure of one variant, previous run vs current run.

    Args:
        control: the variant is the baseline other variants are timed against; its latency is
            compared in raw ms (its per-call samples), and only when `same_cpu`.
        same_cpu: both runs ran on the same CPU model, count and threads.
        same_int8_flags: both machines had the same int8 CPU flags; when not, relative latency
            is not compared (int8 speed-ups depend on them).
        run_loads: for the control, the loads of both runs' variants (its own timing records
            none): its raw latency is judged only when all were quiet.
    """
    t = tolerances
    findings = []
    for figure, limit in (
        ("accuracy", t.max_accuracy_drop),
        ("in_scope_accuracy", t.max_accuracy_drop),
        ("oos_recall", t.max_oos_recall_drop),
    ):
        before, after = getattr(previous, figure), getattr(current, figure)
        if math.isnan(before):
            if not math.isnan(after):  # said, not skipped silently: the earlier run cannot vouch for it
                findings.append(Finding(variant, figure, before, after, "not measured in the earlier run", False, "not gated"))
            continue
        if math.isnan(after):
            findings.append(Finding(variant, figure, before, after, "missing or NaN in this run", True))
            continue
        # Overall accuracy is the share of right answers: pair it query by query when both runs kept them.
        paired, unpaired = paired_accuracy(previous, current) if figure == "accuracy" else (None, "")
        findings.append(Finding(variant, figure, before, after, f"drop <= {limit:g}", before - after > limit + 1e-12,
                                paired=paired, unpaired=unpaired))
    if math.isnan(previous.size_bytes) and not math.isnan(current.size_bytes):
        findings.append(Finding(variant, "size_mb", previous.size_mb, current.size_mb, "not measured in the earlier run", False, "not gated"))
    if not math.isnan(previous.size_bytes):
        growth_limit = previous.size_bytes * (1 + t.max_size_growth)
        exceeded = math.isnan(current.size_bytes) or current.size_bytes > growth_limit
        findings.append(Finding(variant, "size_mb", previous.size_mb, current.size_mb, f"growth <= {t.max_size_growth:.0%}", exceeded))
    findings += compare_cost(variant, previous, current, t.cost_factor)
    busy = machine_busy(run_loads, t.max_machine_load) if control else machine_busy(
        (previous.machine_load, current.machine_load), t.max_machine_load)
    if control:
        if same_cpu:
            verdict = _latency(previous_samples_ms, current_samples_ms, previous.p50_ms, current.p50_ms, t.baseline_latency_factor, t)
            findings.append(_wall_clock(variant, "p50_ms", previous.p50_ms, current.p50_ms, verdict, busy))
        return findings
    if not same_int8_flags:
        return findings
    if previous.paired_ratios and not current.paired_ratios:
        findings.append(Finding(variant, "speedup", previous.speedup, current.speedup, "paired ratios missing in this run", True))
    elif previous.paired_ratios:
        verdict = compare_latency(previous.paired_ratios, current.paired_ratios, t.latency_factor, t.latency_p_value)
        findings.append(_wall_clock(variant, "speedup", previous.speedup, current.speedup, verdict, busy))
    elif not (math.isnan(previous.p50_ratio) or math.isnan(current.p50_ratio)):
        verdict = compare_medians(1 / previous.p50_ratio, 1 / current.p50_ratio, t.latency_factor, t.latency_p_value)
        findings.append(_wall_clock(variant, "p50_ratio", previous.p50_ratio, current.p50_ratio, verdict, busy))
    return findings


def compare_cost(variant: str, previous: Figures, current: Figures, factor: float) -> list[Finding]:
    """Instructions per query, raw, between runs of one instruction set: at most `factor` more.

    A run that had the figure and now lacks it fails; when the earlier run lacks it, or the
    instruction sets differ, the comparison is shown as not gated.
    """
    before, after = previous.instructions_per_query, current.instructions_per_query
    figure = "instructions_per_query"
    if math.isnan(before) and math.isnan(after):
        return [Finding(variant, figure, before, after, "cost not measured in either run", False, "not gated")]
    if math.isnan(before):
        return [Finding(variant, figure, before, after, "cost not measured in the earlier run", False, "not gated")]
    if math.isnan(after):
        return [Finding(variant, figure, before, after, "missing or NaN in this run", True)]
    if previous.cost_isa != current.cost_isa:
        why = f"instruction set {previous.cost_isa or '?'} -> {current.cost_isa or '?'}: cost not comparable"
        return [Finding(variant, figure, before, after, why, False, "not gated")]
    ratio = after / before
    return [Finding(variant, figure, before, after, f"x{ratio:.4f}, limit x{factor:g} ({current.cost_isa or 'isa unknown'})", ratio > factor)]


def _wall_clock(variant: str, figure: str, before: float, after: float, verdict: LatencyVerdict, busy: str) -> Finding:
    if busy:
        return Finding(variant, figure, before, after, f"{busy}; {verdict.describe()}", verdict.regressed, "inconclusive")
    return Finding(variant, figure, before, after, verdict.describe(), verdict.regressed)


def _latency(previous: Sequence[float], current: Sequence[float], previous_median: float, current_median: float,
             factor: float, t: GateTolerances) -> LatencyVerdict:
    if not previous or not current:
        return compare_medians(previous_median, current_median, factor, t.latency_p_value)
    return compare_latency(previous, current, factor, t.latency_p_value)
