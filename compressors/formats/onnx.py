"""ONNX artifacts: the graph file, its tokenizer and session settings, and ONNX Runtime sessions that run it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compressors.artifacts import MANIFEST, Artifact
from compressors.formats.checkpoints import load_tokenizer
from compressors.formats.dense import DEFAULT_MAX_LENGTH

ONNX_KIND = "onnx"
MODEL_FILE = "model.onnx"
SESSION_FILE = "session.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
GRAPH_LEVELS = ("disable", "basic", "extended", "all")
# The transformer optimizer's fused operators for BERT graphs.
FUSED_OPS = ("Attention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu")


class OnnxModelError(ValueError):
    """An .onnx file that ONNX Runtime cannot load."""


def make_session(path: Path, threads: int = 1, graph_level: str = "all", spinning: bool = True):
    """An InferenceSession with fixed intra-op threads, sequential execution and the given graph level.

    Args:
        spinning: let idle intra-op worker threads spin-wait for work (ONNX Runtime's default).
            Off, they sleep: slower to wake, but they leave the cores to other work.
    """
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if graph_level not in levels:
        raise ValueError(f"graph optimization level must be one of {GRAPH_LEVELS}, got {graph_level!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[graph_level]
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise OnnxModelError(f"ONNX Runtime cannot load {path}: {error}") from error


def session_settings(path: Path) -> dict:
    """The session settings an ONNX artifact directory carries (graph level), {} when none."""
    settings_file = Path(path) / SESSION_FILE
    return json.loads(settings_file.read_text()) if settings_file.is_file() else {}


class OrtPredictor:
    """An ONNX Runtime session with its tokenizer: tokenize + infer, nothing else."""

    def __init__(self, session, tokenizer, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.input_names = [i.name for i in session.get_inputs()]

    @classmethod
    def from_artifact(
        cls, artifact: Artifact, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH, spinning: bool = True
    ) -> OrtPredictor:
        graph_level = session_settings(artifact.path).get("graph_level", "all")
        session = make_session(artifact.path / MODEL_FILE, threads, graph_level, spinning)
        return cls(session, load_tokenizer(str(artifact.path)), max_length)

    def _feed(self, encoded) -> dict[str, np.ndarray]:
        return {name: encoded[name] for name in self.input_names}

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        return self.session.run(None, self._feed(encoded))[0]

    def __call__(self, text: str) -> int:
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="np")
        return int(self.session.run(None, self._feed(encoded))[0].argmax(-1)[0])


def require_onnx(source: Artifact | None, step: str) -> Artifact:
    """`source` if it is an ONNX artifact, else an error saying what to put before `step`."""
    if source is None or source.kind != ONNX_KIND:
        kind = source.kind if source else None
        raise ValueError(f"{step} needs an {ONNX_KIND!r} artifact (put an OnnxExport step before it), got {kind!r}")
    return source


def copy_support_files(source: Artifact, out_dir: Path, session: bool = False) -> None:
    """Tokenizer and config files travel with every ONNX artifact (and the session settings if asked)."""
    for file in source.path.iterdir():
        if file.is_file() and file.suffix in (".json", ".txt") and file.name != MANIFEST:
            if file.name != SESSION_FILE or session:
                shutil.copy2(file, out_dir / file.name)


def fusion_counts(path: Path) -> dict[str, int]:
    """How many of each fused transformer operator a graph holds."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts = {op: 0 for op in FUSED_OPS}
    for node in model.graph.node:
        if node.op_type in counts:
            counts[node.op_type] += 1
    return counts
