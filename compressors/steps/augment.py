"""Teacher-labelled data augmentation (TinyBERT): variants of the training queries that the
student learns from the teacher's soft logits alone, so no extra labels are needed.

The algorithm (pure and seeded; only the teacher's input word embeddings are read):

1. Neighbours: for each whole word of the training texts that is in the vocabulary, the `top_k`
   most similar whole-word, alphabetic, non-special WordPiece tokens (length >= 2) by cosine
   similarity of the teacher's input word embeddings; ties broken by token id.
2. One variant of a text: split on whitespace; for each word, with probability `p_replace` (if
   it has neighbours) replace it by one of its neighbours drawn uniformly, else with probability
   `p_drop` drop it (never below `min_words` words); then one pass of adjacent swaps, each with
   probability `p_swap`. A variant equal to its text is drawn again (up to `max_tries`).
3. Variant k of row i uses `random.Random(f"{seed}:{i}:{k}")`: the same variant whatever the
   number of copies, the process or PYTHONHASHSEED.

The augmented texts and the teacher's logits on them are cached artifacts. A variant has no
label of its own and so can never carry a wrong one: only the teacher's soft targets train on it.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from compressors.artifacts import Artifact, Built
from compressors.data import TEXT
from compressors.formats.dense import load_torch_artifact
from compressors.steps.base import BuildContext, describe

if TYPE_CHECKING:
    import torch

TEXTS_FILE = "texts.json.gz"
LOGITS_FILE = "teacher_logits.safetensors"


@dataclass(frozen=True)
class Augment:
    """How many variants of each training query, and how they are made.

    Attributes:
        copies: variants per training query.
        top_k: neighbours a replacement is drawn from.
        p_replace, p_drop, p_swap: per-word probabilities of a replacement, a drop, an adjacent swap.
        min_words: a variant keeps at least this many words.
        max_tries: draws of a variant that came out equal to its text.
        weight: weight of the KD term on augmented rows (-1: the KD weight of the original rows, 1 - alpha).
        seed: the variants' seed.
    """

    copies: int = 4
    top_k: int = 10
    p_replace: float = 0.3
    p_drop: float = 0.1
    p_swap: float = 0.1
    min_words: int = 2
    max_tries: int = 5
    weight: float = -1.0
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("p_replace", "p_drop", "p_swap"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Augment.{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.copies < 1 or self.top_k < 1 or self.min_words < 1 or self.max_tries < 1:
            raise ValueError(f"Augment needs copies, top_k, min_words and max_tries >= 1, got {self}")
        if self.weight != -1.0 and self.weight < 0:
            raise ValueError(f"Augment.weight must be >= 0 (or -1 for 1 - alpha), got {self.weight}")


def candidate_ids(vocab: dict[str, int], special_tokens: Sequence[str]) -> list[int]:
    """Ids of whole-word, alphabetic, non-special WordPiece tokens of length >= 2."""
    special = set(special_tokens)
    return sorted(i for token, i in vocab.items() if token not in special and token.isalpha() and len(token) >= 2)


def build_neighbours(texts: Sequence[str], vocab: dict[str, int], embeddings: np.ndarray,
                     special_tokens: Sequence[str], top_k: int) -> dict[str, list[str]]:
    """word -> its `top_k` nearest candidate words by cosine similarity of input embeddings, best first."""
    inverse = {i: token for token, i in vocab.items()}
    candidates = np.asarray(candidate_ids(vocab, special_tokens))
    allowed = set(candidates.tolist())
    words = sorted({w for text in texts for w in text.split() if w in vocab and vocab[w] in allowed})
    unit = embeddings.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    out: dict[str, list[str]] = {}
    for start in range(0, len(words), 512):
        chunk = words[start : start + 512]
        ids = np.asarray([vocab[w] for w in chunk])
        similarity = unit[ids] @ unit[candidates].T
        similarity[candidates[None, :] == ids[:, None]] = -np.inf  # never the word itself
        for row, word in enumerate(chunk):
            order = np.lexsort((candidates, -similarity[row]))[:top_k]
            out[word] = [inverse[int(candidates[j])] for j in order]
    return out


def augment_text(text: str, neighbours: dict[str, list[str]], config: Augment, rng: random.Random) -> str:
    """One variant of `text` (see the module docstring)."""
    original = text.split()
    result = original
    for _ in range(config.max_tries):
        words: list[str] = []
        remaining = len(original)
        for word in original:
            remaining -= 1
            options = neighbours.get(word)
            if options and rng.random() < config.p_replace:
                words.append(options[rng.randrange(len(options))])
            elif rng.random() < config.p_drop and len(words) + remaining >= config.min_words:
                continue
            else:
                words.append(word)
        i = 0
        while i < len(words) - 1:
            if rng.random() < config.p_swap:
                words[i], words[i + 1] = words[i + 1], words[i]
                i += 2
            else:
                i += 1
        result = words
        if words != original:
            break
    return " ".join(result)


def augment_texts(texts: Sequence[str], neighbours: dict[str, list[str]], config: Augment) -> list[str]:
    """Every variant, copy-major: variant k of row i is at `k * len(texts) + i`."""
    return [
        augment_text(text, neighbours, config, random.Random(f"{config.seed}:{i}:{k}"))
        for k in range(config.copies)
        for i, text in enumerate(texts)
    ]


def augmented_texts(teacher: Artifact, config: Augment, context: BuildContext) -> list[str]:
    """The training split's variants (neighbours from the teacher's embeddings), built once and cached."""

    def build(out_dir: Path) -> Built:
        model, tokenizer = load_torch_artifact(teacher)
        embeddings = model.get_input_embeddings().weight.detach().numpy()
        texts = list(context.data["train"][TEXT])
        neighbours = build_neighbours(texts, tokenizer.get_vocab(), embeddings, tokenizer.all_special_tokens, config.top_k)
        variants = augment_texts(texts, neighbours, config)
        with gzip.open(out_dir / TEXTS_FILE, "wt", encoding="utf-8") as handle:
            json.dump(variants, handle)
        return Built("augmented-texts", {"rows": len(variants), "words_with_neighbours": len(neighbours)})

    recipe = {"step": "augment", "version": "1", "config": describe(config), "teacher": teacher.key, "data": context.data_key}
    artifact = context.cache.get_or_build("augment", recipe, build)
    with gzip.open(artifact.path / TEXTS_FILE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def augmented_logits(teacher: Artifact, config: Augment, context: BuildContext, max_length: int) -> torch.Tensor:
    """The teacher's logits on the augmented texts, computed once and cached."""
    from safetensors.torch import load_file, save_file

    from compressors.steps.training import predict_logits

    texts = augmented_texts(teacher, config, context)

    def build(out_dir: Path) -> Built:
        import torch

        model, tokenizer = load_torch_artifact(teacher)
        logits = predict_logits(model, tokenizer, texts, max_length=max_length)
        save_file({"logits": torch.from_numpy(logits)}, str(out_dir / LOGITS_FILE))
        return Built("teacher-logits", {"rows": len(logits)})

    recipe = {"step": "teacher-logits", "version": "1", "teacher": teacher.key, "augment": describe(config),
              "data": context.data_key, "max_length": max_length}
    artifact = context.cache.get_or_build("teacher-logits", recipe, build)
    return load_file(str(artifact.path / LOGITS_FILE))["logits"]
