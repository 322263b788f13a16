"""ONNX Runtime int8 quantization: dynamic (weights int8, activations per call) and static QDQ (calibrated)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import TEXT
from compressors.formats.checkpoints import load_tokenizer
from compressors.formats.onnx import MODEL_FILE, ONNX_KIND, copy_support_files, make_session
from compressors.steps.base import OMIT_WHEN_DEFAULT, BuildContext, register_step

logger = logging.getLogger(__name__)

# int8 weights: signed (U8S8 with the uint8 activations, ORT's default) or unsigned (U8U8, which
# ORT's documentation recommends on AVX2 machines without VNNI, where U8S8 can saturate).
WEIGHT_TYPES = ("int8", "uint8")
# Operators `quantize_dynamic` can quantize in a BERT graph (fused or not); () means all it supports.
DYNAMIC_OPERATORS = ("MatMul", "Attention", "Gather", "EmbedLayerNormalization")


@contextlib.contextmanager
def _scratch_directory():
    """Run in a throw-away working directory: onnx's external-data helper drops `<uuid>.data`
    files into the current directory when the quantizer saves large intermediate graphs."""
    with tempfile.TemporaryDirectory(prefix="ort-quant-") as scratch, contextlib.chdir(scratch):
        yield Path(scratch)


def _preprocess(source_path: Path, out_path: Path) -> Path:
    """quant_pre_process; on graphs it cannot handle, fall back to the graph as it is."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source_path), str(out_path), skip_optimization=True, skip_symbolic_shape=False)
        return out_path
    except Exception as error:  # noqa: BLE001 - symbolic shape inference fails on some contrib ops
        logger.warning("quantization pre-processing failed on %s (%s); quantizing the graph as it is", source_path, error)
        return source_path


@dataclass(frozen=True)
class OrtDynamicInt8:
    """`onnxruntime.quantization.quantize_dynamic` after its pre-processing step.

    Attributes:
        per_channel: per-output-channel weight scales.
        preprocess: run `quant_pre_process` (shape inference and graph clean-up) first.
        reduce_range: 7-bit weights, so that U8S8 products cannot saturate on AVX2 without VNNI.
        weight_type: "int8" (U8S8) or "uint8" (U8U8).
        operators: the operator types to quantize (of `DYNAMIC_OPERATORS`); () quantizes every type ORT can.
    """

    per_channel: bool = False
    preprocess: bool = True
    reduce_range: bool = field(default=False, metadata=OMIT_WHEN_DEFAULT)
    weight_type: str = field(default="int8", metadata=OMIT_WHEN_DEFAULT)
    operators: tuple[str, ...] = field(default=(), metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "ort-int8-dynamic"
    VERSION: ClassVar[str] = "1"
    QUANTIZES: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.weight_type not in WEIGHT_TYPES:
            raise ValueError(f"OrtDynamicInt8.weight_type must be one of {WEIGHT_TYPES} (U8S8 or U8U8), got {self.weight_type!r}")
        unknown = [op for op in self.operators if op not in DYNAMIC_OPERATORS]
        if unknown or len(set(self.operators)) != len(self.operators):
            raise ValueError(f"OrtDynamicInt8.operators must be distinct names of {DYNAMIC_OPERATORS}, got {self.operators}")


@register_step(OrtDynamicInt8, produces=ONNX_KIND, accepts=(ONNX_KIND,), uses_data=False, code=("compressors.formats.onnx",))
def quantize_onnx_dynamic(source: Artifact, config: OrtDynamicInt8, context: BuildContext, out_dir: Path) -> Built:
    """The ort-int8-dynamic step: int8 weights, activations quantized per call."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    copy_support_files(source, out_dir, session=True)
    with _scratch_directory() as scratch:
        work = scratch / "preprocessed.onnx"
        model_in = _preprocess(source.path / MODEL_FILE, work) if config.preprocess else source.path / MODEL_FILE
        quantize_dynamic(
            str(model_in), str(out_dir / MODEL_FILE), per_channel=config.per_channel, reduce_range=config.reduce_range,
            weight_type=QuantType.QUInt8 if config.weight_type == "uint8" else QuantType.QInt8,
            op_types_to_quantize=list(config.operators) or None,
            # Fused contrib ops carry no type information for their weights; without a default the
            # quantizer stops with "Unable to find data type for weight_name=...".
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return Built(ONNX_KIND, {"preprocessed": model_in == work})


@dataclass(frozen=True)
class OrtStaticInt8:
    """`quantize_static` in QDQ format, calibrated on training queries.

    Attributes:
        calibration_size: evenly spaced training queries fed through the graph to collect
            activation ranges (deterministic: no random sampling).
        per_channel: per-output-channel weight scales.
        method: calibration method, "minmax", "entropy" or "percentile".
    """

    calibration_size: int = 200
    per_channel: bool = True
    method: str = "minmax"

    STEP: ClassVar[str] = "ort-int8-static"
    VERSION: ClassVar[str] = "1"
    QUANTIZES: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.calibration_size < 1:
            raise ValueError(f"OrtStaticInt8.calibration_size must be >= 1, got {self.calibration_size}")
        if self.method not in ("minmax", "entropy", "percentile"):
            raise ValueError(f"OrtStaticInt8.method must be minmax, entropy or percentile, got {self.method!r}")


class _QueryReader:
    """Calibration data reader: one tokenized training query per call."""

    def __init__(self, tokenizer, texts: Sequence[str], input_names: Sequence[str]) -> None:
        self.items = iter(
            {name: tokenizer(text, truncation=True, max_length=64, return_tensors="np")[name] for name in input_names}
            for text in texts
        )

    def get_next(self):
        return next(self.items, None)


def calibration_texts(texts: Sequence[str], size: int) -> list[str]:
    """`size` evenly spaced texts (every class of a split sorted by class is represented)."""
    step = max(1, len(texts) // size)
    return list(texts[::step][:size])


@register_step(OrtStaticInt8, produces=ONNX_KIND, accepts=(ONNX_KIND,), code=("compressors.formats.onnx",))
def quantize_onnx_static(source: Artifact, config: OrtStaticInt8, context: BuildContext, out_dir: Path) -> Built:
    """The ort-int8-static step: QDQ int8 with calibrated activation scales."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    copy_support_files(source, out_dir)
    session = make_session(source.path / MODEL_FILE)
    texts = calibration_texts(list(context.data["train"][TEXT]), config.calibration_size)
    reader = _QueryReader(load_tokenizer(str(source.path)), texts, [i.name for i in session.get_inputs()])
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
    with _scratch_directory() as scratch:
        model_in = _preprocess(source.path / MODEL_FILE, scratch / "preprocessed.onnx")
        quantize_static(
            str(model_in), str(out_dir / MODEL_FILE), reader, quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=config.per_channel,
            calibrate_method=methods[config.method],
        )
    return Built(ONNX_KIND, {"calibration_size": config.calibration_size})
