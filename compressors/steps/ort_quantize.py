"""ONNX Runtime int8 quantization: dynamic (weights int8, activations per call) and static QDQ (calibrated)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import TEXT
from compressors.formats.checkpoints import load_tokenizer
from compressors.formats.onnx import MODEL_FILE, ONNX_KIND, copy_support_files, make_session
from compressors.steps.base import BuildContext, register_step

logger = logging.getLogger(__name__)


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
    """

    per_channel: bool = False
    preprocess: bool = True

    STEP: ClassVar[str] = "ort-int8-dynamic"
    VERSION: ClassVar[str] = "1"
    QUANTIZES: ClassVar[bool] = True


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
            str(model_in), str(out_dir / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=config.per_channel,
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
