"""The cubic sparsity schedule, Top-k masks and the masked-weight forward pass."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compressors.steps.prune_schedule import (
    CubicSchedule,
    MaskedWeight,
    mask_sparsity,
    schedule_for,
    topk_mask,
    topk_masks,
    zeros_count,
)


@st.composite
def schedules(draw) -> CubicSchedule:
    initial = draw(st.floats(0.0, 0.95))
    final = draw(st.floats(initial, 0.99))
    return CubicSchedule(initial, final, t0=draw(st.integers(0, 500)), dt=draw(st.integers(1, 50)), n=draw(st.integers(1, 100)))


@settings(deadline=None)  # a loaded 2-core machine must not fail a pure function on time
@given(schedules())
def test_schedule_hits_initial_at_t0_and_final_at_the_end(s: CubicSchedule) -> None:
    assert s.sparsity(s.t0) == s.initial
    assert s.sparsity(s.end) == s.final
    # One step before the end, n - 1 updates are done: s_f + (s_i - s_f) / n^3, not s_f yet. For
    # nearly equal ends that difference can fall below float resolution, so "strictly less" is
    # asserted only where the gap is representable.
    before_end = s.initial if s.n == 1 else s.final + (s.initial - s.final) / s.n**3
    assert s.sparsity(s.end - 1) == pytest.approx(before_end, abs=1e-12)
    assert s.initial <= s.sparsity(s.end - 1) <= s.final
    if s.final - s.initial > 1e-6:
        assert s.sparsity(s.end - 1) < s.final


@settings(deadline=None)
@given(schedules(), st.integers(0, 10_000))
def test_schedule_is_monotone_and_constant_outside_the_ramp(s: CubicSchedule, offset: int) -> None:
    values = [s.sparsity(t) for t in range(0, s.end + 2 * s.dt + 1)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert all(s.initial <= v <= s.final for v in values)
    assert s.sparsity(s.end + offset) == s.final
    assert s.sparsity(max(0, s.t0 - 1 - offset)) == s.initial


@settings(deadline=None)
@given(schedules())
def test_schedule_changes_only_at_update_steps(s: CubicSchedule) -> None:
    for t in range(1, s.end + s.dt + 1):
        if s.sparsity(t) != s.sparsity(t - 1):
            assert s.is_update(t)
    assert sum(s.is_update(t) for t in range(s.end + s.dt + 1)) == s.n + 1


def test_schedule_follows_the_cubic_formula() -> None:
    s = CubicSchedule(initial=0.0, final=0.8, t0=100, dt=10, n=4)
    # s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n dt))^3
    assert s.sparsity(120) == pytest.approx(0.8 - 0.8 * (1 - 20 / 40) ** 3)
    assert s.sparsity(129) == s.sparsity(120)  # held until the next update
    assert s.sparsity(99) == 0.0


@settings(deadline=None)
@given(
    st.integers(1, 5000),
    st.floats(0.0, 0.9),
    st.floats(0.1, 1.0),
    st.integers(1, 200),
)
def test_schedule_for_a_run_ends_within_it(total: int, start: float, end: float, every: int) -> None:
    if not start < end:
        return
    s = schedule_for(total, 0.0, 0.8, start, end, every)
    assert s.t0 == int(start * total)
    assert s.end <= max(s.t0 + 1, int(end * total)) <= total
    assert s.dt <= every


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0.5, "final": 0.4}, r"0 <= initial <= final < 1, got initial=0.5, final=0.4"),
        ({"final": 1.0}, r"final < 1"),
        ({"dt": 0}, r"dt >= 1"),
        ({"n": 0}, r"n >= 1"),
    ],
)
def test_bad_schedule_is_explained(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        CubicSchedule(**{"initial": 0.0, "final": 0.8, "t0": 0, "dt": 1, "n": 1, **kwargs})


def test_schedule_for_rejects_an_inverted_window() -> None:
    with pytest.raises(ValueError, match=r"0 <= start < end <= 1.*start=0.8, end=0.5"):
        schedule_for(100, 0.0, 0.8, 0.8, 0.5, 10)


@pytest.mark.parametrize(
    ("numel", "sparsity", "zeros"),
    [(10, 0.7, 7), (10, 0.74, 7), (10, 0.76, 8), (4096, 0.7, 2867), (8192, 0.8, 6554), (10, 0.0, 0), (10, 1.0, 10),
     (0, 0.5, 0), (7, 0.999, 7), (3, 0.01, 0)],
)
def test_zeros_count_rounds_to_the_nearest_count(numel: int, sparsity: float, zeros: int) -> None:
    assert zeros_count(numel, sparsity) == zeros


def test_zeros_count_refuses_a_sparsity_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\], got 1.5"):
        zeros_count(10, 1.5)


shapes = st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple)


@settings(deadline=None)
@given(shapes, st.floats(0.0, 1.0), st.integers(0, 2**31 - 1), st.booleans())
def test_layer_mask_is_binary_with_exact_sparsity(shape, sparsity: float, seed: int, ties: bool) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(shape, generator=generator)
    if ties:  # many equal scores must not break the count
        scores = scores.round()
    mask = topk_mask(scores, sparsity)
    assert mask.shape == scores.shape and mask.dtype == scores.dtype
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    zeros = int((mask == 0).sum())
    assert abs(zeros - sparsity * scores.numel()) <= 0.5 and zeros == zeros_count(scores.numel(), sparsity)
    kept, pruned = scores[mask == 1], scores[mask == 0]
    if kept.numel() and pruned.numel():
        assert kept.min() >= pruned.max()  # the largest scores are the ones kept


@settings(deadline=None)
@given(st.lists(shapes, min_size=1, max_size=4), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_global_masks_have_exact_total_sparsity_and_rank_across_layers(shape_list, sparsity: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = [torch.randn(shape, generator=generator) * (i + 1) for i, shape in enumerate(shape_list)]
    masks = topk_masks(scores, sparsity, "global")
    total = sum(s.numel() for s in scores)
    zeros = sum(int((m == 0).sum()) for m in masks)
    assert abs(zeros - sparsity * total) <= 0.5 and zeros == zeros_count(total, sparsity)
    assert mask_sparsity(masks) == zeros / total
    kept = torch.cat([s[m == 1] for s, m in zip(scores, masks)])
    pruned = torch.cat([s[m == 0] for s, m in zip(scores, masks)])
    if kept.numel() and pruned.numel():
        assert kept.min() >= pruned.max()


def test_global_scope_gives_uneven_layers() -> None:
    small, large = torch.full((10,), 0.1), torch.full((10,), 5.0)
    masks = topk_masks([small, large], 0.5, "global")
    assert masks[0].sum() == 0 and masks[1].sum() == 10


def test_unknown_scope_is_explained() -> None:
    with pytest.raises(ValueError, match=r"one of \('layer', 'global'\), got 'layers'"):
        topk_masks([torch.ones(3)], 0.5, "layers")


def test_masked_weight_zeroes_pruned_weights_and_trains_scores_straight_through() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 4)
    dense = linear.weight.detach().clone()
    masked = MaskedWeight(dense.shape, dense.dtype, learn_scores=True)
    torch.nn.utils.parametrize.register_parametrization(linear, "weight", masked)
    masked.mask.copy_(topk_mask(dense.abs(), 0.75))
    x = torch.randn(3, 6)
    out = linear(x)
    expected = x @ (dense * masked.mask).T + linear.bias
    assert torch.equal(linear.weight[masked.mask == 0], torch.zeros(int((masked.mask == 0).sum())))
    assert torch.equal(linear.weight[masked.mask == 1], dense[masked.mask == 1])  # kept weights exact
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    grad_effective = torch.ones(3, 4).T @ x  # dL/dW' for L = sum(x W'^T + b)
    torch.testing.assert_close(masked.scores.grad, grad_effective * dense)  # STE: dL/dS = dL/dW' * W
    weight_grad = linear.parametrizations.weight.original.grad
    torch.testing.assert_close(weight_grad, grad_effective * masked.mask)  # pruned weights get no gradient
