"""Vocabulary trimming: same tokens and logits for in-vocabulary text, re-spelling of dropped words."""

from __future__ import annotations

import pytest
from tests_support import copy_as_artifact

from compressors.steps.base import apply_step
from compressors.steps.trim_vocabulary import TrimVocabulary, dropped_share, kept_token_ids, trimmed_tokenizer

TRAIN = ["transfer money to my savings account", "what is the weather today", "book a table for two"]


@pytest.fixture(scope="module")
def tokenizer():
    from compressors.formats.checkpoints import load_tokenizer

    return load_tokenizer("default")


def test_in_vocabulary_text_tokenizes_as_before(tokenizer) -> None:
    kept = kept_token_ids(tokenizer, TRAIN, TrimVocabulary())
    trimmed = trimmed_tokenizer(tokenizer, kept)
    for text in TRAIN + ["Transfer MONEY to the account", "what is the weather"]:
        before = tokenizer(text)["input_ids"]
        after = trimmed(text)["input_ids"]
        assert trimmed.convert_ids_to_tokens(after) == tokenizer.convert_ids_to_tokens(before)
        assert [kept[i] for i in after] == before  # new ids index the kept list


def test_dropped_words_are_spelled_with_kept_pieces_not_unk(tokenizer) -> None:
    trimmed = trimmed_tokenizer(tokenizer, kept_token_ids(tokenizer, TRAIN, TrimVocabulary()))
    tokens = trimmed.convert_ids_to_tokens(trimmed("zimbabwe")["input_ids"])
    assert "[UNK]" not in tokens and "".join(t.removeprefix("##") for t in tokens[1:-1]) == "zimbabwe"
    assert tokenizer.convert_ids_to_tokens(tokenizer("zimbabwe")["input_ids"])[1] == "zimbabwe"


def test_unseen_non_ascii_character_becomes_unk(tokenizer) -> None:
    trimmed = trimmed_tokenizer(tokenizer, kept_token_ids(tokenizer, TRAIN, TrimVocabulary()))
    assert trimmed.convert_ids_to_tokens(trimmed("ω")["input_ids"]) == ["[CLS]", "[UNK]", "[SEP]"]


def test_min_count_and_spelling_pieces_shrink_the_vocabulary(tokenizer) -> None:
    everything = kept_token_ids(tokenizer, TRAIN * 2 + ["zebra"], TrimVocabulary())
    frequent = kept_token_ids(tokenizer, TRAIN * 2 + ["zebra"], TrimVocabulary(min_count=2))
    bare = kept_token_ids(tokenizer, TRAIN, TrimVocabulary(spelling_pieces=False))
    assert len(bare) < len(frequent) < len(everything)
    assert set(tokenizer.all_special_ids) <= set(bare)


def test_trim_step_round_trips_with_the_same_logits(tiny_checkpoint, tmp_path, context) -> None:
    import torch

    from compressors.formats.dense import load_torch_artifact

    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    trimmed = apply_step(source, TrimVocabulary(), context)
    model, tokenizer = load_torch_artifact(source)
    small_model, small_tokenizer = load_torch_artifact(trimmed)
    assert small_model.config.vocab_size == trimmed.meta["vocab_size"] < 30522 // 3
    assert trimmed.deployed_bytes() < source.deployed_bytes()
    texts = list(context.data["train"]["text"][:8])  # in-vocabulary by construction
    with torch.inference_mode():
        before = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        after = small_model(**small_tokenizer(texts, padding=True, return_tensors="pt")).logits
    assert torch.allclose(before, after, atol=1e-6)


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        TrimVocabulary(min_count=0)


def test_dropped_share_counts_texts_and_tokens_outside_the_kept_ids(tokenizer) -> None:
    kept = kept_token_ids(tokenizer, TRAIN, TrimVocabulary(spelling_pieces=False))
    share = dropped_share(tokenizer, kept, ["book a table", "book a zimbabwe table", "what is the zimbabwe weather"])
    assert share.texts == 3 and share.texts_with_dropped == pytest.approx(2 / 3)
    assert share.tokens_dropped == pytest.approx(2 / 12)  # "zimbabwe" twice among 3 + 4 + 5 tokens
    assert dropped_share(tokenizer, kept, TRAIN).texts_with_dropped == 0.0
    assert dropped_share(tokenizer, kept, []).texts == 0


def test_trim_report_lists_each_split_and_its_out_of_scope_queries(capsys) -> None:
    from compressors.cli import main

    assert main(["trim-report", "--profile", "small"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TrimVocabulary keeps ") and "| test out-of-scope | 10 |" in out
    assert main(["trim-report", "--profile", "smal"]) == 2
    assert "did you mean 'small'" in capsys.readouterr().err


def test_keep_frequent_adds_the_commonest_words_of_the_vocabulary(tokenizer) -> None:
    from compressors.steps.base import describe

    plain = set(kept_token_ids(tokenizer, TRAIN, TrimVocabulary()))
    frequent = set(kept_token_ids(tokenizer, TRAIN, TrimVocabulary(keep_frequent=10)))
    added = tokenizer.convert_ids_to_tokens(sorted(frequent - plain))
    assert plain < frequent and len(frequent - plain) <= 10
    assert {"of", "and", "in", "was", "he", "as"} <= set(added)  # BERT's commonest pieces, not in TRAIN
    assert not any(piece.startswith("[") or len(piece.removeprefix("##")) == 1 for piece in added)
    trimmed = trimmed_tokenizer(tokenizer, sorted(frequent))
    assert trimmed.tokenize("he was in") == ["he", "was", "in"]  # whole words, not re-spelled
    assert "keep_frequent" not in describe(TrimVocabulary())
    with pytest.raises(ValueError, match="keep_frequent must be >= 0"):
        TrimVocabulary(keep_frequent=-1)


def test_nearest_keeps_the_segmentation_and_reads_the_nearest_kept_row(tokenizer) -> None:
    import numpy as np

    from compressors.steps.trim_vocabulary import nearest_kept

    kept = kept_token_ids(tokenizer, TRAIN, TrimVocabulary())
    embeddings = np.random.default_rng(0).normal(size=(len(tokenizer.get_vocab()), 8))
    vocab = tokenizer.get_vocab()
    embeddings[vocab["zimbabwe"]] = embeddings[vocab["weather"]] * 2  # its nearest kept word
    nearest = nearest_kept(tokenizer, kept, embeddings)
    assert nearest[vocab["zimbabwe"]] == vocab["weather"]
    by_id = {i: piece for piece, i in vocab.items()}
    assert all(by_id[d].startswith("##") == by_id[k].startswith("##") for d, k in nearest.items())
    trimmed = trimmed_tokenizer(tokenizer, kept, nearest)
    text = "zimbabwe weather reports"
    assert trimmed.tokenize(text) == tokenizer.tokenize(text)
    ids = trimmed(text)["input_ids"]
    assert [kept[i] for i in ids] == [nearest.get(i, i) for i in tokenizer(text)["input_ids"]]


def test_a_nearest_trimmed_tokenizer_survives_saving_and_the_onnx_chain(tiny_checkpoint, tmp_path, context) -> None:
    from compressors.formats.dense import load_torch_artifact
    from compressors.formats.onnx import OrtPredictor
    from compressors.steps.onnx_export import OnnxExport

    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    trimmed = apply_step(source, TrimVocabulary(dropped="nearest"), context)
    assert trimmed.meta["dropped"] == "nearest"
    model, tokenizer = load_torch_artifact(trimmed)
    original, original_tokenizer = load_torch_artifact(source)
    text = "please reserve a hotel in zimbabwe"
    assert tokenizer.tokenize(text) == original_tokenizer.tokenize(text)
    exported = apply_step(trimmed, OnnxExport(), context)
    predictor = OrtPredictor.from_artifact(exported)
    assert predictor.tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    with pytest.raises(ValueError, match="dropped must be one of"):
        TrimVocabulary(dropped="drop")
