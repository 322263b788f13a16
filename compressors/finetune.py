"""Steps that produce torch classifiers: fine-tuning a checkpoint, and cutting encoder layers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.models import (
    DEFAULT_CHECKPOINT,
    TORCH_KIND,
    checkpoint_fingerprint,
    keep_layers,
    load_classifier,
    load_tokenizer,
    save_classifier,
)
from compressors.recipes import BuildContext
from compressors.training import TrainConfig, accuracy_of, train_classifier

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


@dataclass(frozen=True)
class CutLayers:
    """Keep chosen encoder layers of the source model (DistilBERT's "one layer in two")."""

    layers: tuple[int, ...] = (0, 2, 4)

    STEP: ClassVar[str] = "cut-layers"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not self.layers or len(set(self.layers)) != len(self.layers) or min(self.layers) < 0:
            raise ValueError(f"CutLayers.layers must be distinct non-negative indices, got {self.layers}")


def fine_tune(source: Artifact | None, config: FineTune, context: BuildContext) -> Artifact:
    """Fine-tune a classifier on the context's training split; returns a torch artifact."""
    origin = {"origin": checkpoint_fingerprint(config.checkpoint)} if source is None else {}

    def build(out_dir: Path) -> Built:
        from compressors.training import seed_everything

        seed_everything(config.train.seed)
        if source is None:
            model = load_classifier(config.checkpoint, context.label_names)
            tokenizer = load_tokenizer(config.checkpoint)
            if config.layers:
                keep_layers(model, config.layers)
        else:
            model, tokenizer = load_torch_artifact(source)
        train = context.data["train"]
        train_classifier(model, tokenizer, train["text"], train["intent"], config.train, description=config.STEP)
        validation = context.data["validation"]
        val_accuracy = accuracy_of(model, tokenizer, validation["text"], validation["intent"], config.train.max_length)
        logger.info("%s: validation accuracy %.4f", config.STEP, val_accuracy)
        save_classifier(model, tokenizer, out_dir)
        return Built(TORCH_KIND, {"validation_accuracy": val_accuracy, "layers": model.config.num_hidden_layers})

    return context.artifact(config, source, build, extra=origin)


def cut_layers(source: Artifact | None, config: CutLayers, context: BuildContext) -> Artifact:
    """A copy of the source classifier with only `config.layers` of its encoder."""
    if source is None:
        raise ValueError("cut-layers needs a source model (e.g. the fine-tuned baseline)")

    def build(out_dir: Path) -> Built:
        model, tokenizer = load_torch_artifact(source)
        keep_layers(model, config.layers)
        save_classifier(model, tokenizer, out_dir)
        return Built(TORCH_KIND, {"layers": list(config.layers)})

    return context.artifact(config, source, build, uses_data=False)


SPARSE_TORCH_KIND = "sparse-torch"


def load_torch_artifact(artifact: Artifact):
    """The (model, tokenizer) pair of a torch artifact, dense or stored sparse (pruned)."""
    if artifact.kind == SPARSE_TORCH_KIND:
        from compressors.pruning import load_sparse_model

        return load_sparse_model(artifact.path), load_tokenizer(str(artifact.path))
    if artifact.kind != TORCH_KIND:
        raise ValueError(
            f"expected a {TORCH_KIND!r} or {SPARSE_TORCH_KIND!r} artifact, got {artifact.kind!r} at {artifact.path}"
        )
    return load_classifier(str(artifact.path)), load_tokenizer(str(artifact.path))
