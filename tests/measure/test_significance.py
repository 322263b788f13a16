"""McNemar's exact test on two models' answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressors.measure.significance import compare_answers, mcnemar_exact


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
