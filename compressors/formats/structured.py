"""Structured torch classifiers: encoder layers with fewer attention heads and feed-forward neurons.

A BERT-like classifier whose layers lost whole heads (rows of query/key/value, columns of the
attention output) and whole feed-forward neurons (rows of the intermediate projection, columns
of the output projection) has physically smaller matrices, so it runs faster with ordinary
dense kernels. Its `config.json` still describes the source model (12 heads of 32, ...) and
adds the layers' shapes under `compressors_structure`:

    {"heads": [6, 6, ...], "intermediate": [768, 768, ...], "head_size": 32}

Which of the source's heads and neurons were kept is the pruning step's record, not needed to
load. Loading builds the model from the config (a throwaway random init), slices every layer to
the stored shapes, then loads the weights (safetensors) strictly.

transformers v5 has no `prune_heads`, so the slicing is done here. BERT's self-attention reads
only `attention_head_size` and `scaling` in its forward pass (the head count is inferred from
the projection's width); `num_attention_heads` and `all_head_size` are updated so the module
says what it holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import safe_open

from compressors.formats.checkpoints import save_tokenizer
from compressors.formats.safetensors_file import save_safetensors

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

STRUCTURED_TORCH_KIND = "structured-torch"
STRUCTURED_WEIGHTS = "model.structured.safetensors"
STRUCTURE_KEY = "compressors_structure"
FORMAT_KEY = "compressors.structured"
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Structure:
    """The shapes of a (pruned) encoder, per layer.

    Attributes:
        heads: attention heads each layer holds.
        intermediate: feed-forward neurons each layer holds.
        head_size: the width of one head (unchanged by pruning).
    """

    heads: tuple[int, ...]
    intermediate: tuple[int, ...]
    head_size: int

    def as_json(self) -> dict[str, Any]:
        return {"heads": list(self.heads), "intermediate": list(self.intermediate), "head_size": self.head_size}

    @classmethod
    def from_json(cls, value: Any, where: str) -> Structure:
        """The structure stored at `where` (a file and key, for error messages)."""
        if not isinstance(value, dict) or set(value) != {"heads", "intermediate", "head_size"}:
            raise ValueError(f"{where}: expected an object with keys heads, intermediate, head_size, got {value!r}")
        heads, intermediate, head_size = value["heads"], value["intermediate"], value["head_size"]
        for name, sizes in (("heads", heads), ("intermediate", intermediate)):
            if not isinstance(sizes, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
                raise ValueError(f"{where}.{name}: expected a list of integers (one per layer), got {sizes!r}")
        if not isinstance(head_size, int) or isinstance(head_size, bool):
            raise ValueError(f"{where}.head_size: expected an integer, got {head_size!r}")
        return cls(tuple(heads), tuple(intermediate), head_size)

    def check(self, config: PretrainedConfig, where: str) -> None:
        """Raise unless this structure fits inside the model `config` describes."""
        layers, heads = config.num_hidden_layers, config.num_attention_heads
        if len(self.heads) != layers or len(self.intermediate) != layers:
            raise ValueError(
                f"{where}: {len(self.heads)} head counts and {len(self.intermediate)} intermediate sizes "
                f"for a model of {layers} layers (one each per layer)"
            )
        if self.head_size != config.hidden_size // heads:
            raise ValueError(f"{where}.head_size: {self.head_size}, but the config's heads are {config.hidden_size // heads} wide")
        if not all(1 <= n <= heads for n in self.heads):
            raise ValueError(f"{where}.heads: each layer keeps 1 to {heads} heads, got {list(self.heads)}")
        if not all(1 <= n <= config.intermediate_size for n in self.intermediate):
            raise ValueError(
                f"{where}.intermediate: each layer keeps 1 to {config.intermediate_size} neurons, got {list(self.intermediate)}"
            )


def encoder_layers(model: PreTrainedModel) -> list[torch.nn.Module]:
    """The encoder layers of a BERT-like model (self-attention + intermediate + output)."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not all(
        hasattr(layer, "attention") and hasattr(layer.attention, "self") and hasattr(layer, "intermediate")
        for layer in layers
    ):
        raise ValueError(f"cannot prune {type(model).__name__} structurally: expected a BERT-like encoder")
    return list(layers)


def _sliced(linear: torch.nn.Linear, index: torch.Tensor, dim: int) -> torch.nn.Linear:
    """A new Linear holding the rows (dim 0: outputs) or columns (dim 1: inputs) `index` names."""
    weight = linear.weight.detach().index_select(dim, index).clone()
    bias = linear.bias.detach().clone() if linear.bias is not None else None
    if dim == 0 and bias is not None:
        bias = bias.index_select(0, index).clone()
    out_features, in_features = weight.shape
    # skip_init: no random init to overwrite, and the caller's RNG does not move
    sliced = torch.nn.utils.skip_init(
        torch.nn.Linear, in_features, out_features, bias=bias is not None, dtype=weight.dtype, device=weight.device
    )
    with torch.no_grad():
        sliced.weight.copy_(weight)
        if bias is not None:
            sliced.bias.copy_(bias)
    sliced.train(linear.training)
    return sliced


def _kept(indices: Sequence[int], total: int, what: str) -> torch.Tensor:
    kept = sorted(int(i) for i in indices)
    if not kept or len(set(kept)) != len(kept) or kept[0] < 0 or kept[-1] >= total:
        raise ValueError(f"{what} to keep must be 1 or more distinct indices in [0, {total}), got {list(indices)}")
    return torch.tensor(kept, dtype=torch.long)


def prune_layer(layer: torch.nn.Module, heads: Sequence[int], neurons: Sequence[int]) -> None:
    """Keep `heads` (indices among the layer's current heads) and `neurons` of one encoder layer, in place."""
    attention = layer.attention.self
    size = attention.attention_head_size
    kept_heads = _kept(heads, attention.num_attention_heads, "heads")
    columns = (kept_heads[:, None] * size + torch.arange(size)).reshape(-1)
    for name in ("query", "key", "value"):
        setattr(attention, name, _sliced(getattr(attention, name), columns, 0))
    layer.attention.output.dense = _sliced(layer.attention.output.dense, columns, 1)
    attention.num_attention_heads = len(kept_heads)
    attention.all_head_size = len(kept_heads) * size
    kept_neurons = _kept(neurons, layer.intermediate.dense.out_features, "feed-forward neurons")
    layer.intermediate.dense = _sliced(layer.intermediate.dense, kept_neurons, 0)
    layer.output.dense = _sliced(layer.output.dense, kept_neurons, 1)


def structure_of(model: PreTrainedModel) -> Structure:
    """The heads and feed-forward neurons every encoder layer holds now."""
    layers = encoder_layers(model)
    return Structure(
        heads=tuple(layer.attention.self.query.out_features // layer.attention.self.attention_head_size for layer in layers),
        intermediate=tuple(layer.intermediate.dense.out_features for layer in layers),
        head_size=layers[0].attention.self.attention_head_size,
    )


def prune_model(model: PreTrainedModel, heads: Sequence[Sequence[int]], neurons: Sequence[Sequence[int]]) -> Structure:
    """Keep, in every encoder layer i, the heads `heads[i]` and feed-forward neurons `neurons[i]`.

    The indices are the layer's current ones. The model's config records the new structure.
    """
    layers = encoder_layers(model)
    if len(heads) != len(layers) or len(neurons) != len(layers):
        raise ValueError(f"need heads and neurons for each of the {len(layers)} layers, got {len(heads)} and {len(neurons)}")
    for layer, layer_heads, layer_neurons in zip(layers, heads, neurons):
        prune_layer(layer, layer_heads, layer_neurons)
    structure = structure_of(model)
    setattr(model.config, STRUCTURE_KEY, structure.as_json())
    return structure


def skeleton(config: PretrainedConfig, attention: str = "eager", where: str = "config") -> PreTrainedModel:
    """A randomly initialised classifier of `config`, sliced to the structure its config records (if any).

    The caller loads the real weights; the throwaway init does not move the caller's RNG.
    """
    from transformers import AutoModelForSequenceClassification

    with torch.random.fork_rng(devices=[]):
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attention)
    stored = getattr(config, STRUCTURE_KEY, None)
    if stored is not None:
        structure = Structure.from_json(stored, f"{where}: {STRUCTURE_KEY}")
        structure.check(config, f"{where}: {STRUCTURE_KEY}")
        for layer, heads, neurons in zip(encoder_layers(model), structure.heads, structure.intermediate):
            prune_layer(layer, range(heads), range(neurons))
    return model


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_structured_classifier(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> Structure:
    """Save config (with the structure), tokenizer and weights (safetensors, atomically) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    structure = structure_of(model)
    setattr(model.config, STRUCTURE_KEY, structure.as_json())
    model.config.save_pretrained(out_dir)
    save_tokenizer(tokenizer, out_dir)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"format": "pt", FORMAT_KEY: FORMAT_VERSION, STRUCTURE_KEY: json.dumps(structure.as_json())}
    save_safetensors(state, out_dir / STRUCTURED_WEIGHTS, metadata)
    return structure


def load_structured_model(path: Path, attention: str = "eager", weights: str = STRUCTURED_WEIGHTS) -> PreTrainedModel:
    """A ready-to-run classifier from a directory written by `save_structured_classifier`.

    Args:
        weights: the safetensors file in `path` to load (a dense save of a structured model
            writes `model.safetensors`).
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig

    path = Path(path)
    config = AutoConfig.from_pretrained(str(path))
    if getattr(config, STRUCTURE_KEY, None) is None:
        raise ValueError(f"{path / 'config.json'}: no {STRUCTURE_KEY!r} entry; not a structured classifier")
    if weights == STRUCTURED_WEIGHTS:
        with safe_open(str(path / weights), framework="pt") as handle:
            version = (handle.metadata() or {}).get(FORMAT_KEY)
        if version != FORMAT_VERSION:
            raise ValueError(f"{path / weights}: not a structured weights file of version {FORMAT_VERSION} ({FORMAT_KEY}={version!r})")
    model = skeleton(config, attention, str(path / "config.json"))
    try:
        model.load_state_dict(load_file(str(path / weights)), strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path / weights}: weights do not fit the structure in config.json: {error}") from error
    return model.eval()


def has_structure(path: Path) -> bool:
    """Whether the config.json in `path` records a structure (a pruned model saved another way)."""
    config = Path(path) / "config.json"
    return config.is_file() and STRUCTURE_KEY in json.loads(config.read_text())


def fusion_attention(model_config: dict[str, Any]) -> tuple[int, int] | None:
    """The (num_heads, hidden_size) to give ONNX Runtime's Attention fusion for a BERT `config.json`.

    A structured model's attention is `heads * head_size` wide, not the model's hidden size: the
    optimizer must be told that, or it fuses an Attention node that splits the projections into
    heads of the wrong width (or one ONNX Runtime refuses to load). None when layers kept
    different numbers of heads: the optimizer takes one head count for the whole graph.
    """
    stored = model_config.get(STRUCTURE_KEY)
    if stored is None:
        return model_config["num_attention_heads"], model_config["hidden_size"]
    structure = Structure.from_json(stored, f"config.json: {STRUCTURE_KEY}")
    if len(set(structure.heads)) != 1:
        return None
    return structure.heads[0], structure.heads[0] * structure.head_size
