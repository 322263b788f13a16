"""Vocabulary trimming: keep the WordPiece ids the training data uses, and the pieces to spell any word.

The word-embedding matrix is most of a small BERT's bytes (30,522 x 384 of MiniLM-L6). The
training split of CLINC150 uses about 5,400 ids. Trimming keeps those, plus every character of
the training text and of printable ASCII as a word-initial piece and as a `##` continuation, so
that a word whose id was dropped is re-segmented into pieces that were kept (greedy
longest-match WordPiece falls back to shorter pieces) instead of becoming `[UNK]`.

Text whose original pieces were all kept tokenizes exactly as before: the kept vocabulary is a
subset, so the longest match WordPiece found before is still the longest match.
"""

from __future__ import annotations

import itertools
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.data import TEXT
from compressors.formats.dense import TORCH_KIND, TORCH_KINDS, load_torch_artifact, save_classifier
from compressors.steps.base import OMIT_WHEN_DEFAULT, BuildContext, register_step


DROPPED = ("respell", "nearest")


@dataclass(frozen=True)
class TrimVocabulary:
    """Keep the ids the training split uses at least `min_count` times, and spelling pieces.

    Attributes:
        min_count: least number of occurrences in the training split for an id to be kept.
        spelling_pieces: also keep every character (word-initial and `##` form) seen in the
            training text or in printable ASCII, so no word of such characters becomes [UNK].
        keep_frequent: also keep the first `keep_frequent` multi-character pieces in id order.
            BERT's WordPiece vocabularies list pieces by corpus frequency after the single
            characters, so these are the commonest words, which then keep their own embedding
            when a query outside the training split uses them.
        dropped: what becomes of a dropped piece: "respell" (the tokenizer no longer knows it,
            so WordPiece spells the word with kept pieces) or "nearest" (the tokenizer still
            segments text exactly as before, and the dropped piece reads the embedding row of
            its nearest kept piece of the same kind, word-initial or `##`, by cosine similarity).
    """

    min_count: int = 1
    spelling_pieces: bool = True
    keep_frequent: int = field(default=0, metadata=OMIT_WHEN_DEFAULT)
    dropped: str = field(default="respell", metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "trim-vocabulary"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError(f"TrimVocabulary.min_count must be >= 1, got {self.min_count}")
        if self.keep_frequent < 0:
            raise ValueError(f"TrimVocabulary.keep_frequent must be >= 0, got {self.keep_frequent}")
        if self.dropped not in DROPPED:
            raise ValueError(f"TrimVocabulary.dropped must be one of {DROPPED}, got {self.dropped!r}")


def _require_wordpiece(tokenizer) -> None:
    model = tokenizer.backend_tokenizer.model
    if type(model).__name__ != "WordPiece":
        raise ValueError(
            f"vocabulary trimming supports WordPiece (BERT) tokenizers; this one is {type(model).__name__}"
        )


def kept_token_ids(tokenizer, texts: Sequence[str], config: TrimVocabulary) -> list[int]:
    """The original ids to keep, in increasing order (so the new ids keep the old order)."""
    _require_wordpiece(tokenizer)
    vocab = tokenizer.get_vocab()
    counts = Counter(i for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"] for i in ids)
    kept = {i for i, n in counts.items() if n >= config.min_count}
    kept |= set(tokenizer.all_special_ids)
    if config.keep_frequent:
        specials = set(tokenizer.all_special_tokens)
        words = (
            i for piece, i in sorted(vocab.items(), key=lambda item: item[1])
            if len(piece.removeprefix("##")) > 1 and piece not in specials and not piece.startswith("[unused")
        )
        kept.update(itertools.islice(words, config.keep_frequent))
    if config.spelling_pieces:
        normalizer = tokenizer.backend_tokenizer.normalizer
        characters = set(string.printable.strip()) | {c for text in texts for c in normalizer.normalize_str(text)}
        for character in characters:
            for piece in (character, f"##{character}"):
                if piece in vocab:
                    kept.add(vocab[piece])
    return sorted(kept)


@dataclass(frozen=True)
class DroppedShare:
    """How much of some texts a trimmed vocabulary no longer covers with their original pieces."""

    texts: int
    texts_with_dropped: float  # share of texts containing at least one dropped id
    tokens_dropped: float  # share of all (non-special) tokens that are dropped ids


def dropped_share(tokenizer, kept_ids: Iterable[int], texts: Sequence[str]) -> DroppedShare:
    """The share of `texts` (and of their tokens) that use an id outside `kept_ids`."""
    kept = set(kept_ids)
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    tokens = sum(len(ids) for ids in encoded)
    dropped = [sum(i not in kept for i in ids) for ids in encoded]
    return DroppedShare(
        texts=len(encoded),
        texts_with_dropped=sum(n > 0 for n in dropped) / len(encoded) if encoded else 0.0,
        tokens_dropped=sum(dropped) / tokens if tokens else 0.0,
    )


def nearest_kept(tokenizer, kept_ids: Sequence[int], embeddings) -> dict[int, int]:
    """For each dropped id, the kept id of the same kind (word-initial or `##`) whose embedding is
    the most similar by cosine (ties: the lower id)."""
    import numpy as np

    vectors = np.asarray(embeddings, dtype=np.float64)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    by_id = {i: piece for piece, i in tokenizer.get_vocab().items()}
    kept = sorted(kept_ids)
    kept_set = set(kept)
    special = set(tokenizer.all_special_ids)
    mapping: dict[int, int] = {}
    for continuation in (False, True):
        targets = np.array([i for i in kept if i not in special and by_id[i].startswith("##") == continuation])
        dropped = [i for i in sorted(by_id) if i not in kept_set and by_id[i].startswith("##") == continuation]
        for start in range(0, len(dropped), 1024):
            chunk = np.array(dropped[start : start + 1024])
            best = (vectors[chunk] @ vectors[targets].T).argmax(-1)  # first maximum: the lowest kept id
            mapping.update(zip(chunk.tolist(), targets[best].tolist()))
    return mapping


def trimmed_tokenizer(tokenizer, kept_ids: Iterable[int], nearest: dict[int, int] | None = None):
    """A BERT tokenizer over the kept pieces, producing the new (dense) ids directly.

    With `nearest` (dropped id -> kept id), the dropped pieces stay in the vocabulary and read
    their kept neighbour's new id, so text segments exactly as before.
    """
    from transformers import BertTokenizer

    _require_wordpiece(tokenizer)
    kept_ids = list(kept_ids)
    by_id = {i: piece for piece, i in tokenizer.get_vocab().items()}
    vocab = {by_id[old]: new for new, old in enumerate(kept_ids)}
    if nearest:
        position = {old: new for new, old in enumerate(kept_ids)}
        vocab |= {by_id[dropped]: position[target] for dropped, target in nearest.items()}
    normalizer = tokenizer.backend_tokenizer.normalizer.__getstate__()
    options = _normalizer_options(normalizer)
    return BertTokenizer(
        vocab=vocab,
        unk_token=tokenizer.unk_token,
        sep_token=tokenizer.sep_token,
        pad_token=tokenizer.pad_token,
        cls_token=tokenizer.cls_token,
        mask_token=tokenizer.mask_token,
        model_max_length=tokenizer.model_max_length,
        **options,
    )


def _normalizer_options(state: bytes | str) -> dict:
    import json

    settings = json.loads(state)
    return {
        "do_lower_case": settings.get("lowercase", True),
        "tokenize_chinese_chars": settings.get("handle_chinese_chars", True),
        "strip_accents": settings.get("strip_accents"),
    }


def trim_model(model, kept_ids: Sequence[int]):
    """Keep only the embedding rows of `kept_ids` (in place); returns the model."""
    import torch

    old = model.get_input_embeddings()
    index = torch.tensor(list(kept_ids), dtype=torch.long)
    new = torch.nn.Embedding(len(index), old.embedding_dim, padding_idx=None)
    with torch.no_grad():
        new.weight.copy_(old.weight[index])
    model.set_input_embeddings(new)
    model.config.vocab_size = len(index)
    position = {old_id: new_id for new_id, old_id in enumerate(kept_ids)}
    if model.config.pad_token_id is not None:
        model.config.pad_token_id = position[model.config.pad_token_id]
    return model


@register_step(TrimVocabulary, produces=TORCH_KIND, accepts=TORCH_KINDS)
def trim_vocabulary(source: Artifact, config: TrimVocabulary, context: BuildContext, out_dir: Path) -> Built:
    """The trim-vocabulary step: a torch artifact with a smaller embedding matrix and tokenizer."""
    model, tokenizer = load_torch_artifact(source)
    kept = kept_token_ids(tokenizer, context.data["train"][TEXT], config)
    nearest = None
    if config.dropped == "nearest":
        nearest = nearest_kept(tokenizer, kept, model.get_input_embeddings().weight.detach().numpy())
    trimmed = trimmed_tokenizer(tokenizer, kept, nearest)
    trim_model(model, kept)
    save_classifier(model, trimmed, out_dir)
    return Built(TORCH_KIND, {"vocab_size": len(kept), "original_vocab_size": len(tokenizer.get_vocab()), "dropped": config.dropped})
