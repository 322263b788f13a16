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
    """

    min_count: int = 1
    spelling_pieces: bool = True
    keep_frequent: int = field(default=0, metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "trim-vocabulary"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError(f"TrimVocabulary.min_count must be >= 1, got {self.min_count}")
        if self.keep_frequent < 0:
            raise ValueError(f"TrimVocabulary.keep_frequent must be >= 0, got {self.keep_frequent}")


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


def trimmed_tokenizer(tokenizer, kept_ids: Iterable[int]):
    """A BERT tokenizer over the kept pieces, producing the new (dense) ids directly."""
    from transformers import BertTokenizer

    _require_wordpiece(tokenizer)
    by_id = {i: piece for piece, i in tokenizer.get_vocab().items()}
    vocab = {by_id[old]: new for new, old in enumerate(kept_ids)}
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
    trimmed = trimmed_tokenizer(tokenizer, kept)
    trim_model(model, kept)
    save_classifier(model, trimmed, out_dir)
    return Built(TORCH_KIND, {"vocab_size": len(kept), "original_vocab_size": len(tokenizer.get_vocab())})
