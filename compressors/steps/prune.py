"""Unstructured pruning during fine-tuning: magnitude (Zhu & Gupta 2017) and movement (Sanh et al. 2020).

The encoder's linear weights (by default) get a binary mask `M = Top_k(S)` and the forward pass
uses `W * M`. The sparsity of the masks follows the cubic schedule of `compressors.steps.prune_schedule`.
Magnitude pruning ranks by `S = |W|` and refreshes the masks at the schedule's update steps, so
a weight pruned early can come back. Movement pruning learns `S` with the weights (straight-
through estimator through Top_k), so it keeps the weights that move away from zero. The scores
start at zero and need weights that move to mean something: Sanh et al. prune while fine-tuning
from the pretrained checkpoint, with distillation, and so can `Prune` (`checkpoint`, `teacher`).
From an already fine-tuned model over 2 epochs the movement masks overlap the largest weights
exactly as random masks do, and the model collapses (README, "Pruning").

The result is stored sparse (`compressors.formats.sparse`): the directory size the suite reports
is the honest one, and the dense size is recorded beside it in the artifact's meta.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import LABEL, TEXT
from compressors.formats.checkpoints import checkpoint_fingerprint, load_pretrained_classifier, load_tokenizer
from compressors.formats.dense import TORCH_KINDS, load_torch_artifact
from compressors.formats.sparse import SPARSE_TORCH_KIND, save_sparse_classifier
from compressors.steps.base import OMIT_WHEN_DEFAULT, BuildContext, register_step
from compressors.steps.distill import distill_loss_fn, teacher_logits
from compressors.steps.prune_schedule import SCOPES, CubicSchedule, MaskedWeight, mask_sparsity, schedule_for, topk_masks
from compressors.steps.training import TrainConfig, accuracy_of, seed_everything, train_classifier

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

MAGNITUDE, MOVEMENT = "magnitude", "movement"
METHODS = (MAGNITUDE, MOVEMENT)
# Which weights a target names, for a BERT-like model (`<base>.embeddings/encoder/pooler` + head).
TARGETS = ("attention", "feed-forward", "embeddings", "classifier")


@dataclass(frozen=True)
class Prune:
    """Prune while fine-tuning the source classifier, to a target fraction of zeros.

    Attributes:
        method: "magnitude" (S = |W|) or "movement" (S learned by gradient descent).
        sparsity: s_f, the fraction of zeros in the pruned weights at the end.
        initial_sparsity: s_i, the sparsity up to t0 (Zhu & Gupta use 0; movement scores start
            equal, so before t0 a movement mask at s_i > 0 is arbitrary).
        start: t0 as a fraction of the training steps (pruning begins there).
        end: the fraction of the training steps by which s_f is reached; the rest of the run
            recovers at s_f.
        every: dt, steps between mask updates. Magnitude masks stop changing at the end of the
            schedule; movement masks keep being refreshed from the scores every dt steps
            (Sanh et al. refresh at every forward pass; every=1 does that, at ~0.2 s a step).
        scope: "layer" gives each weight matrix exactly `sparsity`; "global" ranks all scores
            together (exact in total, uneven per matrix).
        targets: the weights pruned, among "attention" (Q, K, V and output projections),
            "feed-forward" (intermediate and output), "embeddings", "classifier" (pooler + head).
        train: the fine-tuning run the pruning happens in.
        checkpoint: prune while fine-tuning this pretrained checkpoint with a new head (as Sanh
            et al. do) instead of a source artifact; "" prunes the source.
        teacher: a variant whose cached logits the run also distils from ("": labels only).
        alpha: weight of the cross-entropy term against the teacher's KD term.
        temperature: softmax temperature of the KD term.
        freeze: stop updating movement masks once the schedule reaches `sparsity`.
        scores_learning_rate: learning rate of the movement scores (Sanh et al.: 1e-2); 0 uses
            the weights' rate.
    """

    method: str = MAGNITUDE
    sparsity: float = 0.8
    initial_sparsity: float = 0.0
    start: float = 0.1
    end: float = 0.7
    every: int = 10
    scope: str = "layer"
    targets: tuple[str, ...] = ("attention", "feed-forward")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=2))
    checkpoint: str = field(default="", metadata=OMIT_WHEN_DEFAULT)
    teacher: str = field(default="", metadata=OMIT_WHEN_DEFAULT)
    alpha: float = field(default=1.0, metadata=OMIT_WHEN_DEFAULT)
    temperature: float = field(default=2.0, metadata=OMIT_WHEN_DEFAULT)
    freeze: bool = field(default=False, metadata=OMIT_WHEN_DEFAULT)
    scores_learning_rate: float = field(default=0.0, metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "prune"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Prune.method must be one of {METHODS}, got {self.method!r}")
        if self.method == MOVEMENT and self.initial_sparsity > 0:
            raise ValueError(
                f"Prune.initial_sparsity must be 0 for movement pruning, got {self.initial_sparsity}: its scores "
                "start at zero, so a mask before any learning would cut whole rows at random"
            )
        if not 0.0 <= self.alpha <= 1.0 or not self.temperature > 0 or self.scores_learning_rate < 0:
            raise ValueError(
                f"Prune needs alpha in [0, 1], temperature > 0 and scores_learning_rate >= 0, got "
                f"alpha={self.alpha}, temperature={self.temperature}, scores_learning_rate={self.scores_learning_rate}"
            )
        if self.alpha < 1.0 and not self.teacher:
            raise ValueError(f"Prune.alpha = {self.alpha} weighs a KD term: name the teacher variant (Prune.teacher)")
        if not 0.0 < self.sparsity < 1.0:
            raise ValueError(f"Prune.sparsity must be a fraction of zeros in (0, 1), got {self.sparsity}")
        if not 0.0 <= self.initial_sparsity <= self.sparsity:
            raise ValueError(
                f"Prune.initial_sparsity must be in [0, sparsity={self.sparsity}], got {self.initial_sparsity}"
            )
        if not 0.0 <= self.start < self.end <= 1.0:
            raise ValueError(
                f"Prune.start and Prune.end must satisfy 0 <= start < end <= 1 (fractions of the training steps), "
                f"got start={self.start}, end={self.end}"
            )
        if self.every < 1:
            raise ValueError(f"Prune.every must be >= 1 step, got {self.every}")
        if self.scope not in SCOPES:
            raise ValueError(f"Prune.scope must be one of {SCOPES}, got {self.scope!r}")
        unknown = [t for t in self.targets if t not in TARGETS]
        if not self.targets or unknown or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"Prune.targets must be distinct names among {TARGETS}, got {self.targets}")


def target_modules(model: PreTrainedModel, targets: tuple[str, ...]) -> dict[str, torch.nn.Module]:
    """The modules whose `weight` `targets` names, by qualified name, in model order."""
    import torch

    base_prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, base_prefix, None) if base_prefix else None
    if base is None or not hasattr(base, "encoder") or not hasattr(base, "embeddings"):
        raise ValueError(f"cannot prune {type(model).__name__}: expected a BERT-like model with embeddings and encoder")
    chosen = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            if name.startswith(f"{base_prefix}.encoder."):
                kind = "attention" if ".attention." in name else "feed-forward"
            elif name.startswith(f"{base_prefix}.embeddings."):
                kind = "embeddings"
            else:
                kind = "classifier"
        elif isinstance(module, torch.nn.Embedding) and name.startswith(f"{base_prefix}.embeddings."):
            kind = "embeddings"
        else:
            continue
        if kind in targets:
            chosen[name] = module
    if not chosen:
        raise ValueError(f"no weights of {type(model).__name__} match Prune.targets {targets}")
    return chosen


class Pruner:
    """Masks on a model's target weights, refreshed along a cubic schedule during training."""

    def __init__(self, model: PreTrainedModel, config: Prune) -> None:
        from torch.nn.utils import parametrize

        self.config = config
        self.modules = target_modules(model, config.targets)
        self.masks: list[MaskedWeight] = []
        for module in self.modules.values():
            weight = module.weight
            parametrize.register_parametrization(
                module, "weight", MaskedWeight(weight.shape, weight.dtype, learn_scores=config.method == MOVEMENT)
            )
            self.masks.append(module.parametrizations.weight[0])
        self.schedule: CubicSchedule | None = None
        self.current = 0.0
        self.update(config.initial_sparsity)

    def scores(self) -> list[torch.Tensor]:
        """What the masks rank: |W| (magnitude) or the learned scores (movement)."""
        if self.config.method == MAGNITUDE:
            return [module.parametrizations.weight.original.detach().abs() for module in self.modules.values()]
        return [mask.scores.detach() for mask in self.masks]

    def update(self, sparsity: float) -> None:
        """Recompute every mask at `sparsity` from the current scores."""
        import torch

        masks = topk_masks(self.scores(), sparsity, self.config.scope)
        with torch.no_grad():
            for holder, mask in zip(self.masks, masks):
                holder.mask.copy_(mask)
        self.current = mask_sparsity(masks)

    def on_step(self, step: int, total: int) -> dict:
        """The training loop's hook: update the masks when the schedule says so; show the sparsity."""
        config = self.config
        if self.schedule is None:
            self.schedule = schedule_for(total, config.initial_sparsity, config.sparsity, config.start, config.end, config.every)
            s = self.schedule
            logger.info(
                "prune (%s): sparsity %.2f -> %.2f from step %d, %d updates every %d steps, final at step %d of %d",
                config.method, s.initial, s.final, s.t0, s.n, s.dt, s.end, total,
            )
        schedule = self.schedule
        if config.method == MAGNITUDE or config.freeze:
            due = schedule.is_update(step)
        else:  # movement: the scores keep learning, so the masks keep following them
            due = step >= schedule.t0 and (step - schedule.t0) % schedule.dt == 0
        # after the last step no forward pass follows, and the weights were trained with the old masks
        if due and step < total:
            self.update(schedule.sparsity(step))
        return {"sparsity": f"{self.current:.3f}"}

    def finalize(self) -> None:
        """Remove the masks, leaving exact zeros in the pruned weights (and dropping the scores)."""
        import torch
        from torch.nn.utils import parametrize

        for module, holder in zip(self.modules.values(), self.masks):
            with torch.no_grad():
                kept = holder.mask.bool()
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
                module.weight.masked_fill_(~kept, 0.0)  # +0.0, where W * M leaves -0.0
        self.masks = []


def weight_sparsity(model: PreTrainedModel, targets: tuple[str, ...]) -> float:
    """The fraction of zeros in the weights `targets` names."""
    weights = [m.weight for m in target_modules(model, targets).values()]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def prune_classifier(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    labels: list[int],
    config: Prune,
    device: str = "cpu",
    loss_fn=None,
    on_epoch_end=None,
) -> PreTrainedModel:
    """Fine-tune `model` in place while pruning it as `config` says; the masks end as exact zeros."""
    pruner = Pruner(model, config)
    rates = {"scores": config.scores_learning_rate} if config.scores_learning_rate else None
    try:
        train_classifier(model, tokenizer, texts, labels, config.train, loss_fn=loss_fn, on_step=pruner.on_step,
                         description=f"prune {config.method} {config.sparsity:.0%}", device=device,
                         group_learning_rates=rates, on_epoch_end=on_epoch_end)
    finally:
        pruner.finalize()
    return model


def _origin_and_teacher(source: Artifact | None, config: Prune, context: BuildContext) -> dict:
    identity = {}
    if config.checkpoint:
        identity["origin"] = checkpoint_fingerprint(config.checkpoint)
    if config.teacher:
        identity["teacher"] = context.resolve(config.teacher).key
    return identity


@register_step(
    Prune, produces=SPARSE_TORCH_KIND, accepts=TORCH_KINDS, needs_source=lambda config: not config.checkpoint,
    identity=_origin_and_teacher,
    code=("compressors.steps.training", "compressors.steps.prune_schedule", "compressors.formats.sparse",
          "compressors.formats.safetensors_file"),
)
def prune(source: Artifact | None, config: Prune, context: BuildContext, out_dir: Path) -> Built:
    """The prune step: a classifier pruned while fine-tuning (from the source, or from a pretrained
    checkpoint with a new head), optionally distilling from a teacher; a sparse-torch artifact."""
    if config.checkpoint:
        seed_everything(config.train.seed)
        model = load_pretrained_classifier(config.checkpoint, context.label_names)
        tokenizer = load_tokenizer(config.checkpoint)
    else:
        model, tokenizer = load_torch_artifact(source)
    train, validation = context.data["train"], context.data["validation"]
    loss_fn = None
    if config.teacher:
        logits = teacher_logits(context.resolve(config.teacher), context, config.train.max_length)
        loss_fn = distill_loss_fn(logits, config.alpha, config.temperature)
    by_epoch: list[float] = []

    def record(epoch: int) -> None:  # with the masks of that moment in force
        by_epoch.append(accuracy_of(model, tokenizer, validation[TEXT], validation[LABEL], config.train.max_length))
        logger.info("prune (%s): epoch %d, validation accuracy %.4f", config.method, epoch, by_epoch[-1])

    prune_classifier(model, tokenizer, train[TEXT], train[LABEL], config, device=context.device, loss_fn=loss_fn,
                     on_epoch_end=record)
    accuracy = accuracy_of(model, tokenizer, validation[TEXT], validation[LABEL], config.train.max_length)
    sizes = save_sparse_classifier(model, tokenizer, out_dir)
    achieved = weight_sparsity(model, config.targets)
    logger.info(
        "prune (%s): sparsity %.4f of the pruned weights, validation accuracy %.4f, %.1f MB stored (%.1f MB dense)",
        config.method, achieved, accuracy, sizes["size_mb"], sizes["dense_size_mb"],
    )
    meta = {
        "method": config.method,
        "sparsity": achieved,
        "validation_accuracy": accuracy,
        "validation_accuracy_by_epoch": by_epoch,
        **{k: v for k, v in sizes.items() if k != "size_mb"},  # the suite measures size_mb itself
        "inference": "dense kernels on weights with zeros: no speed-up expected",
        "seed": config.train.seed,
    }
    return Built(SPARSE_TORCH_KIND, meta)
