"""PyTorch dynamic int8 quantization of a torch classifier's `nn.Linear` layers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.formats.dense import TORCH_KINDS, load_torch_artifact
from compressors.formats.int8 import INT8_KIND, quantize_linear_layers, quantized_linears, save_int8
from compressors.steps.base import BuildContext, register_step


@dataclass(frozen=True)
class TorchDynamicInt8:
    """Dynamic int8 quantization of `nn.Linear` layers (weights int8, activations per batch)."""

    STEP: ClassVar[str] = "torch-int8"
    VERSION: ClassVar[str] = "1"
    QUANTIZES: ClassVar[bool] = True


@register_step(TorchDynamicInt8, produces=INT8_KIND, accepts=TORCH_KINDS, uses_data=False, code=("compressors.formats.int8",))
def quantize_torch_dynamic(source: Artifact, config: TorchDynamicInt8, context: BuildContext, out_dir: Path) -> Built:
    """A dynamically quantized copy of a torch (or sparse torch) artifact."""
    model, tokenizer = load_torch_artifact(source)
    quantized = quantize_linear_layers(model)
    save_int8(quantized, tokenizer, out_dir)
    return Built(INT8_KIND, {"quantized_linears": len(quantized_linears(quantized))})
