"""Torch dynamic int8: error bounds, safetensors round trip, and the step on a tiny classifier."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests_support import copy_as_artifact

from compressors.formats.int8 import load_int8, quantize_linear_layers
from compressors.steps.base import apply_step
from compressors.steps.torch_int8 import TorchDynamicInt8


@settings(deadline=None, max_examples=40)
@given(arrays(np.float32, st.tuples(st.integers(1, 16), st.integers(1, 16)), elements=st.floats(-4, 4, width=32)))
def test_int8_weights_are_within_half_a_step_of_fp32(weights) -> None:
    import torch

    linear = torch.nn.Sequential(torch.nn.Linear(weights.shape[1], weights.shape[0]))
    with torch.no_grad():
        linear[0].weight.copy_(torch.from_numpy(weights))
    weight = quantize_linear_layers(linear)[0].weight()
    scales = weight.q_per_channel_scales() if weight.qscheme() == torch.per_channel_affine else torch.tensor(weight.q_scale())
    error = (weight.dequantize() - linear[0].weight).abs()
    bound = scales.reshape(-1, 1) if scales.ndim else scales
    assert bool((error <= bound / 2 + 1e-6).all())


def test_int8_step_saves_safetensors_and_reloads_identically(tiny_checkpoint, tmp_path, context) -> None:
    import torch

    from compressors.formats.dense import load_torch_artifact
    from compressors.formats.predictors import load_predictor

    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    artifact = apply_step(source, TorchDynamicInt8(), context)
    assert artifact.kind == "torch-int8" and artifact.meta["quantized_linears"] == 2 * 6 + 2
    assert not list(artifact.path.glob("*.bin")) and not list(artifact.path.glob("*.pt"))
    model, tokenizer = load_torch_artifact(source)
    batch = tokenizer(["book a table for two", "what is my balance"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        in_memory = quantize_linear_layers(model)(**batch).logits
        reloaded = load_int8(artifact.path)(**batch).logits
        fp32 = model(**batch).logits
    assert torch.equal(in_memory, reloaded)
    # Signal-to-noise of int8 vs fp32 logits, as torchao checks its quantizers.
    snr_db = 20 * torch.log10(fp32.norm() / (fp32 - reloaded).norm())
    assert snr_db > 20
    predictor = load_predictor(artifact, threads=1)
    assert predictor("book a table for two") == int(reloaded[0].argmax())
    assert artifact.deployed_bytes() < source.deployed_bytes()


def test_int8_step_needs_a_source(context) -> None:
    with pytest.raises(ValueError, match="needs a source"):
        apply_step(None, TorchDynamicInt8(), context)
