"""Export a torch classifier to ONNX, with dynamic batch/sequence axes and a parity check.

The TorchScript-based exporter with eager attention and opset 17 produces the graph patterns
that ONNX Runtime's transformer optimizer fuses (Attention, EmbedLayerNormalization,
SkipLayerNormalization, BiasGelu); the dynamo exporter and SDPA attention do not, today.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from compressors.artifacts import Artifact, Built
from compressors.data import TEXT
from compressors.formats.checkpoints import save_tokenizer
from compressors.formats.dense import TORCH_KINDS, load_torch_artifact
from compressors.formats.onnx import INPUT_NAMES, MODEL_FILE, ONNX_KIND, make_session
from compressors.steps.base import BuildContext, register_step


class OnnxExportError(RuntimeError):
    """Export failed, or the exported graph does not reproduce the torch model."""


@dataclass(frozen=True)
class OnnxExport:
    """Export settings.

    Attributes:
        opset: ONNX opset version.
        parity_samples: validation queries compared between torch and ONNX Runtime.
        parity_tolerance: largest allowed max-abs logit difference (fp32).
    """

    opset: int = 17
    parity_samples: int = 32
    parity_tolerance: float = 1e-4

    STEP: ClassVar[str] = "onnx-export"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not 14 <= self.opset <= 20:
            raise ValueError(f"OnnxExport.opset must be in [14, 20] (fusable BERT graphs), got {self.opset}")
        if self.parity_samples < 1 or not self.parity_tolerance > 0:
            raise ValueError(f"OnnxExport needs parity_samples >= 1 and parity_tolerance > 0, got {self}")


@contextlib.contextmanager
def _quiet_legacy_exporter():
    """The TorchScript exporter warns that it is legacy; it is chosen on purpose (see module doc)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*(legacy TorchScript|will be removed|trace might not generalize|Converting a tensor).*")
        try:
            from torch.jit import TracerWarning

            warnings.filterwarnings("ignore", category=TracerWarning)
        except ImportError:  # pragma: no cover
            pass
        yield


def export_model(model, tokenizer, path: Path, opset: int) -> None:
    """Write `model` as ONNX to `path` with dynamic batch and sequence axes."""
    import torch

    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    model.eval()
    sample = tokenizer(["an example query", "a second, longer example query"], padding=True, return_tensors="pt")
    inputs = tuple(sample[name] for name in INPUT_NAMES)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES} | {"logits": {0: "batch"}}

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    # The exporter restores the wrapper's train/eval mode afterwards, recursively: a wrapper left
    # in training mode would switch the model's dropout on.
    wrapper = LogitsOnly(model).eval()
    try:
        with _quiet_legacy_exporter(), torch.inference_mode():
            torch.onnx.export(
                wrapper, inputs, str(path), input_names=list(INPUT_NAMES), output_names=["logits"],
                dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False,
            )
    except Exception as error:  # the exporter raises many unrelated types
        raise OnnxExportError(
            f"torch.onnx.export of {type(model).__name__} failed: {error}. The ONNX steps need a BERT-like "
            "classifier taking input_ids/attention_mask/token_type_ids; try another opset (OnnxExport.opset)."
        ) from error


def check_parity(model, tokenizer, onnx_path: Path, texts: list[str], tolerance: float) -> float:
    """Max abs logit difference between torch and ONNX Runtime on `texts`; raises beyond `tolerance`."""
    import torch

    encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    model.eval()
    with torch.inference_mode():
        expected = model(**encoded).logits.float().numpy()
    session = make_session(onnx_path, threads=1)
    feed = {i.name: encoded[i.name].numpy() for i in session.get_inputs()}
    actual = session.run(["logits"], feed)[0]
    difference = float(np.abs(actual - expected).max())
    same_argmax = bool((actual.argmax(-1) == expected.argmax(-1)).all())
    if difference > tolerance or not same_argmax:
        raise OnnxExportError(
            f"{onnx_path}: ONNX logits differ from torch by up to {difference:.2e} (tolerance {tolerance:.0e}), "
            f"same argmax: {same_argmax}"
        )
    return difference


@register_step(OnnxExport, produces=ONNX_KIND, accepts=TORCH_KINDS, uses_data=False)
def export_onnx(source: Artifact, config: OnnxExport, context: BuildContext, out_dir: Path) -> Built:
    """The onnx-export step: `model.onnx` + tokenizer + config, parity-checked on validation queries."""
    model, tokenizer = load_torch_artifact(source)
    export_model(model, tokenizer, out_dir / MODEL_FILE, config.opset)
    texts = list(context.data["validation"][TEXT][: config.parity_samples])
    difference = check_parity(model, tokenizer, out_dir / MODEL_FILE, texts, config.parity_tolerance)
    model.config.save_pretrained(out_dir)
    save_tokenizer(tokenizer, out_dir)
    return Built(ONNX_KIND, {"parity_max_abs_diff": difference})
