"""The structured format: heads and neurons physically removed, equal to masking them, exact round trip."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from tests_support import copy_as_artifact

from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer
from compressors.formats.dense import TORCH_KINDS, load_torch_artifact, save_classifier
from compressors.formats.int8 import load_int8, quantize_linear_layers, save_int8
from compressors.formats.structured import (
    STRUCTURE_KEY,
    STRUCTURED_TORCH_KIND,
    STRUCTURED_WEIGHTS,
    Structure,
    fusion_attention,
    load_structured_model,
    parameter_count,
    prune_layer,
    prune_model,
    save_structured_classifier,
    structure_of,
)
from compressors.formats.predictors import load_predictor

# The tiny checkpoint: 2 layers, 4 heads of 16, 128 feed-forward neurons.
HEADS = [[0, 2], [3]]
NEURONS = [list(range(0, 128, 2)), [5, 17, 40, 99, 127]]
TEXTS = ["please set an alarm for seven", "what is the exchange rate", "hi"]


@pytest.fixture()
def tiny_model(tiny_checkpoint):
    return load_pretrained_classifier(str(tiny_checkpoint))


def _inputs(tiny_checkpoint) -> dict:
    return dict(load_tokenizer(str(tiny_checkpoint))(TEXTS, padding=True, return_tensors="pt"))


def masked(model, heads, neurons):
    """The dense model with every other head's context output and every other neuron set to zero."""
    with torch.no_grad():
        for layer, layer_heads, layer_neurons in zip(model.bert.encoder.layer, heads, neurons):
            size = layer.attention.self.attention_head_size
            head_mask = torch.zeros(layer.attention.self.num_attention_heads)
            head_mask[layer_heads] = 1
            layer.attention.output.dense.weight.mul_(head_mask.repeat_interleave(size))
            neuron_mask = torch.zeros(layer.output.dense.in_features)
            neuron_mask[layer_neurons] = 1
            layer.output.dense.weight.mul_(neuron_mask)
    return model


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_pruning_removes_exactly_the_chosen_heads_and_neurons_and_equals_masking_them(tiny_checkpoint, attention) -> None:
    dense = load_pretrained_classifier(str(tiny_checkpoint), attn_implementation=attention)
    original = {k: v.clone() for k, v in dense.state_dict().items()}
    pruned = load_pretrained_classifier(str(tiny_checkpoint), attn_implementation=attention)
    structure = prune_model(pruned, HEADS, NEURONS)
    assert structure == Structure(heads=(2, 1), intermediate=(64, 5), head_size=16)
    assert getattr(pruned.config, STRUCTURE_KEY) == {"heads": [2, 1], "intermediate": [64, 5], "head_size": 16}
    for i, (layer, heads, neurons) in enumerate(zip(pruned.bert.encoder.layer, HEADS, NEURONS)):
        rows = torch.cat([torch.arange(h * 16, h * 16 + 16) for h in heads])
        prefix = f"bert.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            module = getattr(layer.attention.self, name)
            assert module.weight.shape == (len(rows), 64)
            assert torch.equal(module.weight, original[f"{prefix}attention.self.{name}.weight"][rows])
            assert torch.equal(module.bias, original[f"{prefix}attention.self.{name}.bias"][rows])
        assert torch.equal(layer.attention.output.dense.weight, original[f"{prefix}attention.output.dense.weight"][:, rows])
        assert torch.equal(layer.intermediate.dense.weight, original[f"{prefix}intermediate.dense.weight"][neurons])
        assert torch.equal(layer.output.dense.weight, original[f"{prefix}output.dense.weight"][:, neurons])
        attention_module = layer.attention.self
        assert (attention_module.num_attention_heads, attention_module.all_head_size) == (len(heads), 16 * len(heads))
    removed = 2 * (3 * (64 * 16 + 16) + 64 * 16) * (2 + 3) // 2 + (2 * 64 + 1) * (128 - 64) + (2 * 64 + 1) * (128 - 5)
    assert parameter_count(dense) - parameter_count(pruned) == removed
    inputs = _inputs(tiny_checkpoint)
    with torch.no_grad():
        expected = masked(dense, HEADS, NEURONS)(**inputs).logits
        actual = pruned(**inputs).logits
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # and the masking matters: the unmasked model differs
        unmasked = load_pretrained_classifier(str(tiny_checkpoint))(**inputs).logits
    assert (unmasked - expected).abs().max() > 1e-3


def test_save_and_load_restore_the_structured_model_exactly(tiny_model, tiny_checkpoint, tmp_path) -> None:
    prune_model(tiny_model, HEADS, NEURONS)
    save_structured_classifier(tiny_model, load_tokenizer(str(tiny_checkpoint)), tmp_path)
    assert {"config.json", STRUCTURED_WEIGHTS, "tokenizer.json"} <= {p.name for p in tmp_path.iterdir()}
    assert not (tmp_path / "model.safetensors").exists()  # no file a dense loader would half-read
    config = json.loads((tmp_path / "config.json").read_text())
    assert config[STRUCTURE_KEY] == {"heads": [2, 1], "intermediate": [64, 5], "head_size": 16}
    assert config["num_attention_heads"] == 4 and config["intermediate_size"] == 128  # the source's description
    rng = torch.get_rng_state()
    loaded = load_structured_model(tmp_path)
    assert torch.equal(torch.get_rng_state(), rng)  # the throwaway init did not move the caller's RNG
    assert loaded.state_dict().keys() == tiny_model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in tiny_model.state_dict().items())
    inputs = _inputs(tiny_checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, tiny_model(**inputs).logits, rtol=0, atol=1e-6)


def test_a_structured_artifact_loads_for_every_torch_step_and_as_a_predictor(tiny_model, tiny_checkpoint, tmp_path) -> None:
    assert STRUCTURED_TORCH_KIND in TORCH_KINDS
    prune_model(tiny_model, HEADS, NEURONS)
    save_structured_classifier(tiny_model, load_tokenizer(str(tiny_checkpoint)), tmp_path / "model")
    artifact = copy_as_artifact(tmp_path / "model", tmp_path, kind=STRUCTURED_TORCH_KIND)
    model, _ = load_torch_artifact(artifact)
    assert structure_of(model) == structure_of(tiny_model)
    inputs = _inputs(tiny_checkpoint)
    with torch.no_grad():
        expected = tiny_model(**inputs).logits.numpy()
    for attention in ("sdpa", "eager"):
        predictor = load_predictor(artifact, attention=attention)
        assert abs(predictor.logits(TEXTS) - expected).max() < 1e-5
        assert [predictor(t) for t in TEXTS] == list(expected.argmax(-1))


def test_a_structured_model_saved_dense_by_a_later_step_still_loads(tiny_model, tiny_checkpoint, tmp_path) -> None:
    # e.g. a Distill step trained the pruned model further and saved it with save_pretrained
    prune_model(tiny_model, HEADS, NEURONS)
    save_classifier(tiny_model, load_tokenizer(str(tiny_checkpoint)), tmp_path / "model")
    artifact = copy_as_artifact(tmp_path / "model", tmp_path, kind="torch")
    model, _ = load_torch_artifact(artifact)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_model.state_dict().items())


def test_torch_int8_of_a_structured_model_loads(tiny_model, tiny_checkpoint, tmp_path) -> None:
    prune_model(tiny_model, HEADS, NEURONS)
    quantized = quantize_linear_layers(tiny_model)
    save_int8(quantized, load_tokenizer(str(tiny_checkpoint)), tmp_path)
    loaded = load_int8(tmp_path)
    inputs = _inputs(tiny_checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, quantized(**inputs).logits)


@pytest.mark.parametrize(
    ("heads", "neurons", "message"),
    [
        ([[0, 0], [1]], NEURONS, r"heads to keep must be 1 or more distinct indices in \[0, 4\), got \[0, 0\]"),
        ([[4], [1]], NEURONS, r"heads to keep must be .* in \[0, 4\), got \[4\]"),
        ([[], [1]], NEURONS, r"heads to keep must be 1 or more"),
        (HEADS, [[128], [1]], r"feed-forward neurons to keep must be .* in \[0, 128\), got \[128\]"),
        ([[0]], NEURONS, r"need heads and neurons for each of the 2 layers, got 1 and 2"),
    ],
)
def test_bad_indices_are_refused(tiny_model, heads, neurons, message) -> None:
    with pytest.raises(ValueError, match=message):
        prune_model(tiny_model, heads, neurons)


def test_layers_can_be_pruned_again_with_their_current_indices(tiny_model) -> None:
    layer = tiny_model.bert.encoder.layer[0]
    prune_layer(layer, [1, 3], range(100))
    prune_layer(layer, [1], [0, 99])
    assert structure_of(tiny_model).heads == (1, 4) and structure_of(tiny_model).intermediate == (2, 128)


def _saved(tiny_model, tiny_checkpoint, tmp_path):
    prune_model(tiny_model, HEADS, NEURONS)
    save_structured_classifier(tiny_model, load_tokenizer(str(tiny_checkpoint)), tmp_path)
    return json.loads((tmp_path / "config.json").read_text())


@pytest.mark.parametrize(
    ("structure", "message"),
    [
        ({"heads": [2], "intermediate": [64], "head_size": 16}, r"1 head counts and 1 intermediate sizes for a model of 2 layers"),
        ({"heads": [2, 5], "intermediate": [64, 5], "head_size": 16}, r"heads: each layer keeps 1 to 4 heads, got \[2, 5\]"),
        ({"heads": [2, 0], "intermediate": [64, 5], "head_size": 16}, r"heads: each layer keeps 1 to 4 heads"),
        ({"heads": [2, 1], "intermediate": [64, 500], "head_size": 16}, r"intermediate: each layer keeps 1 to 128 neurons"),
        ({"heads": [2, 1], "intermediate": [64, 5], "head_size": 32}, r"head_size: 32, but the config's heads are 16 wide"),
        ({"heads": "2,1", "intermediate": [64, 5], "head_size": 16}, r"heads: expected a list of integers"),
        ({"heads": [2, 1]}, r"expected an object with keys heads, intermediate, head_size"),
    ],
)
def test_a_config_with_a_bad_structure_is_refused_naming_the_file(tiny_model, tiny_checkpoint, tmp_path, structure, message) -> None:
    config = _saved(tiny_model, tiny_checkpoint, tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config | {STRUCTURE_KEY: structure}))
    with pytest.raises(ValueError, match=r"config.json: compressors_structure.*" + message):
        load_structured_model(tmp_path)


def test_weights_that_do_not_fit_the_structure_are_refused(tiny_model, tiny_checkpoint, tmp_path) -> None:
    config = _saved(tiny_model, tiny_checkpoint, tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config | {STRUCTURE_KEY: config[STRUCTURE_KEY] | {"heads": [2, 2]}}))
    with pytest.raises(ValueError, match=r"model.structured.safetensors: weights do not fit the structure"):
        load_structured_model(tmp_path)


def test_a_plain_weights_file_or_config_is_refused(tiny_model, tiny_checkpoint, tmp_path) -> None:
    _saved(tiny_model, tiny_checkpoint, tmp_path)
    save_file({"w": torch.zeros(2)}, str(tmp_path / STRUCTURED_WEIGHTS), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"not a structured weights file of version 1"):
        load_structured_model(tmp_path)
    with pytest.raises(ValueError, match=r"no 'compressors_structure' entry; not a structured classifier"):
        load_structured_model(tiny_checkpoint)


def test_fusion_attention_is_the_kept_heads_and_their_width() -> None:
    dense = {"num_attention_heads": 12, "hidden_size": 384}
    assert fusion_attention(dense) == (12, 384)
    uniform = dense | {STRUCTURE_KEY: {"heads": [6, 6, 6], "intermediate": [768, 700, 768], "head_size": 32}}
    assert fusion_attention(uniform) == (6, 192)
    mixed = dense | {STRUCTURE_KEY: {"heads": [6, 4, 6], "intermediate": [768] * 3, "head_size": 32}}
    assert fusion_attention(mixed) is None
