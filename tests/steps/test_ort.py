"""ONNX Runtime steps: the fusion rule, int8 dynamic and static, corrupt files, settings."""

from __future__ import annotations

import numpy as np
import pytest
from tests_support import copy_as_artifact

import compressors.steps.ort_optimize as ort_optimize
from compressors.formats.onnx import OnnxModelError, OrtPredictor, fusion_counts, make_session
from compressors.steps.base import apply_step
from compressors.steps.onnx_export import OnnxExport
from compressors.steps.ort_optimize import OrtOptimize, missing_fusions
from compressors.steps.ort_quantize import OrtDynamicInt8, OrtStaticInt8

TEXTS = ["please set an alarm for seven", "what is the exchange rate", "tell me a joke about cats", "hi"]


@pytest.fixture()
def exported(tiny_checkpoint, tmp_path, context):
    return apply_step(copy_as_artifact(tiny_checkpoint, tmp_path), OnnxExport(), context)


def test_transformer_optimizer_fuses_attention_and_embeddings_and_keeps_the_fused_graph(exported, context) -> None:
    optimized = apply_step(exported, OrtOptimize(timing_rounds=0), context)
    # Two encoder layers: one Attention each, two SkipLayerNormalization each, one BiasGelu each,
    # and the embeddings folded into one EmbedLayerNormalization.
    expected = {"Attention": 2, "EmbedLayerNormalization": 1, "SkipLayerNormalization": 4, "BiasGelu": 2}
    assert fusion_counts(optimized.path / "model.onnx") == expected
    assert optimized.meta["kept"] == "fused"
    assert (optimized.path / "model.onnx").read_bytes() != (exported.path / "model.onnx").read_bytes()
    before, after = OrtPredictor.from_artifact(exported), OrtPredictor.from_artifact(optimized)
    assert np.abs(before.logits(TEXTS) - after.logits(TEXTS)).max() < 1e-4


def test_the_graph_kept_never_depends_on_build_time_timing(exported, context, monkeypatch) -> None:
    # Whatever the clock says (here: the fused graph is 10x slower), the rule keeps the fused graph.
    timings = iter([1.0, 10.0])
    monkeypatch.setattr(ort_optimize, "_build_time_p50_ms", lambda *args: next(timings))
    optimized = apply_step(exported, OrtOptimize(timing_rounds=5), context)
    assert optimized.meta["kept"] == "fused"
    assert (optimized.meta["exported_p50_ms"], optimized.meta["fused_p50_ms"]) == (1.0, 10.0)
    assert fusion_counts(optimized.path / "model.onnx")["Attention"] == 2


def test_a_graph_whose_fusions_fall_short_keeps_the_exported_graph_as_written(exported, context, monkeypatch) -> None:
    monkeypatch.setattr(ort_optimize, "missing_fusions", lambda counts, layers: ["Attention 1 of 2"])
    optimized = apply_step(exported, OrtOptimize(timing_rounds=0), context)
    assert optimized.meta["kept"] == "exported" and "Attention 1 of 2" in optimized.meta["reason"]
    assert (optimized.path / "model.onnx").read_bytes() == (exported.path / "model.onnx").read_bytes()


def test_a_fused_graph_that_changes_the_logits_keeps_the_exported_graph(exported, context, monkeypatch) -> None:
    monkeypatch.setattr(ort_optimize, "logit_difference", lambda *args: (0.5, False))
    optimized = apply_step(exported, OrtOptimize(timing_rounds=0), context)
    assert optimized.meta["kept"] == "exported" and "logits differ by up to 5.00e-01" in optimized.meta["reason"]
    assert (optimized.path / "model.onnx").read_bytes() == (exported.path / "model.onnx").read_bytes()


def test_missing_fusions_names_what_the_optimizer_did_not_fuse() -> None:
    full = {"Attention": 3, "EmbedLayerNormalization": 1}
    assert missing_fusions(full, 3) == []
    assert missing_fusions({"Attention": 2, "EmbedLayerNormalization": 0}, 3) == [
        "Attention 2 of 3", "EmbedLayerNormalization 0 of 1",
    ]


@pytest.mark.parametrize("fused", [False, True])
def test_dynamic_int8_is_smaller_and_close(exported, context, fused) -> None:
    source = apply_step(exported, OrtOptimize(timing_rounds=0), context) if fused else exported
    quantized = apply_step(source, OrtDynamicInt8(), context)
    assert quantized.deployed_bytes() < source.deployed_bytes()
    fp32, int8 = OrtPredictor.from_artifact(source).logits(TEXTS), OrtPredictor.from_artifact(quantized).logits(TEXTS)
    snr_db = 20 * np.log10(np.linalg.norm(fp32) / np.linalg.norm(fp32 - int8))
    assert snr_db > 15


def test_static_int8_qdq_is_calibrated_and_close(exported, context) -> None:
    quantized = apply_step(exported, OrtStaticInt8(calibration_size=16), context)
    import onnx

    ops = {n.op_type for n in onnx.load(str(quantized.path / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fp32, int8 = OrtPredictor.from_artifact(exported).logits(TEXTS), OrtPredictor.from_artifact(quantized).logits(TEXTS)
    snr_db = 20 * np.log10(np.linalg.norm(fp32) / np.linalg.norm(fp32 - int8))
    assert snr_db > 10


def test_corrupt_onnx_file_is_a_clear_error_and_is_rebuilt(tiny_checkpoint, tmp_path, context) -> None:
    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    exported = apply_step(source, OnnxExport(), context)
    (exported.path / "model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(OnnxModelError, match="ONNX Runtime cannot load .*model.onnx"):
        make_session(exported.path / "model.onnx")
    rebuilt = apply_step(source, OnnxExport(), context)
    assert rebuilt.key == exported.key and rebuilt.digest == exported.digest
    assert OrtPredictor.from_artifact(rebuilt)("hello") >= 0


def test_steps_need_an_onnx_source(tiny_checkpoint, tmp_path, context) -> None:
    with pytest.raises(ValueError, match=r"ort-int8-dynamic reads \['onnx'\] artifacts, got 'torch'"):
        apply_step(copy_as_artifact(tiny_checkpoint, tmp_path), OrtDynamicInt8(), context)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="graph_level must be one of"):
        OrtOptimize(graph_level="max")
    with pytest.raises(ValueError, match="calibration_size must be >= 1"):
        OrtStaticInt8(calibration_size=0)
