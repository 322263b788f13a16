"""The gate's regression rule on synthetic samples: false-alarm rate, power, and each figure's rule."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressors.history.tolerances import GateTolerances
from compressors.measure.figures import Figures
from compressors.history.rule import (
    MIN_SAMPLES,
    baseline_drift,
    compare_latency,
    compare_medians,
    compare_cost,
    compare_variant,
    latency_regressions,
    machine_busy,
    paired_accuracy,
    shift_ratio,
)
from compressors.measure.significance import encode_answers

TOLERANCES = GateTolerances()  # the defaults, which benchmarks/budgets.toml repeats
FACTOR, ALPHA = TOLERANCES.latency_factor, TOLERANCES.latency_p_value


def latencies(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, outliers: float, scale: float = 1.0) -> np.ndarray:
    """Per-call times: lognormal noise around `scale`, a fraction of calls 1.5-3x slower (preemption)."""
    times = scale * np.exp(rng.normal(0.0, sigma, shape))
    slow = rng.random(shape) < outliers
    return np.where(slow, times * rng.uniform(1.5, 3.0, shape), times)


noise = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.integers(MIN_SAMPLES, 400),
        "sigma": st.floats(0.01, 0.5),
        "outliers": st.floats(0.0, 0.3),
        "scale": st.floats(0.1, 100.0),
    }
)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(noise)
def test_equal_distributions_fail_at_most_at_the_documented_rate(params) -> None:
    # 4000 pairs from one distribution: the rule may fire on at most ALPHA of them (0.1%, i.e.
    # 4 expected at worst); allow the binomial's one-in-a-million upper tail above that.
    from scipy.stats import binom

    rng = np.random.default_rng(params["seed"])
    pairs = 4000
    shape = (pairs, params["n"])
    args = (params["sigma"], params["outliers"], params["scale"])
    alarms = int(latency_regressions(latencies(rng, shape, *args), latencies(rng, shape, *args), FACTOR, ALPHA).sum())
    assert alarms <= binom.ppf(1 - 1e-6, pairs, ALPHA), f"{alarms} false alarms in {pairs} equal pairs"


def test_false_alarm_rate_over_many_equal_pairs_is_within_alpha() -> None:
    # The documented rate, measured: 100,000 equal pairs of the small profile's size (60 calls).
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(10):
        a, b = latencies(rng, (10_000, 60), 0.3, 0.2), latencies(rng, (10_000, 60), 0.3, 0.2)
        alarms += int(latency_regressions(a, b, FACTOR, ALPHA).sum())
    assert alarms / 100_000 <= ALPHA * 1.3  # 100 expected at rate ALPHA; sd 10


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(50, 400),
    sigma=st.floats(0.0, 0.1),
    outliers=st.floats(0.0, 0.1),
    scale=st.floats(0.1, 100.0),
)
def test_a_25_percent_slowdown_fails(seed, n, sigma, outliers, scale) -> None:
    rng = np.random.default_rng(seed)
    previous = latencies(rng, (n,), sigma, outliers, scale)
    current = latencies(rng, (n,), sigma, outliers, scale * 1.25)
    verdict = compare_latency(previous, current, FACTOR, ALPHA)
    assert verdict.regressed, verdict.describe()


@given(
    samples=st.lists(st.floats(1e-4, 1.0), min_size=MIN_SAMPLES, max_size=200),
    shift=st.floats(0.5, FACTOR * 0.999),
)
def test_a_drift_within_the_factor_never_fails_however_significant(samples, shift) -> None:
    # A whole run slower by less than the factor (a busier machine) is not a regression.
    verdict = compare_latency(samples, [s * shift for s in samples], FACTOR, ALPHA)
    assert not verdict.regressed
    assert verdict.ratio == pytest.approx(shift)


def test_the_shift_does_not_jump_with_the_mode_a_median_falls_in() -> None:
    # Pairs run in either order come out near 0.5 or near 2 (the second call is faster); a median
    # of such a sample sits in the gap and jumps with one sample, the Hodges-Lehmann shift does not.
    rng = np.random.default_rng(3)
    def mixture(low: int, high: int) -> np.ndarray:
        return np.concatenate([latencies(rng, (low,), 0.05, 0.0, 0.5), latencies(rng, (high,), 0.05, 0.0, 2.0)])
    previous, current = mixture(31, 29), mixture(29, 31)
    assert np.median(current) / np.median(previous) > 2.5
    assert shift_ratio(previous, current) == pytest.approx(1.0, abs=0.1)
    assert not compare_latency(previous, current, FACTOR, ALPHA).regressed


def test_the_factor_alone_decides_without_enough_samples() -> None:
    verdict = compare_latency([1.0] * (MIN_SAMPLES - 1), [2.0] * (MIN_SAMPLES - 1), FACTOR, ALPHA)
    assert verdict.p_value is None and verdict.regressed
    assert "factor only" in verdict.describe()
    assert not compare_medians(1.0, 1.1, FACTOR, ALPHA).regressed
    assert compare_medians(1.0, 1.2, FACTOR, ALPHA).regressed


def test_verdict_names_ratio_limit_and_p_value() -> None:
    rng = np.random.default_rng(0)
    base = latencies(rng, (60,), 0.05, 0.0)
    text = compare_latency(base, base * 1.5, FACTOR, ALPHA).describe()
    assert "x1.500" in text and "limit x1.15" in text and "Mann-Whitney U p=" in text and "< 0.001" in text


def figures(accuracy=0.9, size=10e6, p50=3.0, speedup=2.0, oos=0.5, paired=(), load=0.05) -> Figures:
    """A variant's figures, timed on a quiet machine unless `load` says otherwise."""
    return Figures("v", accuracy=accuracy, in_scope_accuracy=accuracy + 0.01, oos_recall=oos, size_bytes=size,
                   p50_ms=p50, speedup=speedup, p50_ratio=speedup, paired_ratios=tuple(paired), machine_load=load)


def regressed(findings) -> dict[str, tuple[float, float]]:
    return {f.figure: (f.previous, f.current) for f in findings if f.regressed}


def test_accuracy_drop_beyond_tolerance_fails_within_passes() -> None:
    assert regressed(compare_variant("v", figures(0.90), figures(0.895), TOLERANCES)) == {}
    found = regressed(compare_variant("v", figures(0.90), figures(0.88), TOLERANCES))
    assert found == {"accuracy": (0.90, 0.88), "in_scope_accuracy": (pytest.approx(0.91), pytest.approx(0.89))}


def test_oos_recall_has_its_own_tolerance_and_a_figure_absent_before_is_said_not_skipped() -> None:
    found = compare_variant("v", figures(oos=0.5), figures(oos=0.45), TOLERANCES)
    assert regressed(found) == {"oos_recall": (0.5, 0.45)}
    found = {f.figure: f for f in compare_variant("v", figures(oos=math.nan), figures(oos=0.0), TOLERANCES)}
    assert found["oos_recall"].verdict == "not gated" and found["oos_recall"].rule == "not measured in the earlier run"


@pytest.mark.parametrize(("argument", "figure"), [("accuracy", "accuracy"), ("oos", "oos_recall"), ("size", "size_mb")])
def test_a_figure_that_turns_nan_or_goes_missing_fails(argument, figure) -> None:
    found = regressed(compare_variant("v", figures(), figures(**{argument: math.nan}), TOLERANCES))
    assert figure in found


def test_size_growth_beyond_tolerance_fails() -> None:
    assert regressed(compare_variant("v", figures(size=10e6), figures(size=10.05e6), TOLERANCES)) == {}
    assert regressed(compare_variant("v", figures(size=10e6), figures(size=10.2e6), TOLERANCES)) == {"size_mb": (10.0, 10.2)}


def test_latency_is_judged_on_the_paired_ratios() -> None:
    rng = np.random.default_rng(2)
    before = figures(speedup=2.0, paired=latencies(rng, (30,), 0.03, 0.0, 0.5))
    same = figures(speedup=2.0, paired=latencies(rng, (30,), 0.03, 0.0, 0.5))
    found = compare_variant("v", before, same, TOLERANCES)
    assert regressed(found) == {} and "speedup" in {f.figure for f in found}
    slower = figures(speedup=1.6, paired=latencies(rng, (30,), 0.03, 0.0, 0.5 * 1.25))
    assert regressed(compare_variant("v", before, slower, TOLERANCES)) == {"speedup": (2.0, 1.6)}


SMALL = GateTolerances(latency_factor=1.2, max_machine_load=0.25)


def test_machine_busy_names_the_load_and_a_missing_load_is_busy() -> None:
    assert machine_busy((0.05, 0.25), 0.25) == ""
    assert machine_busy((0.05, 0.6), 0.25) == "machine busy: others used 60% of the CPU time (limit 25%)"
    assert "not recorded" in machine_busy((0.05, math.nan), 0.25)
    assert "not recorded" in machine_busy((math.nan,), 1.0)  # NaN never counts as quiet, whatever the limit


@given(st.lists(st.floats(0, 1) | st.just(math.nan), min_size=1, max_size=5), st.floats(0, 1))
def test_a_run_counts_as_quiet_only_when_every_recorded_load_is_at_most_the_limit(loads, limit) -> None:
    quiet = machine_busy(loads, limit) == ""
    assert quiet == all(not math.isnan(load) and load <= limit for load in loads)


@pytest.mark.parametrize(("load", "verdict"), [(0.05, "REGRESSED"), (0.6, "inconclusive"), (math.nan, "inconclusive")])
def test_a_1_25x_slowdown_is_caught_between_quiet_runs_and_inconclusive_when_either_was_busy(load, verdict) -> None:
    rng = np.random.default_rng(6)
    before = replace(figures(speedup=6.0, paired=latencies(rng, (20,), 0.05, 0.05, 1 / 6)), machine_load=0.05)
    slowed = replace(figures(speedup=4.8, paired=latencies(rng, (20,), 0.05, 0.05, 1.25 / 6)), machine_load=load)
    finding = compare_variant("v", before, slowed, SMALL)[-1]
    assert finding.figure == "speedup" and finding.verdict == verdict
    assert finding.regressed is (verdict == "REGRESSED") and "limit x1.2" in finding.rule


def test_an_unchanged_variant_on_a_busy_machine_is_inconclusive_too() -> None:
    rng = np.random.default_rng(7)
    before = replace(figures(paired=latencies(rng, (30,), 0.03, 0.0, 0.5)), machine_load=0.6)
    after = replace(figures(paired=latencies(rng, (30,), 0.03, 0.0, 0.5)), machine_load=0.01)
    assert compare_variant("v", before, after, TOLERANCES)[-1].verdict == "inconclusive"


def cost(value: float, isa: str = "AVX2") -> Figures:
    return replace(figures(), instructions_per_query=value, cost_isa=isa)


@pytest.mark.parametrize(
    ("before", "after", "verdict", "rule"),
    [
        (cost(1e9), cost(1.029e9), "ok", "x1.0290, limit x1.03 (AVX2)"),
        (cost(1e9), cost(1.031e9), "REGRESSED", "x1.0310, limit x1.03 (AVX2)"),
        (cost(1e9), cost(math.nan), "REGRESSED", "missing or NaN in this run"),
        (cost(math.nan), cost(1e9), "not gated", "cost not measured in the earlier run"),
        (cost(math.nan), cost(math.nan), "not gated", "cost not measured in either run"),
        (cost(1e9), cost(2e9, "AVX512"), "not gated", "instruction set AVX2 -> AVX512: cost not comparable"),
    ],
)
def test_cost_is_compared_raw_with_the_cost_factor_within_one_instruction_set(before, after, verdict, rule) -> None:
    (finding,) = compare_cost("v", before, after, 1.03)
    assert finding.figure == "instructions_per_query" and finding.verdict == verdict and finding.rule == rule


@given(st.floats(1e6, 1e12), st.floats(0.5, 2.0), st.floats(1.0, 1.5))
def test_cost_fails_exactly_when_it_grew_beyond_the_factor_whatever_the_load(before, ratio, factor) -> None:
    previous = replace(cost(before), machine_load=0.9)
    (finding,) = compare_cost("v", previous, cost(before * ratio), factor)
    assert finding.regressed == (before * ratio / before > factor)


def test_paired_ratios_missing_from_the_current_run_fail() -> None:
    rng = np.random.default_rng(3)
    before = figures(paired=latencies(rng, (30,), 0.03, 0.0, 0.5))
    assert "speedup" in regressed(compare_variant("v", before, figures(paired=()), TOLERANCES))


def test_runs_without_paired_ratios_fall_back_to_the_plain_p50_ratio_with_the_factor_alone() -> None:
    assert regressed(compare_variant("v", figures(speedup=2.0), figures(speedup=1.9), TOLERANCES)) == {}
    assert regressed(compare_variant("v", figures(speedup=2.0), figures(speedup=1.5), TOLERANCES)) == {"p50_ratio": (2.0, 1.5)}


def test_baseline_drift_is_the_shift_of_its_raw_samples() -> None:
    rng = np.random.default_rng(5)
    raw = latencies(rng, (60,), 0.05, 0.0, 6.0)
    assert baseline_drift(tuple(raw), tuple(raw * 0.4), 6.0, 2.4) == pytest.approx(0.4)
    assert baseline_drift((), (), 6.0, 9.0) == pytest.approx(1.5)  # no samples: p50s


def test_control_latency_is_raw_and_only_on_the_same_cpu() -> None:
    before, after = figures(p50=6.0, speedup=1.0), figures(p50=13.0, speedup=1.0)
    assert regressed(compare_variant("baseline", before, after, TOLERANCES, control=True)) == {"p50_ms": (6.0, 13.0)}
    assert regressed(compare_variant("baseline", before, figures(p50=11.0, speedup=1.0), TOLERANCES, control=True)) == {}
    other_cpu = compare_variant("baseline", before, after, TOLERANCES, control=True, same_cpu=False)
    assert {f.figure for f in other_cpu} == {"accuracy", "in_scope_accuracy", "oos_recall", "size_mb", "instructions_per_query"}
    busy = compare_variant("baseline", before, after, TOLERANCES, control=True, run_loads=(0.05, 0.5))[-1]
    assert busy.figure == "p50_ms" and busy.verdict == "inconclusive" and "others used 50% of the CPU time" in busy.rule


def test_relative_latency_is_skipped_across_int8_flags() -> None:
    found = compare_variant("v", figures(speedup=4.0), figures(speedup=1.0), TOLERANCES, same_int8_flags=False)
    assert not {"speedup", "p50_ratio"} & {f.figure for f in found}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"latency_factor": 0.9}, "latency_factor is a slow-down factor >= 1"),
        ({"latency_p_value": 0.0}, r"latency_p_value must be in \(0, 1\)"),
        ({"max_accuracy_drop": 2.0}, r"max_accuracy_drop is a fraction in \[0, 1\]"),
        ({"max_size_growth": -0.1}, "max_size_growth must not be negative"),
        ({"latency_factor": "1.2"}, "latency_factor must be a number, got '1.2'"),
        ({"baseline_latency_factor": True}, "baseline_latency_factor must be a number, got True"),
        ({"max_baseline_drift": 0.5}, "max_baseline_drift is a slow-down factor >= 1"),
        ({"cost_factor": 0.8}, "cost_factor is a slow-down factor >= 1"),
        ({"max_machine_load": 1.5}, r"max_machine_load is a share of the CPU time in \[0, 1\]"),
    ],
)
def test_tolerances_validate(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        GateTolerances(**values)


def _answered(right: np.ndarray, accuracy_delta: float = 0.0) -> Figures:
    """A variant's figures whose stored answers are `right` (its accuracy their share)."""
    return Figures("distilled", accuracy=float(right.mean()) + accuracy_delta, right_answers=encode_answers(right.astype(int)))


def test_an_accuracy_verdict_carries_the_paired_difference_on_the_same_queries() -> None:
    rng = np.random.default_rng(0)
    before = rng.random(400) < 0.85
    after = before.copy()
    after[np.flatnonzero(before)[:20]] = False  # 20 queries lost, none gained: 5 points, beyond chance
    finding = next(f for f in compare_variant("distilled", _answered(before), _answered(after), GateTolerances()) if f.figure == "accuracy")
    assert finding.regressed and finding.paired is not None
    assert finding.paired.difference == pytest.approx(-0.05) and finding.paired.queries == 400
    assert finding.paired.high < 0 and finding.paired.p_value < 1e-5 and finding.paired.significant
    assert finding.significance == f"{finding.paired.describe()}: significant (McNemar, 5%)"
    assert str(finding).endswith(f"(drop <= 0.01; paired {finding.significance})")
    # Only overall accuracy is paired: the other figures' rows carry no difference.
    assert all(f.paired is None and not f.significance for f in compare_variant(
        "distilled", _answered(before), _answered(after), GateTolerances()) if f.figure != "accuracy")


def test_a_drop_within_the_limit_passes_on_the_point_estimate_and_says_whether_it_is_significant() -> None:
    before = np.ones(2000, dtype=bool)
    after = before.copy()
    after[:16] = False  # 0.8 point, all of one sign: within 1 point, yet beyond chance
    finding = compare_variant("distilled", _answered(before), _answered(after), GateTolerances())[0]
    assert not finding.regressed and finding.paired.significant and "significant (McNemar" in finding.significance
    mixed_before = np.arange(200) % 2 == 0
    mixed_after = mixed_before.copy()
    mixed_after[[0, 2, 4]], mixed_after[[1, 3]] = False, True  # 3 lost, 2 gained: -0.5 point, chance
    finding = compare_variant("distilled", _answered(mixed_before), _answered(mixed_after), GateTolerances())[0]
    assert not finding.regressed and not finding.paired.significant
    assert finding.paired.low < 0 < finding.paired.high and finding.significance.endswith(": not significant (McNemar, 5%)")


def test_answers_that_cannot_be_paired_say_why_and_change_no_verdict() -> None:
    right = np.arange(100) % 3 == 0
    both = _answered(right), _answered(right[:90])
    finding = compare_variant("distilled", *both, GateTolerances())[0]
    assert finding.paired is None and finding.significance == "not paired: 100 and 90 queries (another test split)"
    assert paired_accuracy(Figures("distilled", accuracy=0.5), _answered(right)) == (None, "not paired: only one run stored its answers")
    assert paired_accuracy(Figures("distilled", accuracy=0.5), Figures("distilled", accuracy=0.5)) == (None, "")
    garbled = replace(_answered(right), right_answers="not base64!")
    assert paired_accuracy(garbled, _answered(right))[1] == "not paired: a stored answers record is not a right/wrong list"
    classes = replace(_answered(right), right_answers=encode_answers(np.arange(100) % 7))  # class ids, not right/wrong
    assert paired_accuracy(classes, _answered(right))[0] is None
