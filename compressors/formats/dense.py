"""Dense torch classifiers: saved with `save_pretrained` (safetensors), loaded, and run as predictors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from compressors.artifacts import Artifact
from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer, save_tokenizer
from compressors.formats.sparse import SPARSE_TORCH_KIND, load_sparse_model
from compressors.formats.structured import STRUCTURED_TORCH_KIND, has_structure, load_structured_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TORCH_KIND = "torch"
TORCH_KINDS = (TORCH_KIND, SPARSE_TORCH_KIND, STRUCTURED_TORCH_KIND)
DEFAULT_MAX_LENGTH = 64
DENSE_WEIGHTS = "model.safetensors"  # what `save_pretrained` writes
# Attention kernels of transformers' BERT: what a user serving the model in PyTorch gets by default
# ("sdpa") and the explicit one the ONNX export traces ("eager").
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def save_classifier(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> None:
    """Save a classifier (safetensors) and its tokenizer into one directory."""
    model.save_pretrained(out_dir)
    save_tokenizer(tokenizer, out_dir)


def load_torch_artifact(artifact: Artifact, attention: str = "eager") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The (model, tokenizer) pair of a torch artifact: dense, stored sparse, or with pruned heads/neurons."""
    if artifact.kind not in TORCH_KINDS:
        raise ValueError(f"expected one of {TORCH_KINDS} artifacts, got {artifact.kind!r} at {artifact.path}")
    if artifact.kind == SPARSE_TORCH_KIND:
        model = load_sparse_model(artifact.path, attention)
    elif artifact.kind == STRUCTURED_TORCH_KIND:
        model = load_structured_model(artifact.path, attention)
    elif has_structure(artifact.path):  # a structured model trained further by a step that saves dense
        model = load_structured_model(artifact.path, attention, weights=DENSE_WEIGHTS)
    else:
        model = load_pretrained_classifier(str(artifact.path), attn_implementation=attention)
    return model, load_tokenizer(str(artifact.path))


class TorchPredictor:
    """A torch sequence classifier with its tokenizer: tokenize + infer, nothing else."""

    def __init__(self, model, tokenizer, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        import torch

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.threads = threads
        self.max_length = max_length
        self._torch = torch
        torch.set_num_threads(threads)

    @classmethod
    def from_artifact(
        cls, artifact: Artifact, threads: int = 1, max_length: int = DEFAULT_MAX_LENGTH, attention: str = "sdpa"
    ) -> TorchPredictor:
        if attention not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention must be one of {ATTENTION_IMPLEMENTATIONS}, got {attention!r}")
        model, tokenizer = load_torch_artifact(artifact, attention)
        return cls(model, tokenizer, threads, max_length)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with self._torch.inference_mode():
            return self.model(**encoded).logits.float().numpy()

    def __call__(self, text: str) -> int:
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt")
        with self._torch.inference_mode():
            return int(self.model(**encoded).logits.argmax(-1))
