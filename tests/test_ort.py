"""ONNX Runtime steps: fusions, int8 dynamic and static, corrupt files, settings."""

from __future__ import annotations

import numpy as np
import pytest
from tests_support import copy_as_artifact

from compressors.onnx_export import OnnxExport, export_onnx
from compressors.ort import (
    OnnxModelError,
    OrtDynamicInt8,
    OrtOptimize,
    OrtPredictor,
    OrtStaticInt8,
    fusion_counts,
    make_session,
    optimize_onnx,
    quantize_onnx_dynamic,
    quantize_onnx_static,
)

TEXTS = ["please set an alarm for seven", "what is the exchange rate", "tell me a joke about cats", "hi"]


@pytest.fixture()
def exported(tiny_checkpoint, tmp_path, context):
    return export_onnx(copy_as_artifact(tiny_checkpoint, tmp_path), OnnxExport(), context)


def test_transformer_optimizer_fuses_attention_and_embeddings(exported, context) -> None:
    optimized = optimize_onnx(exported, OrtOptimize(keep_if_faster=False), context)
    # Two encoder layers: one Attention each, two SkipLayerNormalization each, one BiasGelu each,
    # and the embeddings folded into one EmbedLayerNormalization.
    assert fusion_counts(optimized.path / "model.onnx") == {
        "Attention": 2,
        "EmbedLayerNormalization": 1,
        "SkipLayerNormalization": 4,
        "BiasGelu": 2,
    }
    assert optimized.meta["kept"] == "fused"
    before, after = OrtPredictor.from_artifact(exported), OrtPredictor.from_artifact(optimized)
    assert np.abs(before.logits(TEXTS) - after.logits(TEXTS)).max() < 1e-4


def test_keep_if_faster_records_both_timings(exported, context) -> None:
    optimized = optimize_onnx(exported, OrtOptimize(timing_rounds=20), context)
    assert optimized.meta["kept"] in ("fused", "exported")
    assert optimized.meta["fused_p50_ms"] > 0 and optimized.meta["exported_p50_ms"] > 0
    faster = "fused" if optimized.meta["fused_p50_ms"] < optimized.meta["exported_p50_ms"] else "exported"
    assert optimized.meta["kept"] == faster


@pytest.mark.parametrize("fused", [False, True])
def test_dynamic_int8_is_smaller_and_close(exported, context, fused) -> None:
    source = optimize_onnx(exported, OrtOptimize(keep_if_faster=False), context) if fused else exported
    quantized = quantize_onnx_dynamic(source, OrtDynamicInt8(), context)
    assert quantized.deployed_bytes() < source.deployed_bytes()
    fp32, int8 = OrtPredictor.from_artifact(source).logits(TEXTS), OrtPredictor.from_artifact(quantized).logits(TEXTS)
    snr_db = 20 * np.log10(np.linalg.norm(fp32) / np.linalg.norm(fp32 - int8))
    assert snr_db > 15


def test_static_int8_qdq_is_calibrated_and_close(exported, context) -> None:
    quantized = quantize_onnx_static(exported, OrtStaticInt8(calibration_size=16), context)
    import onnx

    ops = {n.op_type for n in onnx.load(str(quantized.path / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fp32, int8 = OrtPredictor.from_artifact(exported).logits(TEXTS), OrtPredictor.from_artifact(quantized).logits(TEXTS)
    snr_db = 20 * np.log10(np.linalg.norm(fp32) / np.linalg.norm(fp32 - int8))
    assert snr_db > 10


def test_corrupt_onnx_file_is_a_clear_error_and_is_rebuilt(tiny_checkpoint, tmp_path, context) -> None:
    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    exported = export_onnx(source, OnnxExport(), context)
    (exported.path / "model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(OnnxModelError, match="ONNX Runtime cannot load .*model.onnx"):
        make_session(exported.path / "model.onnx")
    rebuilt = export_onnx(source, OnnxExport(), context)
    assert rebuilt.key == exported.key and rebuilt.digest == exported.digest
    assert OrtPredictor.from_artifact(rebuilt)("hello") >= 0


def test_steps_need_an_onnx_source(tiny_checkpoint, tmp_path, context) -> None:
    with pytest.raises(ValueError, match="put an OnnxExport step before it"):
        quantize_onnx_dynamic(copy_as_artifact(tiny_checkpoint, tmp_path), OrtDynamicInt8(), context)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="graph_level must be one of"):
        OrtOptimize(graph_level="max")
    with pytest.raises(ValueError, match="calibration_size must be >= 1"):
        OrtStaticInt8(calibration_size=0)
