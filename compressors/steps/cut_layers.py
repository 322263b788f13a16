"""Keep chosen encoder layers of a classifier (DistilBERT's "one layer in two")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from compressors.artifacts import Artifact, Built
from compressors.formats.dense import TORCH_KIND, TORCH_KINDS, load_torch_artifact, save_classifier
from compressors.steps.base import OMIT_WHEN_DEFAULT, BuildContext, register_step

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class CutLayers:
    """Keep `layers` of the source model's encoder, in that order.

    Attributes:
        layers: the indices to keep.
        every: with no `layers`, keep layers 0, every, 2 * every, ... of whatever depth the
            source has (DistilBERT's one layer in two is every = 2).
    """

    layers: tuple[int, ...] = (0, 2, 4)
    every: int = field(default=0, metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "cut-layers"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.every < 0 or (not self.layers and self.every < 1):
            raise ValueError(f"CutLayers needs layers, or every >= 1 to keep one layer in `every`; got {self}")
        if self.layers and (len(set(self.layers)) != len(self.layers) or min(self.layers) < 0):
            raise ValueError(f"CutLayers.layers must be distinct non-negative indices, got {self.layers}")

    def kept(self, depth: int) -> tuple[int, ...]:
        """The layers kept of a source with `depth` layers."""
        return self.layers or tuple(range(0, depth, self.every))


@register_step(CutLayers, produces=TORCH_KIND, accepts=TORCH_KINDS, uses_data=False, code=("compressors.formats.dense",))
def cut_layers(source: Artifact, config: CutLayers, context: BuildContext, out_dir: Path) -> Built:
    """A copy of the source classifier with only `config.layers` of its encoder."""
    model, tokenizer = load_torch_artifact(source)
    layers = config.kept(model.config.num_hidden_layers)
    keep_layers(model, layers)
    save_classifier(model, tokenizer, out_dir)
    return Built(TORCH_KIND, {"layers": list(layers)})


def keep_layers(model: PreTrainedModel, layers: tuple[int, ...]) -> PreTrainedModel:
    """Keep only the listed encoder layers of a BERT-like model (in place)."""
    encoder_layers = _encoder(model).layer
    count = len(encoder_layers)
    if not layers or any(i < 0 or i >= count for i in layers) or len(set(layers)) != len(layers):
        raise ValueError(f"layers to keep must be distinct indices in [0, {count}), got {list(layers)}")
    import torch

    kept = torch.nn.ModuleList([encoder_layers[i] for i in layers])
    for new_index, layer in enumerate(kept):
        attention = getattr(layer, "attention", None)
        inner = getattr(attention, "self", None) or attention
        if inner is not None and hasattr(inner, "layer_idx"):
            inner.layer_idx = new_index
    _encoder(model).layer = kept
    model.config.num_hidden_layers = len(layers)
    return model


def _encoder(model: PreTrainedModel):
    base = getattr(model, model.base_model_prefix, model)
    if not hasattr(base, "encoder") or not hasattr(base.encoder, "layer"):
        raise ValueError(f"cannot cut layers of {type(model).__name__}: expected a BERT-like encoder.layer list")
    return base.encoder
