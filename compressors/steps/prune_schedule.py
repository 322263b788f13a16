"""The maths of pruning: the cubic sparsity schedule, Top-k masks, and the masked-weight forward pass.

The schedule is Zhu & Gupta (2017), "To prune, or not to prune":
`s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (N * dt))**3`, evaluated at the update steps
`t0, t0 + dt, ..., t0 + N * dt` and held constant in between and after. A mask keeps the
weights with the largest scores (`M = Top_k(S)`): the magnitude `|W|` for magnitude pruning,
learned scores for movement pruning (Sanh, Wolf & Rush 2020), whose gradient reaches the
scores through a straight-through estimator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

LAYER = "layer"
GLOBAL = "global"
SCOPES = (LAYER, GLOBAL)


@dataclass(frozen=True)
class CubicSchedule:
    """A cubic sparsity schedule in optimizer steps.

    Attributes:
        initial: s_i, the sparsity at (and before) step t0.
        final: s_f, the sparsity from step t0 + n * dt on.
        t0: the step of the first mask update.
        dt: steps between mask updates.
        n: number of updates after the first one; s_f is reached at t0 + n * dt.
    """

    initial: float
    final: float
    t0: int
    dt: int
    n: int

    def __post_init__(self) -> None:
        if not 0.0 <= self.initial <= self.final < 1.0:
            raise ValueError(
                f"schedule sparsities must satisfy 0 <= initial <= final < 1, got initial={self.initial}, final={self.final}"
            )
        if self.t0 < 0 or self.dt < 1 or self.n < 1:
            raise ValueError(f"schedule needs t0 >= 0, dt >= 1 and n >= 1, got t0={self.t0}, dt={self.dt}, n={self.n}")

    @property
    def end(self) -> int:
        """The step at which the final sparsity is reached."""
        return self.t0 + self.n * self.dt

    def sparsity(self, step: int) -> float:
        """The sparsity in force after `step` optimizer steps (set at the latest update step)."""
        if step < self.t0:
            return self.initial
        updates = min(self.n, (step - self.t0) // self.dt)
        if updates == 0:
            return self.initial
        if updates == self.n:
            return self.final
        value = self.final + (self.initial - self.final) * (1.0 - updates / self.n) ** 3
        return min(self.final, max(self.initial, value))  # rounding must not step outside the ends

    def is_update(self, step: int) -> bool:
        """Whether `step` is one of the n + 1 update steps t0, t0 + dt, ..., t0 + n * dt."""
        return self.t0 <= step <= self.end and (step - self.t0) % self.dt == 0


def schedule_for(total_steps: int, initial: float, final: float, start: float, end: float, every: int) -> CubicSchedule:
    """The schedule of a training run of `total_steps`, with t0 and the final step given as fractions.

    Pruning starts at `floor(start * total)` and reaches `final` no later than `floor(end * total)`;
    when the run is too short for updates `every` steps apart, they come closer (at least one).
    """
    if total_steps < 1:
        raise ValueError(f"a schedule needs at least one training step, got {total_steps}")
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(f"schedule fractions must satisfy 0 <= start < end <= 1, got start={start}, end={end}")
    if every < 1:
        raise ValueError(f"schedule update interval must be >= 1 step, got {every}")
    t0 = math.floor(start * total_steps)
    last = max(t0 + 1, math.floor(end * total_steps))
    dt = min(every, last - t0)
    return CubicSchedule(initial=initial, final=final, t0=t0, dt=dt, n=(last - t0) // dt)


def zeros_count(numel: int, sparsity: float) -> int:
    """How many of `numel` entries a mask of `sparsity` sets to zero."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    return min(numel, round(sparsity * numel))


def topk_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A 0/1 mask (dtype of `scores`) keeping the largest scores, with exactly `zeros_count` zeros.

    Ties are broken by `torch.topk`, so the count is exact even when scores are equal.
    """
    return topk_masks([scores], sparsity, LAYER)[0]


def topk_masks(scores: Sequence[torch.Tensor], sparsity: float, scope: str = LAYER) -> list[torch.Tensor]:
    """Top-k masks of several score tensors: `sparsity` in each tensor, or over all of them together.

    Args:
        scope: "layer" gives every tensor exactly `sparsity`; "global" ranks all scores together,
            so the total count of zeros is exact and layers end up with different sparsities.
    """
    if scope not in SCOPES:
        raise ValueError(f"mask scope must be one of {SCOPES}, got {scope!r}")
    if not scores:
        return []
    if scope == LAYER:
        return [_keep_top(s.detach().reshape(-1), sparsity).reshape(s.shape).to(s.dtype) for s in scores]
    flat = _keep_top(torch.cat([s.detach().reshape(-1).float() for s in scores]), sparsity)
    masks, offset = [], 0
    for s in scores:
        masks.append(flat[offset : offset + s.numel()].reshape(s.shape).to(s.dtype))
        offset += s.numel()
    return masks


def _keep_top(flat: torch.Tensor, sparsity: float) -> torch.Tensor:
    keep = flat.numel() - zeros_count(flat.numel(), sparsity)
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    if keep:
        mask[torch.topk(flat, keep, sorted=False).indices] = True
    return mask


def mask_sparsity(masks: Sequence[torch.Tensor]) -> float:
    """The fraction of zeros over all entries of `masks`."""
    total = sum(m.numel() for m in masks)
    if not total:
        return 0.0
    return sum(int((m == 0).sum()) for m in masks) / total


class MaskedWeight(torch.nn.Module):
    """A parametrization `W -> W * M`, with learnable scores behind M for movement pruning.

    M is a buffer the pruner refreshes from the scores (`topk_masks`). With scores, the forward
    value is still `W * M`, but `M + (S - S.detach())` passes dL/dM = dL/dW' * W to S unchanged:
    the straight-through estimator of Sanh et al. (written so that M's value is exact).
    """

    def __init__(self, shape: torch.Size, dtype: torch.dtype, learn_scores: bool) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(shape, dtype=dtype))
        # the name matters: the training loop excludes parameters named "scores" from weight decay
        self.scores = torch.nn.Parameter(torch.zeros(shape, dtype=dtype)) if learn_scores else None

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.scores is None:
            return weight * self.mask
        return weight * (self.mask + (self.scores - self.scores.detach()))
