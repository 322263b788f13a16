"""Structured pruning: remove whole attention heads and feed-forward neurons, then distil to recover.

Importance comes from data (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"):
each head's context output (the input of `attention.output.dense`, split into heads) and each
feed-forward neuron (the input of `output.dense`) is multiplied by a gate of ones that requires
grad. Over a few training batches the step accumulates |dL/dgate| with the same loss the fine-
tuning uses (KD against the teacher, or cross-entropy when alpha = 1), normalises each layer's
scores to unit L2 norm, and keeps each layer's most important heads and neurons. The layers'
matrices are then sliced (`compressors.formats.structured`), so the model is physically smaller
and faster with ordinary dense kernels, and a short KD fine-tune recovers the accuracy.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import LABEL, TEXT
from compressors.formats.dense import TORCH_KINDS, load_torch_artifact
from compressors.formats.structured import (
    STRUCTURED_TORCH_KIND,
    encoder_layers,
    parameter_count,
    prune_model,
    save_structured_classifier,
    structure_of,
)
from compressors.steps.base import BuildContext, register_step
from compressors.steps.distill import check_compatible, distill_loss_fn, teacher_logits
from compressors.steps.training import TrainConfig, accuracy_of, collate, encode, train_classifier

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


def _check_keep(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"PruneStructured.{name} must be a fraction (float in (0, 1]) or a count (int >= 1), got {value!r}")
    if isinstance(value, int) and value < 1:
        raise ValueError(f"PruneStructured.{name} as a count must be >= 1 per layer, got {value}")
    if isinstance(value, float) and not 0.0 < value <= 1.0:
        hint = f"; a count is an int ({int(value)})" if value > 1 and value.is_integer() else ""
        raise ValueError(f"PruneStructured.{name} as a fraction must be in (0, 1], got {value}{hint}")


@dataclass(frozen=True)
class PruneStructured:
    """Keep the most important heads and feed-forward neurons of every layer, then KD fine-tune.

    Every layer keeps the same number of heads and of neurons. A uniform structure is what ONNX
    Runtime's Attention fusion can use (it takes one head count for the whole graph; layers
    with different counts leave attention unfused) and keeps the per-layer matrix shapes, hence
    the kernels' efficiency, alike. Per-layer normalised scores would allow a global ranking
    (Michel et al.), at that cost.

    Attributes:
        heads: attention heads each layer keeps, a fraction of its heads (float in (0, 1],
            rounded, at least 1) or a count (int >= 1).
        neurons: feed-forward neurons each layer keeps, a fraction or a count likewise.
        importance_batches: training batches (of `train.batch_size` rows) over which the gates'
            gradients are accumulated.
        teacher: the variant whose logits the KD loss matches (not used when alpha = 1).
        alpha: weight of the cross-entropy term of the KD loss; 1.0 uses labels alone.
        temperature: softmax temperature T of the KD loss.
        train: the fine-tuning run after pruning.
        seed: which training rows the importance batches hold (a seeded permutation); the
            fine-tuning is seeded by `train.seed`.
    """

    heads: int | float = 0.5
    neurons: int | float = 0.5
    importance_batches: int = 32
    teacher: str = "baseline"
    alpha: float = 0.5
    temperature: float = 2.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3))
    seed: int = 42

    STEP: ClassVar[str] = "prune-structured"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        _check_keep("heads", self.heads)
        _check_keep("neurons", self.neurons)
        if all(isinstance(v, float) and v == 1.0 for v in (self.heads, self.neurons)):
            raise ValueError("PruneStructured keeps every head and every neuron (heads=1.0, neurons=1.0): nothing to prune")
        if self.importance_batches < 1:
            raise ValueError(f"PruneStructured.importance_batches must be >= 1, got {self.importance_batches}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"PruneStructured.alpha must be in [0, 1], got {self.alpha}")
        if not self.temperature > 0:
            raise ValueError(f"PruneStructured.temperature must be > 0, got {self.temperature}")
        if self.alpha < 1.0 and not self.teacher:
            raise ValueError("PruneStructured.teacher must name a variant when alpha < 1 (the KD loss needs its logits)")


def kept_count(keep: int | float, total: int, what: str) -> int:
    """How many of `total` heads (or neurons) a layer keeps for a fraction or a count."""
    if isinstance(keep, float):
        return max(1, min(total, round(keep * total)))
    if keep > total:
        raise ValueError(f"PruneStructured keeps {keep} {what} per layer, but the source's layers have {total}")
    return keep


@contextlib.contextmanager
def gates(model: PreTrainedModel) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """Gates of ones on every head's context output and every feed-forward neuron, per layer.

    Forward pre-hooks multiply the input of `attention.output.dense` (split into heads) and of
    `output.dense` by the gates, which require grad; the model computes what it did before.
    """
    import torch

    device = next(model.parameters()).device
    head_gates, neuron_gates, handles = [], [], []

    def on_heads(gate: torch.Tensor, size: int) -> Callable:
        def hook(module, args):
            context = args[0]
            return ((context.unflatten(-1, (-1, size)) * gate[:, None]).flatten(-2), *args[1:])

        return hook

    def on_neurons(gate: torch.Tensor) -> Callable:
        def hook(module, args):
            return (args[0] * gate, *args[1:])

        return hook

    try:
        for layer in encoder_layers(model):
            attention = layer.attention.self
            size = attention.attention_head_size
            head_gate = torch.ones(attention.query.out_features // size, device=device, requires_grad=True)
            neuron_gate = torch.ones(layer.intermediate.dense.out_features, device=device, requires_grad=True)
            handles.append(layer.attention.output.dense.register_forward_pre_hook(on_heads(head_gate, size)))
            handles.append(layer.output.dense.register_forward_pre_hook(on_neurons(neuron_gate)))
            head_gates.append(head_gate)
            neuron_gates.append(neuron_gate)
        yield head_gates, neuron_gates
    finally:
        for handle in handles:
            handle.remove()


def gate_importance(
    model: PreTrainedModel,
    batches: Sequence[tuple[dict, torch.Tensor, torch.Tensor]],
    loss_fn: Callable,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per layer, sum over `batches` of |dL/dgate| for every head and every feed-forward neuron.

    Args:
        batches: (inputs, labels, training row indices) per batch.
        loss_fn: `loss_fn(outputs, labels, rows, inputs)`, the training loop's loss hook.

    Returns:
        head scores (one tensor of heads per layer) and neuron scores likewise, unnormalised.
    """
    import torch

    if not batches:
        raise ValueError("importance needs at least one batch")
    was_training = model.training
    model.eval()  # no dropout: the gradients of one batch do not depend on a random mask
    device = next(model.parameters()).device
    try:
        with gates(model) as (head_gates, neuron_gates):
            heads = [torch.zeros_like(g) for g in head_gates]
            neurons = [torch.zeros_like(g) for g in neuron_gates]
            for inputs, labels, rows in batches:
                inputs = {k: v.to(device) for k, v in inputs.items()}
                loss = loss_fn(model(**inputs), labels.to(device), rows, inputs)
                grads = torch.autograd.grad(loss, [*head_gates, *neuron_gates])
                for total, grad in zip([*heads, *neurons], grads):
                    total += grad.detach().abs()
    finally:
        model.train(was_training)
    return [h.cpu() for h in heads], [n.cpu() for n in neurons]


def normalised(scores: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Each layer's scores divided by their L2 norm (Michel et al.); an all-zero layer stays zero."""
    return [s / s.norm().clamp_min(1e-20) for s in scores]


def most_important(scores: torch.Tensor, keep: int) -> list[int]:
    """The indices of the `keep` largest scores, ascending; ties go to the lower index."""
    import torch

    order = torch.argsort(-scores, stable=True)
    return sorted(order[:keep].tolist())


def sample_batches(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], labels: Sequence[int], config: PruneStructured
) -> list[tuple[dict, torch.Tensor, torch.Tensor]]:
    """The first `config.importance_batches` batches of a seeded permutation of the training rows."""
    import torch

    size = config.train.batch_size
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(config.seed))
    order = order[: config.importance_batches * size]
    encoded = encode(tokenizer, [texts[i] for i in order.tolist()], config.train.max_length)
    targets = torch.tensor([labels[i] for i in order.tolist()], dtype=torch.long)
    pad_id = tokenizer.pad_token_id or 0
    return [
        (collate(encoded[start : start + size], pad_id), targets[start : start + size], order[start : start + size])
        for start in range(0, len(order), size)
    ]


def choose_structure(
    model: PreTrainedModel, head_scores: Sequence[torch.Tensor], neuron_scores: Sequence[torch.Tensor], config: PruneStructured
) -> tuple[list[list[int]], list[list[int]]]:
    """Per layer, the heads and neurons to keep: the most important by normalised score."""
    structure = structure_of(model)
    heads = [most_important(s, kept_count(config.heads, n, "heads")) for s, n in zip(normalised(head_scores), structure.heads)]
    neurons = [
        most_important(s, kept_count(config.neurons, n, "feed-forward neurons"))
        for s, n in zip(normalised(neuron_scores), structure.intermediate)
    ]
    return heads, neurons


def _teacher(source: Artifact, config: PruneStructured, context: BuildContext) -> dict:
    return {"teacher": context.resolve(config.teacher).key} if config.alpha < 1.0 else {}


@register_step(
    PruneStructured, produces=STRUCTURED_TORCH_KIND, accepts=TORCH_KINDS, identity=_teacher,
    code=("compressors.steps.training", "compressors.steps.distill", "compressors.formats.structured",
          "compressors.formats.safetensors_file"),
)
def prune_structured(source: Artifact, config: PruneStructured, context: BuildContext, out_dir: Path) -> Built:
    """The prune-structured step: heads and neurons removed by importance, then a KD fine-tune."""
    model, tokenizer = load_torch_artifact(source)
    train, validation = context.data["train"], context.data["validation"]
    texts, labels = train[TEXT], train[LABEL]
    logits = None
    if config.alpha < 1.0:
        teacher = context.resolve(config.teacher)
        # logits are per text, so only the labels must agree
        check_compatible(teacher.path, model, tokenizer, context.label_names, same_tokenizer=False)
        logits = teacher_logits(teacher, context, config.train.max_length)
    loss_fn = distill_loss_fn(logits, config.alpha, config.temperature)
    before, structure_before = parameter_count(model), structure_of(model)

    started = time.perf_counter()
    model.to(context.device)
    try:
        head_scores, neuron_scores = gate_importance(model, sample_batches(tokenizer, texts, labels, config), loss_fn)
    finally:
        model.to("cpu")
    heads, neurons = choose_structure(model, head_scores, neuron_scores, config)
    structure = prune_model(model, heads, neurons)
    importance_seconds = time.perf_counter() - started
    pruned_accuracy = accuracy_of(model, tokenizer, validation[TEXT], validation[LABEL], config.train.max_length)
    logger.info(
        "prune-structured: kept %d of %d heads and %d of %d neurons per layer; %d -> %d parameters; "
        "validation accuracy %.4f before fine-tuning",
        structure.heads[0], structure_before.heads[0], structure.intermediate[0], structure_before.intermediate[0],
        before, parameter_count(model), pruned_accuracy,
    )

    by_epoch: list[float] = []

    def record(epoch: int) -> None:
        by_epoch.append(accuracy_of(model, tokenizer, validation[TEXT], validation[LABEL], config.train.max_length))
        logger.info("prune-structured: epoch %d, validation accuracy %.4f", epoch, by_epoch[-1])

    started = time.perf_counter()
    train_classifier(
        model, tokenizer, texts, labels, config.train, loss_fn=loss_fn, on_epoch_end=record, device=context.device,
        description=f"prune-structured {structure.heads[0]} heads, {structure.intermediate[0]} neurons",
    )
    train_seconds = time.perf_counter() - started
    save_structured_classifier(model, tokenizer, out_dir)
    meta = {
        "heads_kept": heads,
        "heads": list(structure.heads),
        "intermediate": list(structure.intermediate),
        "head_importance": [[round(float(v), 6) for v in s] for s in normalised(head_scores)],
        "parameters_before": before,
        "parameters_after": parameter_count(model),
        "validation_accuracy_pruned": pruned_accuracy,
        "validation_accuracy": by_epoch[-1],
        "validation_accuracy_by_epoch": by_epoch,
        "alpha": config.alpha,
        "temperature": config.temperature,
        "seed": config.seed,
        "train_seed": config.train.seed,
        "importance_seconds": round(importance_seconds, 1),
        "train_seconds": round(train_seconds, 1),
    }
    return Built(STRUCTURED_TORCH_KIND, meta)
