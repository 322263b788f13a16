"""ONNX export: parity with torch, fusions by the ORT transformer optimizer, clear failures."""

from __future__ import annotations

import pytest

from tests_support import copy_as_artifact

from compressors.steps.base import apply_step
from compressors.steps.onnx_export import OnnxExport, OnnxExportError, check_parity


@pytest.fixture()
def tiny_source(tiny_checkpoint, tmp_path):
    return copy_as_artifact(tiny_checkpoint, tmp_path)


def test_export_matches_torch_logits(tiny_source, context) -> None:
    import numpy as np
    import torch

    from compressors.formats.dense import load_torch_artifact
    from compressors.formats.onnx import OrtPredictor

    artifact = apply_step(tiny_source, OnnxExport(), context)
    assert artifact.kind == "onnx" and artifact.meta["parity_max_abs_diff"] <= 1e-4
    model, tokenizer = load_torch_artifact(tiny_source)
    texts = ["set an alarm for 7am", "how do i say thank you in french", "transfer"]
    predictor = OrtPredictor.from_artifact(artifact)
    with torch.inference_mode():
        expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()
    assert np.abs(predictor.logits(texts) - expected).max() <= 1e-4
    assert [predictor(t) for t in texts] == list(expected.argmax(-1))


def test_parity_failure_is_a_clear_error(tiny_source, context, tmp_path) -> None:
    import torch

    from compressors.formats.dense import load_torch_artifact

    artifact = apply_step(tiny_source, OnnxExport(), context)
    model, tokenizer = load_torch_artifact(tiny_source)
    with torch.no_grad():
        model.classifier.bias += 1e-2  # the graph no longer matches the model
    with pytest.raises(OnnxExportError, match="differ from torch by up to"):
        check_parity(model, tokenizer, artifact.path / "model.onnx", ["hello there"], 1e-4)


def test_export_failure_is_a_clear_error(tmp_path) -> None:
    import torch

    from compressors.steps.onnx_export import export_model

    class NotBert(torch.nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids):
            raise RuntimeError("unsupported")

    class Tokenizer:
        def __call__(self, texts, padding, return_tensors):
            ids = torch.ones((len(texts), 3), dtype=torch.long)
            return {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids * 0}

    with pytest.raises(OnnxExportError, match="torch.onnx.export of NotBert failed"):
        export_model(NotBert(), Tokenizer(), tmp_path / "m.onnx", 17)


def test_bad_opset_is_rejected() -> None:
    with pytest.raises(ValueError, match="opset must be in"):
        OnnxExport(opset=9)
