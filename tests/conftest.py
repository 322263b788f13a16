"""Shared test fixtures: a tiny BERT classifier with the real MiniLM tokenizer, and small data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import settings

from compressors.data import DataConfig, fingerprint, load_data

# Shared, loaded CI machines: a property test must never fail on time (hypothesis' default
# deadline is 200 ms per example).
settings.register_profile("loaded-machine", deadline=None)
settings.load_profile("loaded-machine")


def make_tiny_checkpoint(out: Path, seed: int = 0, layers: int = 2) -> Path:
    """A randomly initialised BERT classifier (64 wide) over the CLINC150 labels, saved with the MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from compressors.data import FIXTURE_DIR
    from compressors.formats.checkpoints import load_tokenizer

    names = json.loads((FIXTURE_DIR / "labels.json").read_text())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=128,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )
    model = BertForSequenceClassification(config).eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    load_tokenizer("default").save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer, 64-wide BERT classifier over the CLINC150 labels, saved with the MiniLM tokenizer."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def small_clinc():
    """A stratified slice of CLINC150: 4 train / 1 validation / 2 test queries per class."""
    return load_data(DataConfig(per_class={"train": 4, "validation": 1, "test": 2}))


@pytest.fixture()
def context(tmp_path, small_clinc):
    from compressors.artifacts import ArtifactCache
    from compressors.steps.base import BuildContext

    return BuildContext(ArtifactCache(tmp_path / "cache"), small_clinc, fingerprint(small_clinc))


@pytest.fixture()
def tiny_model(tiny_checkpoint):
    """The tiny checkpoint, loaded."""
    from compressors.formats.checkpoints import load_pretrained_classifier

    return load_pretrained_classifier(str(tiny_checkpoint))


@pytest.fixture()
def tiny_source(tiny_checkpoint, context):
    """The tiny checkpoint as a torch artifact with the data set's labels (untrained); also the context's baseline."""
    from compressors.artifacts import Built
    from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer
    from compressors.formats.dense import TORCH_KIND, save_classifier

    def build(out_dir: Path) -> Built:
        save_classifier(load_pretrained_classifier(str(tiny_checkpoint), context.label_names), load_tokenizer(str(tiny_checkpoint)), out_dir)
        return Built(TORCH_KIND)

    source = context.cache.get_or_build("tiny", {"tiny": str(tiny_checkpoint)}, build)
    context.resolver = {"baseline": source}.__getitem__
    return source


pytest_plugins = ("pytester",)
