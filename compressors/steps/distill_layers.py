"""Intermediate-layer distillation (TinyBERT, MiniLM): match the teacher's hidden states and attention.

A `LayerLoss` maps student hidden-state indices to teacher ones (index 0 is the embedding
output, index i the output of layer i). The loss adds, to the KD loss on logits,

- `hidden_weight` x the mean squared error between mapped hidden states, over real tokens, and
- `attention_weight` x the KL divergence from the teacher's attention distribution of the mapped
  layer to the student's, per head and real query token, and
- `value_weight` x the same divergence between value relations (MiniLM, Wang et al. 2020): per
  head, softmax(V V^T / sqrt(head width)) of the layer's value projections over the real tokens.

The teacher runs alongside the student on the same batch (hidden states are too large to cache),
so both must tokenize alike and share hidden width and head count.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compressors.steps.base import OMIT_WHEN_DEFAULT

if TYPE_CHECKING:
    import torch

_EPSILON = 1e-12


@dataclass(frozen=True)
class LayerLoss:
    """Which student layers learn from which teacher layers, and the weights of the two terms.

    Attributes:
        pairs: (student hidden-state index, teacher hidden-state index); 0 is the embedding
            output, i the output of layer i. Attention is matched for pairs with both indices >= 1.
            Empty: TinyBERT's uniform mapping for the two models' depths (`uniform_pairs`).
        hidden_weight: weight of the hidden-state mean squared error.
        attention_weight: weight of the attention KL divergence (0 skips the attention maps).
        value_weight: weight of the value-relation KL divergence, on the same pairs as attention.
    """

    pairs: tuple[tuple[int, int], ...] = ()
    hidden_weight: float = 1.0
    attention_weight: float = 0.0
    value_weight: float = field(default=0.0, metadata=OMIT_WHEN_DEFAULT)

    def __post_init__(self) -> None:
        if any(len(pair) != 2 or min(pair) < 0 for pair in self.pairs):
            raise ValueError(f"LayerLoss.pairs must be (student index, teacher index) pairs of indices >= 0, got {self.pairs}")
        weights = (self.hidden_weight, self.attention_weight, self.value_weight)
        if min(weights) < 0 or sum(weights) == 0:
            raise ValueError(
                "LayerLoss weights must be >= 0 and not all 0, got "
                f"hidden_weight={self.hidden_weight}, attention_weight={self.attention_weight}, value_weight={self.value_weight}"
            )

    @property
    def needs_attentions(self) -> bool:
        return self.attention_weight > 0

    @property
    def attention_pairs(self) -> tuple[tuple[int, int], ...]:
        """The pairs of two transformer layers (both indices >= 1): where attention and values are matched."""
        return tuple((s, t) for s, t in self.pairs if s >= 1 and t >= 1)


def uniform_pairs(student_layers: int, teacher_layers: int) -> tuple[tuple[int, int], ...]:
    """TinyBERT's uniform mapping: embeddings to embeddings, student layer i to teacher layer i * n / m."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"need 1 <= student layers <= teacher layers, got {student_layers} and {teacher_layers}")
    step = teacher_layers / student_layers
    return ((0, 0), *((i, round(i * step)) for i in range(1, student_layers + 1)))


def resolved(loss: LayerLoss, student_config, teacher_config) -> LayerLoss:
    """The loss with its pairs spelled out: the uniform mapping when none are given."""
    if loss.pairs:
        return loss
    from dataclasses import replace

    return replace(loss, pairs=uniform_pairs(student_config.num_hidden_layers, teacher_config.num_hidden_layers))


def check_layer_pairs(loss: LayerLoss, student_config, teacher_config) -> None:
    """Fail before training when the mapping does not fit the two models."""
    for name in ("hidden_size", "num_attention_heads"):
        student, teacher = getattr(student_config, name), getattr(teacher_config, name)
        if student != teacher:
            raise ValueError(
                f"intermediate-layer distillation needs the same {name} in student and teacher "
                f"(student {student}, teacher {teacher}); use logits-only distillation (Distill.layers = None)"
            )
    if loss.value_weight > 0 and not loss.attention_pairs:
        raise ValueError(
            f"LayerLoss.value_weight needs a pair of two transformer layers (indices >= 1), got pairs {loss.pairs}"
        )
    limits = (student_config.num_hidden_layers, teacher_config.num_hidden_layers)
    for pair in loss.pairs:
        if pair[0] > limits[0] or pair[1] > limits[1]:
            raise ValueError(
                f"LayerLoss pair {pair} is out of range: the student has hidden states 0..{limits[0]}, "
                f"the teacher 0..{limits[1]}"
            )


def hidden_state_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the real tokens (mask 1) of two (batch, tokens, width) tensors."""
    weights = mask.to(student.dtype).unsqueeze(-1)
    squared = (student - teacher.detach()).pow(2) * weights
    return squared.sum() / (weights.sum() * student.shape[-1]).clamp_min(1.0)


def attention_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of (batch, heads, tokens, tokens) attention maps, mean over heads and real queries."""
    teacher = teacher.detach()
    kl = (teacher * (teacher.clamp_min(_EPSILON).log() - student.clamp_min(_EPSILON).log())).sum(-1)
    weights = mask.to(student.dtype).unsqueeze(1).expand_as(kl)
    return (kl * weights).sum() / weights.sum().clamp_min(1.0)


def value_relation(values: torch.Tensor, heads: int, mask: torch.Tensor) -> torch.Tensor:
    """Per head, softmax(V V^T / sqrt(head width)) over the real keys of (batch, tokens, width) values."""
    batch, tokens, width = values.shape
    per_head = values.view(batch, tokens, heads, width // heads).transpose(1, 2)
    scores = per_head @ per_head.transpose(-1, -2) / math.sqrt(width // heads)
    keys = mask[:, None, None, :].bool()
    return scores.masked_fill(~keys, float("-inf")).softmax(-1)


class ValueCapture:
    """Keeps the value projections' outputs of chosen layers of a BERT-style model on every forward.

    `values[i]` is the output of layer i's (0-based) `attention.self.value` in the latest forward.
    Use as a context manager: the hooks are removed on exit.
    """

    def __init__(self, model, layers: list[int]) -> None:
        self.heads = model.config.num_attention_heads
        self.values: dict[int, torch.Tensor] = {}
        try:
            projections = {i: model.base_model.encoder.layer[i].attention.self.value for i in layers}
        except AttributeError as error:
            raise ValueError(
                f"value-relation distillation reads BERT-style attention modules (encoder.layer[i].attention.self.value), "
                f"which {type(model).__name__} lacks; set LayerLoss.value_weight = 0"
            ) from error
        self._handles = [module.register_forward_hook(self._keeper(i)) for i, module in projections.items()]

    def _keeper(self, index: int):
        def keep(module, inputs, output) -> None:
            self.values[index] = output

        return keep

    def __enter__(self) -> ValueCapture:
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()


@contextmanager
def value_captures(student_model, teacher_model, loss: LayerLoss | None):
    """The (student's, teacher's) value captures of the loss's attention pairs; None without a value term."""
    if loss is None or loss.value_weight == 0:
        yield None
        return
    pairs = loss.attention_pairs
    with ValueCapture(student_model, [s - 1 for s, _ in pairs]) as student, \
            ValueCapture(teacher_model, [t - 1 for _, t in pairs]) as teacher:
        yield student, teacher


def layer_loss(
    student_outputs, teacher_outputs, mask: torch.Tensor, loss: LayerLoss,
    values: tuple[ValueCapture, ValueCapture] | None = None,
) -> torch.Tensor:
    """The weighted intermediate-layer loss of one batch, averaged over the mapped pairs.

    `values` (student's, teacher's captures) is needed when `loss.value_weight` > 0.
    """
    total = 0.0
    if loss.hidden_weight > 0:
        terms = [
            hidden_state_loss(student_outputs.hidden_states[s], teacher_outputs.hidden_states[t], mask)
            for s, t in loss.pairs
        ]
        total = total + loss.hidden_weight * sum(terms) / len(terms)
    attention_pairs = loss.attention_pairs
    if loss.needs_attentions and attention_pairs:
        terms = [
            attention_loss(student_outputs.attentions[s - 1], teacher_outputs.attentions[t - 1], mask)
            for s, t in attention_pairs
        ]
        total = total + loss.attention_weight * sum(terms) / len(terms)
    if loss.value_weight > 0 and attention_pairs:
        if values is None:
            raise ValueError("a value-relation loss needs the student's and the teacher's ValueCapture")
        student, teacher = values
        terms = [
            attention_loss(value_relation(student.values[s - 1], student.heads, mask),
                           value_relation(teacher.values[t - 1], teacher.heads, mask), mask)
            for s, t in attention_pairs
        ]
        total = total + loss.value_weight * sum(terms) / len(terms)
    return total
