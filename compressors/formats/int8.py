"""Torch dynamic int8 classifiers: every `nn.Linear` with int8 weights, activations quantized per call.

The artifact stores int8 weights, their scales and zero points as plain tensors in safetensors
(never a pickled module); loading rebuilds the quantized modules from them.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

from compressors.artifacts import Artifact
from compressors.formats.checkpoints import load_tokenizer, save_tokenizer
from compressors.formats.dense import DEFAULT_MAX_LENGTH, TorchPredictor
from compressors.formats.structured import skeleton

INT8_KIND = "torch-int8"
WEIGHTS_FILE = "int8.safetensors"
LAYOUT_FILE = "int8_layout.json"


@contextlib.contextmanager
def _quiet_eager_quantization():
    """torch.ao.quantization's eager API is deprecated; its warnings would drown the suite's output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")
        yield


def quantize_linear_layers(model):
    """A dynamically quantized copy of `model` (int8 `nn.Linear`s); the original is untouched."""
    import copy

    import torch

    with _quiet_eager_quantization():
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)


def quantized_linears(model) -> dict:
    import torch

    dynamic = torch.ao.nn.quantized.dynamic.Linear
    return {name: module for name, module in model.named_modules() if isinstance(module, dynamic)}


def save_int8(quantized, tokenizer, out_dir: Path) -> None:
    """Save a dynamically quantized model: int8 weights + scales as tensors, the rest as fp32."""
    import torch
    from safetensors.torch import save_file

    linears = quantized_linears(quantized)
    tensors, layout = {}, {}
    for name, module in linears.items():
        weight, bias = module._weight_bias()
        per_channel = weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
        tensors[f"{name}.weight_int8"] = weight.int_repr().contiguous()
        if per_channel:
            tensors[f"{name}.scales"] = weight.q_per_channel_scales().float()
            tensors[f"{name}.zero_points"] = weight.q_per_channel_zero_points()
        else:
            tensors[f"{name}.scales"] = torch.tensor([weight.q_scale()], dtype=torch.float32)
            tensors[f"{name}.zero_points"] = torch.tensor([weight.q_zero_point()])
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().float().contiguous()
        layout[name] = {"per_channel": per_channel, "axis": 0}
    prefixes = tuple(f"{n}." for n in linears)
    for key, value in quantized.state_dict().items():
        if isinstance(value, torch.Tensor) and not value.is_quantized and not key.startswith(prefixes):
            tensors[key] = value.contiguous()
    save_file(tensors, str(out_dir / WEIGHTS_FILE))
    (out_dir / LAYOUT_FILE).write_text(json.dumps(layout, indent=1))
    quantized.config.save_pretrained(out_dir)
    save_tokenizer(tokenizer, out_dir)


def load_int8(path: Path, attention: str = "eager"):
    """Rebuild a dynamically quantized classifier from `save_int8`'s files."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    path = Path(path)
    config = AutoConfig.from_pretrained(path)
    model = skeleton(config, attention, str(path / "config.json")).eval()  # with pruned heads/neurons if any
    tensors = load_file(str(path / WEIGHTS_FILE))
    layout = json.loads((path / LAYOUT_FILE).read_text())
    plain = {k: v for k, v in tensors.items() if not k.startswith(tuple(f"{n}." for n in layout))}
    missing, unexpected = model.load_state_dict(plain, strict=False)
    dense_missing = [k for k in missing if not k.startswith(tuple(f"{n}." for n in layout))]
    if dense_missing or unexpected:
        raise ValueError(f"{path / WEIGHTS_FILE}: weights do not fit the config (missing {dense_missing[:3]}, unexpected {unexpected[:3]})")
    quantized = quantize_linear_layers(model)
    linears = quantized_linears(quantized)
    if set(linears) != set(layout):
        raise ValueError(f"{path / LAYOUT_FILE}: quantized layers {sorted(layout)[:3]}... do not match the model")
    for name, module in linears.items():
        with _quiet_eager_quantization():
            _set_int8_weight(module, tensors, name, layout[name])
    return quantized


def _set_int8_weight(module, tensors, name: str, layout: dict) -> None:
    """Put a stored int8 weight (and bias) into a dynamically quantized Linear."""
    import torch

    raw = tensors[f"{name}.weight_int8"]
    scales, zero_points = tensors[f"{name}.scales"], tensors[f"{name}.zero_points"]
    if layout["per_channel"]:
        weight = torch._make_per_channel_quantized_tensor(raw, scales.double(), zero_points.long(), layout["axis"])
    else:
        weight = torch._make_per_tensor_quantized_tensor(raw, float(scales[0]), int(zero_points[0]))
    module.set_weight_bias(weight, tensors.get(f"{name}.bias"))



def load_int8_predictor(
    artifact: Artifact, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH, attention: str = "sdpa"
) -> TorchPredictor:
    """A TorchPredictor over the int8 artifact."""
    return TorchPredictor(load_int8(artifact.path, attention), load_tokenizer(str(artifact.path)), threads, max_length)
