"""Inference for every artifact kind behind one interface: texts in, logits or a label id out.

A predictor is what a server would hold in memory: the tokenizer and the loaded model or
session. Loading happens in `load_predictor`; calling it runs only tokenize + infer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from compressors.artifacts import Artifact
from compressors.formats.decision import DecisionPredictor, read_decision
from compressors.formats.dense import DEFAULT_MAX_LENGTH, TORCH_KINDS, TorchPredictor
from compressors.formats.int8 import INT8_KIND, load_int8_predictor
from compressors.formats.onnx import ONNX_KIND, OrtPredictor

# Kinds served by torch modules, whose attention kernel (sdpa or eager) can be chosen at load time.
TORCH_SERVED_KINDS = (*TORCH_KINDS, INT8_KIND)
PREDICTOR_KINDS = (*TORCH_SERVED_KINDS, ONNX_KIND)


class Predictor(Protocol):
    """Tokenize + infer for one artifact."""

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Logits for a batch of texts, shape (len(texts), num_labels)."""

    def __call__(self, text: str) -> int:
        """The predicted label id of one query (the timed server path)."""


def load_predictor(
    artifact: Artifact,
    threads: int = 1,
    max_length: int = DEFAULT_MAX_LENGTH,
    *,
    attention: str = "sdpa",
    ort_spinning: bool = True,
) -> Predictor:
    """Load the predictor for an artifact's kind, with `threads` intra-op threads; it follows the
    out-of-scope decision the artifact carries, if any.

    Args:
        attention: attention kernel of torch-served kinds ("sdpa" or "eager").
        ort_spinning: whether ONNX Runtime's idle worker threads spin (ONNX kinds).
    """
    if artifact.kind in TORCH_KINDS:
        predictor = TorchPredictor.from_artifact(artifact, threads, max_length, attention)
    elif artifact.kind == INT8_KIND:
        predictor = load_int8_predictor(artifact, threads, max_length, attention)
    elif artifact.kind == ONNX_KIND:
        predictor = OrtPredictor.from_artifact(artifact, threads, max_length, ort_spinning)
    else:
        raise ValueError(f"no predictor for artifact kind {artifact.kind!r} ({artifact.path}); known: {list(PREDICTOR_KINDS)}")
    decision = read_decision(artifact.path)
    return predictor if decision is None else DecisionPredictor(predictor, decision)
