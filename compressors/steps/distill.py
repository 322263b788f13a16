"""Knowledge distillation (Hinton et al. 2015): the KD loss, cached teacher logits, the distill step.

The student's loss is `alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(p_teacher^T || p_student^T)`
with `batchmean` reduction. The teacher's logits on the training split are computed once per
(teacher artifact, data) and cached as an artifact, so epochs and search trials never run it again.
`Distill.layers` adds an intermediate-layer loss (`compressors.steps.distill_layers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import LABEL, TEXT
from compressors.formats.checkpoints import checkpoint_fingerprint, load_pretrained_classifier, load_tokenizer
from compressors.formats.checkpoints import label_names as saved_label_names
from compressors.formats.dense import TORCH_KIND, TORCH_KINDS, load_torch_artifact, save_classifier
from compressors.steps.augment import Augment, augmented_logits, augmented_texts
from compressors.steps.base import OMIT_WHEN_DEFAULT, BuildContext, register_step
from compressors.steps.distill_layers import LayerLoss, ValueCapture, check_layer_pairs, layer_loss, resolved, value_captures
from compressors.steps.training import TrainConfig, accuracy_of, predict_logits, seed_everything, train_classifier

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

LOGITS_FILE = "teacher_logits.safetensors"


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """The distillation loss; gradients flow to the student only (the teacher's logits are detached)."""
    import torch.nn.functional as F

    cross_entropy = F.cross_entropy(student_logits, labels)
    if alpha == 1.0:
        return cross_entropy
    teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    student = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student, teacher, reduction="batchmean")
    return alpha * cross_entropy + (1.0 - alpha) * temperature**2 * kl


def augmented_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    augmented: torch.Tensor,
    alpha: float,
    temperature: float,
    augmented_weight: float = -1.0,
) -> torch.Tensor:
    """Per row: alpha * CE + (1 - alpha) * T^2 * KL for a labelled row, w * T^2 * KL for an augmented
    one (w = 1 - alpha unless given); the batch mean. Augmented rows' labels are never read."""
    import torch
    import torch.nn.functional as F

    weight = 1.0 - alpha if augmented_weight < 0 else augmented_weight
    teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    student = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student, teacher, reduction="none").sum(-1) * temperature**2
    cross_entropy = F.cross_entropy(student_logits, torch.where(augmented, 0, labels), reduction="none")
    return torch.where(augmented, weight * kl, alpha * cross_entropy + (1.0 - alpha) * kl).mean()


@dataclass(frozen=True)
class Distill:
    """Train a student with the KD loss against a teacher variant.

    The student is the step's source artifact (e.g. layers cut from the teacher), or, when
    `student_checkpoint` is set, that pretrained checkpoint with a new head.

    Attributes:
        teacher: the variant whose artifact is the teacher.
        alpha: weight of the cross-entropy term; 1.0 trains on labels alone.
        temperature: softmax temperature T of the KL term.
        student_checkpoint: a smaller pretrained checkpoint (name or directory), or "".
        same_tokenizer: require the student's vocabulary to equal the teacher's.
        layers: also match hidden states / attention maps of mapped layers (None: logits only);
            needs a student that tokenizes like the teacher.
        augment: also train on variants of the training queries, against the teacher's logits
            alone (`compressors.steps.augment`); None trains on the training split only.
        teacher_seeds: an ensemble teacher: the KD targets are the mean of the teacher's logits
            and those of its chain trained again with each of these seeds; () uses the teacher alone.
    """

    teacher: str = "baseline"
    alpha: float = 0.5
    temperature: float = 2.0
    train: TrainConfig = field(default_factory=TrainConfig)
    student_checkpoint: str = ""
    same_tokenizer: bool = True
    layers: LayerLoss | None = field(default=None, metadata=OMIT_WHEN_DEFAULT)
    augment: Augment | None = field(default=None, metadata=OMIT_WHEN_DEFAULT)
    teacher_seeds: tuple[int, ...] = field(default=(), metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "distill"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"Distill.alpha must be in [0, 1], got {self.alpha}")
        if not self.temperature > 0:
            raise ValueError(f"Distill.temperature must be > 0, got {self.temperature}")
        if self.teacher_seeds and self.augment is not None:
            raise ValueError("Distill.teacher_seeds and Distill.augment cannot be combined yet: the augmented "
                             "queries' logits come from the teacher alone; set one of them")
        if len(set(self.teacher_seeds)) != len(self.teacher_seeds):
            raise ValueError(f"Distill.teacher_seeds must be distinct, got {self.teacher_seeds}")


def teacher_logits(teacher: Artifact, context: BuildContext, max_length: int) -> torch.Tensor:
    """The teacher's logits on every training row, computed once and cached."""
    from safetensors.torch import load_file, save_file

    def build(out_dir: Path) -> Built:
        import torch

        model, tokenizer = load_torch_artifact(teacher)
        logits = predict_logits(model, tokenizer, context.data["train"][TEXT], max_length=max_length)
        save_file({"logits": torch.from_numpy(logits)}, str(out_dir / LOGITS_FILE))
        return Built("teacher-logits", {"rows": len(logits)})

    recipe = {"step": "teacher-logits", "version": "1", "teacher": teacher.key, "data": context.data_key, "max_length": max_length}
    artifact = context.cache.get_or_build("teacher-logits", recipe, build)
    return load_file(str(artifact.path / LOGITS_FILE))["logits"]


def ensemble_members(config: Distill, context: BuildContext) -> list[Artifact]:
    """The teacher's artifact, then its chain trained again with each of `config.teacher_seeds`."""
    return [context.resolve(config.teacher), *(context.reseeded(config.teacher, seed) for seed in config.teacher_seeds)]


def ensemble_logits(members: list[Artifact], context: BuildContext, max_length: int) -> torch.Tensor:
    """The mean of the members' (cached) logits on every training row."""
    logits = [teacher_logits(member, context, max_length) for member in members]
    return sum(logits[1:], logits[0]) / len(logits)


def check_compatible(teacher_dir: Path, student_model, student_tokenizer, label_names: list[str], same_tokenizer: bool) -> None:
    """Fail before training when teacher and student disagree on labels (or vocabulary)."""
    teacher_labels = saved_label_names(teacher_dir)
    student_labels = [student_model.config.id2label[i] for i in range(student_model.config.num_labels)]
    if teacher_labels != label_names or student_labels != label_names:
        raise ValueError(
            "teacher and student must share the data set's label mapping: teacher has "
            f"{len(teacher_labels)} labels, student {len(student_labels)}, data {len(label_names)}"
            " (or the same number in another order)"
        )
    if same_tokenizer and load_tokenizer(str(teacher_dir)).get_vocab() != student_tokenizer.get_vocab():
        raise ValueError(
            "teacher and student tokenizers differ; use a student with the teacher's vocabulary, or set "
            "Distill.same_tokenizer = False (teacher logits are per text, so this is allowed on purpose)"
        )


def load_student(source: Artifact | None, config: Distill, context: BuildContext):
    """The student model and tokenizer, before training."""
    if config.student_checkpoint:
        return load_pretrained_classifier(config.student_checkpoint, context.label_names), load_tokenizer(config.student_checkpoint)
    if source is None:
        raise ValueError("distill needs a source student artifact or Distill.student_checkpoint")
    return load_torch_artifact(source)


def distill_loss_fn(
    teacher_logits: torch.Tensor | None,
    alpha: float,
    temperature: float,
    layers: LayerLoss | None = None,
    teacher_model=None,
    augmented: torch.Tensor | None = None,
    augmented_weight: float = -1.0,
    values: tuple[ValueCapture, ValueCapture] | None = None,
) -> Callable:
    """The training loop's loss hook for rows of the training split (and their augmented variants).

    With `layers`, `teacher_model` runs on each batch for its hidden states and attention maps
    (and `values` captures both models' value projections for a value-relation term).
    With `augmented` (a boolean per row), those rows are trained on the KD term alone.
    """
    import torch

    if layers is not None and teacher_model is None:
        raise ValueError("an intermediate-layer loss needs the teacher model")

    def loss(outputs, labels, rows, batch):
        logits = outputs.logits
        if augmented is not None:
            value = augmented_kd_loss(logits, teacher_logits[rows].to(logits.device), labels, augmented[rows].to(logits.device),
                                      alpha, temperature, augmented_weight)
        elif teacher_logits is None or alpha == 1.0:
            value = kd_loss(logits, logits, labels, 1.0, temperature)
        else:
            value = kd_loss(logits, teacher_logits[rows].to(logits.device), labels, alpha, temperature)
        if layers is not None:
            with torch.no_grad():
                teacher = teacher_model(**batch, output_hidden_states=True, output_attentions=layers.needs_attentions)
            value = value + layer_loss(outputs, teacher, batch["attention_mask"], layers, values)
        return value

    return loss


def load_layer_teacher(teacher: Artifact, student_model, student_tokenizer, layers: LayerLoss):
    """The teacher model for an intermediate-layer loss, after checking it fits the student,
    and the loss with its layer pairs spelled out."""
    teacher_model, teacher_tokenizer = load_torch_artifact(teacher)
    if teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab():
        raise ValueError(
            "intermediate-layer distillation compares token by token, so the student must use the "
            "teacher's tokenizer; trim the vocabulary after this step, or set Distill.layers = None"
        )
    layers = resolved(layers, student_model.config, teacher_model.config)
    check_layer_pairs(layers, student_model.config, teacher_model.config)
    return teacher_model.eval().requires_grad_(False), layers


def train_student(
    source: Artifact | None,
    config: Distill,
    context: BuildContext,
    rows: list[int] | None = None,
    on_epoch_end: Callable[..., None] | None = None,
):
    """Train a student with `config`; returns (model, tokenizer).

    Args:
        rows: training rows to use (all when None), e.g. a search trial's subset.
        on_epoch_end: called as `on_epoch_end(epoch, model, tokenizer)`; may raise to stop.
    """
    teacher = context.resolve(config.teacher)
    seed_everything(config.train.seed)
    model, tokenizer = load_student(source, config, context)
    check_compatible(teacher.path, model, tokenizer, context.label_names, config.same_tokenizer)
    train = context.data["train"]
    needs_logits = config.alpha < 1.0 or config.augment is not None
    logits = ensemble_logits(ensemble_members(config, context), context, config.train.max_length) if needs_logits else None
    texts, labels = list(train[TEXT]), list(train[LABEL])
    chosen = list(range(len(texts))) if rows is None else list(rows)
    augmented = None
    if config.augment is not None:
        import torch

        variants = augmented_texts(teacher, config.augment, context)
        variant_logits = augmented_logits(teacher, config.augment, context, config.train.max_length)
        extra = [k * len(texts) + i for k in range(config.augment.copies) for i in chosen]
        texts = [texts[i] for i in chosen] + [variants[j] for j in extra]
        labels = [labels[i] for i in chosen] + [-100] * len(extra)
        logits = torch.cat([logits[chosen], variant_logits[extra]])
        augmented = torch.tensor([False] * len(chosen) + [True] * len(extra))
    elif rows is not None:
        texts, labels = [texts[i] for i in chosen], [labels[i] for i in chosen]
        logits = logits[chosen] if logits is not None else None
    layers, teacher_model, forward_options = config.layers, None, {}
    if layers is not None:
        teacher_model, layers = load_layer_teacher(teacher, model, tokenizer, layers)
        teacher_model.to(context.device)
        forward_options = {"output_hidden_states": True, "output_attentions": layers.needs_attentions}
    hook = (lambda epoch: on_epoch_end(epoch, model, tokenizer)) if on_epoch_end else None
    with value_captures(model, teacher_model, layers) as values:
        train_classifier(
            model, tokenizer, texts, labels, config.train,
            loss_fn=distill_loss_fn(logits, config.alpha, config.temperature, layers, teacher_model, augmented,
                                    config.augment.weight if config.augment else -1.0, values),
            on_epoch_end=hook, forward_options=forward_options, device=context.device,
            description=f"distill a={config.alpha:.2f} T={config.temperature:.1f}" + (" +layers" if layers else "")
            + (f" +{config.augment.copies}x augmented" if config.augment else ""),
        )
    return model, tokenizer


def validation_accuracy(model, tokenizer, context: BuildContext, max_length: int) -> float:
    validation = context.data["validation"]
    return accuracy_of(model, tokenizer, validation[TEXT], validation[LABEL], max_length)


def _teacher_and_student(source: Artifact | None, config: Distill, context: BuildContext) -> dict:
    identity = {"teacher": context.resolve(config.teacher).key}
    if config.teacher_seeds:
        identity["teacher_members"] = [member.key for member in ensemble_members(config, context)[1:]]
    if config.student_checkpoint:
        identity["student"] = checkpoint_fingerprint(config.student_checkpoint)
    return identity


@register_step(
    Distill, produces=TORCH_KIND, accepts=TORCH_KINDS, needs_source=lambda config: not config.student_checkpoint,
    identity=_teacher_and_student,
    code=("compressors.steps.training", "compressors.steps.distill_layers", "compressors.formats.checkpoints"),
)
def distill(source: Artifact | None, config: Distill, context: BuildContext, out_dir: Path) -> Built:
    """The distill step: a student trained with the KD loss; records validation accuracy per epoch."""
    by_epoch: list[float] = []

    def record(epoch: int, model, tokenizer) -> None:
        by_epoch.append(validation_accuracy(model, tokenizer, context, config.train.max_length))
        logger.info("distill: epoch %d, validation accuracy %.4f", epoch, by_epoch[-1])

    model, tokenizer = train_student(source, config, context, on_epoch_end=record)
    save_classifier(model, tokenizer, out_dir)
    meta = {
        "validation_accuracy": by_epoch[-1],
        "validation_accuracy_by_epoch": by_epoch,
        "alpha": config.alpha,
        "temperature": config.temperature,
        "seed": config.train.seed,
    }
    return Built(TORCH_KIND, meta)
