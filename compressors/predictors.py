"""Inference for every artifact kind behind one interface: texts in, logits or a label id out.

A predictor is what a server would hold in memory: the tokenizer and the loaded model or
session. Loading happens in `load_predictor`; calling it runs only tokenize + infer.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from compressors.artifacts import Artifact

DEFAULT_MAX_LENGTH = 64


class Predictor(Protocol):
    """Tokenize + infer for one artifact."""

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Logits for a batch of texts, shape (len(texts), num_labels)."""

    def __call__(self, text: str) -> int:
        """The predicted label id of one query (the timed server path)."""


# Artifact kind -> "module:loader"; loaders take (artifact, threads, max_length).
_LOADERS: dict[str, str] = {
    "torch": "compressors.predictors:TorchPredictor.from_artifact",
    "torch-int8": "compressors.quantization:load_int8_predictor",
    "onnx": "compressors.ort:OrtPredictor.from_artifact",
    "sparse-torch": "compressors.predictors:TorchPredictor.from_artifact",
}


def load_predictor(artifact: Artifact, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH) -> Predictor:
    """Load the predictor for an artifact's kind, with `threads` intra-op threads."""
    if artifact.kind not in _LOADERS:
        raise ValueError(f"no predictor for artifact kind {artifact.kind!r} ({artifact.path}); known: {sorted(_LOADERS)}")
    module, attribute = _LOADERS[artifact.kind].split(":")
    loader = importlib.import_module(module)
    for part in attribute.split("."):
        loader = getattr(loader, part)
    return loader(artifact, threads, max_length)


class TorchPredictor:
    """A torch sequence classifier with its tokenizer."""

    def __init__(self, model, tokenizer, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        import torch

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.threads = threads
        self.max_length = max_length
        self._torch = torch
        torch.set_num_threads(threads)

    @classmethod
    def from_artifact(cls, artifact: Artifact, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH) -> TorchPredictor:
        from compressors.finetune import load_torch_artifact

        model, tokenizer = load_torch_artifact(artifact)
        return cls(model, tokenizer, threads, max_length)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with self._torch.inference_mode():
            return self.model(**encoded).logits.float().numpy()

    def __call__(self, text: str) -> int:
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt")
        with self._torch.inference_mode():
            return int(self.model(**encoded).logits.argmax(-1))
