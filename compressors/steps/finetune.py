"""Fine-tune a classifier on the training split with cross-entropy (the baseline, the teacher)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import LABEL, TEXT
from compressors.formats.checkpoints import DEFAULT_CHECKPOINT, checkpoint_fingerprint, load_pretrained_classifier, load_tokenizer
from compressors.formats.dense import TORCH_KIND, TORCH_KINDS, load_torch_artifact, save_classifier
from compressors.steps.base import BuildContext, register_step
from compressors.steps.cut_layers import keep_layers
from compressors.steps.training import TrainConfig, accuracy_of, seed_everything, train_classifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FineTune:
    """Fine-tune on the training split with cross-entropy.

    Starts from `checkpoint` (optionally cut to `layers`) when the step has no source artifact,
    and from the source artifact otherwise.
    """

    checkpoint: str = DEFAULT_CHECKPOINT
    layers: tuple[int, ...] = ()
    train: TrainConfig = field(default_factory=TrainConfig)

    STEP: ClassVar[str] = "fine-tune"
    VERSION: ClassVar[str] = "1"


def _origin(source: Artifact | None, config: FineTune, context: BuildContext) -> dict:
    return {"origin": checkpoint_fingerprint(config.checkpoint)} if source is None else {}


@register_step(
    FineTune, produces=TORCH_KIND, accepts=TORCH_KINDS, needs_source=False, identity=_origin,
    code=("compressors.steps.training", "compressors.steps.cut_layers", "compressors.formats.checkpoints"),
)
def fine_tune(source: Artifact | None, config: FineTune, context: BuildContext, out_dir: Path) -> Built:
    """Fine-tune a classifier on the context's training split; records validation accuracy per epoch."""
    seed_everything(config.train.seed)
    if source is None:
        model = load_pretrained_classifier(config.checkpoint, context.label_names)
        tokenizer = load_tokenizer(config.checkpoint)
        if config.layers:
            keep_layers(model, config.layers)
    else:
        model, tokenizer = load_torch_artifact(source)
    train, validation = context.data["train"], context.data["validation"]
    by_epoch: list[float] = []

    def record(epoch: int) -> None:
        by_epoch.append(accuracy_of(model, tokenizer, validation[TEXT], validation[LABEL], config.train.max_length))
        logger.info("%s: epoch %d, validation accuracy %.4f", config.STEP, epoch, by_epoch[-1])

    train_classifier(
        model, tokenizer, train[TEXT], train[LABEL], config.train,
        description=config.STEP, on_epoch_end=record, device=context.device,
    )
    save_classifier(model, tokenizer, out_dir)
    meta = {
        "validation_accuracy": by_epoch[-1],
        "validation_accuracy_by_epoch": by_epoch,
        "layers": model.config.num_hidden_layers,
        "seed": config.train.seed,
    }
    return Built(TORCH_KIND, meta)
