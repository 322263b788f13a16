"""McNemar's exact test on two models' answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressors.measure.significance import compare_answers, decode_answers, encode_answers, mcnemar_exact, paired_difference


@pytest.mark.parametrize(
    ("gained", "lost", "p"),
    [(0, 0, 1.0), (10, 0, 2 / 1024), (22, 18, 0.6358), (26, 20, 0.4614), (5, 5, 1.0), (30, 10, 0.00222)],
)
def test_known_values(gained, lost, p) -> None:
    assert mcnemar_exact(gained, lost) == pytest.approx(p, abs=5e-5)


@given(st.integers(0, 300), st.integers(0, 300))
def test_the_p_value_is_symmetric_and_a_probability(gained, lost) -> None:
    p = mcnemar_exact(gained, lost)
    assert 0 < p <= 1 and p == mcnemar_exact(lost, gained)


@given(st.integers(0, 200), st.integers(1, 200))
def test_a_more_uneven_split_is_never_more_likely(gained, lost) -> None:
    assert mcnemar_exact(gained + 1, lost - 1) <= mcnemar_exact(gained, lost) or gained + 1 <= lost - 1


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        mcnemar_exact(-1, 3)


def test_compare_counts_only_the_answers_where_exactly_one_model_is_right() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    first = np.array([0, 1, 9, 9, 4, 9])  # right on 0, 1, 4
    second = np.array([0, 9, 2, 3, 9, 9])  # right on 0, 2, 3
    result = compare_answers(first, second, labels)
    assert (result.gained, result.lost) == (2, 2) and result.p_value == 1.0


def test_compare_needs_one_prediction_per_label_from_each() -> None:
    with pytest.raises(ValueError, match="one prediction per label"):
        compare_answers(np.zeros(3), np.zeros(4), np.zeros(3))


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=300))
def test_a_paired_difference_lies_in_its_interval_which_excludes_zero_when_mcnemar_rejects(pairs) -> None:
    first, second = (np.array(side) for side in zip(*pairs))
    difference = paired_difference(first, second)
    assert difference.queries == len(pairs)
    assert difference.difference == pytest.approx(second.mean() - first.mean())
    assert difference.low - 1e-12 <= difference.difference <= difference.high + 1e-12
    if difference.p_value < 0.01:  # exact and conditional alike: far from chance, 0 is outside the interval
        assert not difference.low <= 0 <= difference.high
    if difference.low > 0 or difference.high < 0:
        assert difference.p_value < 0.1
    swapped = paired_difference(second, first)
    assert (swapped.difference, swapped.low, swapped.high) == pytest.approx((-difference.difference, -difference.high, -difference.low))


def test_no_queries_give_no_difference_and_mismatched_answers_are_refused() -> None:
    assert paired_difference(np.array([], bool), np.array([], bool)).describe() == "no queries to compare"
    with pytest.raises(ValueError, match="one right/wrong answer per query"):
        paired_difference(np.ones(3, bool), np.ones(4, bool))


@given(st.lists(st.integers(0, 65535), max_size=400))
def test_answers_survive_a_saved_run_and_anything_else_reads_as_none(ids) -> None:
    assert decode_answers(encode_answers(np.array(ids, dtype=np.int64))).tolist() == ids
    assert decode_answers("not base64!") is None and decode_answers(12) is None


@pytest.mark.parametrize("successes, trials", [(0, 5), (1, 3), (5, 5), (16, 165), (300, 1000), (2, 2000)])
def test_the_exact_interval_is_clopper_pearsons_without_importing_scipy(successes, trials) -> None:
    from scipy.stats import beta

    from compressors.measure.significance import _clopper_pearson

    low, high = _clopper_pearson(successes, trials, 0.95)
    expected_low = 0.0 if successes == 0 else beta.ppf(0.025, successes, trials - successes + 1)
    expected_high = 1.0 if successes == trials else beta.ppf(0.975, successes + 1, trials - successes)
    assert (low, high) == pytest.approx((expected_low, expected_high), abs=1e-9)
