"""A user's fine-tuned classifier as the baseline: checked against the data's classes, its head reordered."""

from __future__ import annotations

import json

import pytest
import torch

from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer
from compressors.formats.dense import load_torch_artifact
from compressors.steps.base import apply_step
from compressors.steps.use_classifier import UseClassifier, label_order

TEXTS = ["book a flight to paris", "what is my balance", "tell me a joke"]


def _names(model, texts) -> list[str]:
    tokenizer = load_tokenizer("default")
    with torch.no_grad():
        logits = model(**tokenizer(texts, return_tensors="pt", padding=True)).logits
    return [model.config.id2label[int(i)] for i in logits.argmax(-1)]


def test_a_model_whose_labels_are_in_another_order_answers_the_same_after_its_head_is_reordered(tiny_checkpoint, tmp_path, context) -> None:
    model = load_pretrained_classifier(str(tiny_checkpoint))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    permutation = torch.randperm(len(names), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the same model, its classes stored in another order
        model.classifier.weight.copy_(model.classifier.weight[permutation])
        model.classifier.bias.copy_(model.classifier.bias[permutation])
    model.config.id2label = {i: names[int(p)] for i, p in enumerate(permutation)}
    model.config.label2id = {label: i for i, label in model.config.id2label.items()}
    mine = tmp_path / "mine"
    model.save_pretrained(mine)
    load_tokenizer(str(tiny_checkpoint)).save_pretrained(mine)

    artifact = apply_step(None, UseClassifier(str(mine)), context)
    assert artifact.meta["reordered_head"] is True
    reordered, _ = load_torch_artifact(artifact)
    assert [reordered.config.id2label[i] for i in range(len(names))] == context.label_names
    assert _names(reordered, TEXTS) == _names(load_pretrained_classifier(str(mine)), TEXTS)
    same = apply_step(None, UseClassifier(str(tiny_checkpoint)), context)
    assert same.meta["reordered_head"] is False and same.key != artifact.key


def test_labels_that_are_not_the_data_classes_are_listed() -> None:
    with pytest.raises(ValueError, match=r"classes it lacks: \['c'\]; labels the data lacks: \['x'\]"):
        label_order(["a", "b", "x"], ["a", "b", "c"], "mine")
    with pytest.raises(ValueError, match=r"labels are generic \(LABEL_0, ...\): save it with config.id2label naming the classes"):
        label_order(["LABEL_0", "LABEL_1"], ["greet", "leave"], "mine")
    assert label_order(["b", "a"], ["a", "b"], "mine") == [1, 0]
    assert label_order(["a", "b"], ["a", "b"], "mine") is None


def test_a_model_without_safetensors_weights_is_refused(tiny_checkpoint, tmp_path, context) -> None:
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps(json.loads((tiny_checkpoint / "config.json").read_text())))
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="cannot load checkpoint"):
        apply_step(None, UseClassifier(str(pickled)), context)
