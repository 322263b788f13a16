"""Structured pruning: config validation, gate importance, the step, and its ONNX Runtime chain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests_support import copy_as_artifact

from compressors.artifacts import Built
from compressors.data import LABEL, TEXT
from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer
from compressors.formats.dense import TORCH_KIND, load_torch_artifact, save_classifier
from compressors.formats.onnx import OrtPredictor, fusion_counts
from compressors.formats.structured import STRUCTURED_TORCH_KIND, prune_model, save_structured_classifier, structure_of
from compressors.formats.predictors import load_predictor
from compressors.steps.base import apply_step
from compressors.steps.distill import distill_loss_fn
from compressors.steps.onnx_export import OnnxExport
from compressors.steps.ort_optimize import OrtOptimize
from compressors.steps.ort_quantize import OrtDynamicInt8
from compressors.steps.prune_structured import (
    PruneStructured,
    choose_structure,
    gate_importance,
    gates,
    sample_batches,
    kept_count,
    most_important,
    normalised,
)
from compressors.steps.training import TrainConfig

TINY_TRAIN = TrainConfig(epochs=2, learning_rate=1e-3, max_length=32, threads=1)
TEXTS = ["please set an alarm for seven", "what is the exchange rate", "tell me a joke about cats", "hi"]
CE = distill_loss_fn(None, 1.0, 1.0)


def _batches(tiny_checkpoint, context, count: int = 2, batch_size: int = 8):
    train = context.data["train"]
    config = PruneStructured(importance_batches=count, train=replace(TINY_TRAIN, batch_size=batch_size))
    return sample_batches(load_tokenizer(str(tiny_checkpoint)), train[TEXT], train[LABEL], config)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heads": 0}, r"PruneStructured.heads as a count must be >= 1 per layer, got 0"),
        ({"heads": 0.0}, r"PruneStructured.heads as a fraction must be in \(0, 1\], got 0.0"),
        ({"heads": 6.0}, r"heads as a fraction must be in \(0, 1\], got 6.0; a count is an int \(6\)"),
        ({"neurons": 1.5}, r"PruneStructured.neurons as a fraction must be in \(0, 1\], got 1.5$"),
        ({"neurons": -3}, r"neurons as a count must be >= 1"),
        ({"heads": True}, r"PruneStructured.heads must be a fraction .* or a count .*, got True"),
        ({"heads": "half"}, r"PruneStructured.heads must be a fraction"),
        ({"heads": 1.0, "neurons": 1.0}, r"keeps every head and every neuron .*nothing to prune"),
        ({"importance_batches": 0}, r"importance_batches must be >= 1, got 0"),
        ({"alpha": 1.5}, r"alpha must be in \[0, 1\], got 1.5"),
        ({"temperature": 0.0}, r"temperature must be > 0, got 0.0"),
        ({"teacher": ""}, r"teacher must name a variant when alpha < 1"),
    ],
)
def test_bad_config_is_explained(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        PruneStructured(**kwargs)


def test_good_configs_are_accepted() -> None:
    PruneStructured(heads=6, neurons=768)
    PruneStructured(heads=1.0, neurons=0.5)
    PruneStructured(heads=1, neurons=1.0)  # one head per layer, every neuron
    PruneStructured(teacher="", alpha=1.0)  # labels alone need no teacher


def test_kept_count_rounds_fractions_and_checks_counts() -> None:
    assert kept_count(0.5, 12, "heads") == 6
    assert kept_count(1 / 3, 12, "heads") == 4
    assert kept_count(0.01, 12, "heads") == 1  # at least one
    assert kept_count(1.0, 1536, "neurons") == 1536
    assert kept_count(4, 12, "heads") == 4
    with pytest.raises(ValueError, match=r"keeps 16 heads per layer, but the source's layers have 12"):
        kept_count(16, 12, "heads")


def test_most_important_keeps_the_largest_scores_and_breaks_ties_by_index() -> None:
    assert most_important(torch.tensor([0.1, 0.9, 0.3, 0.9, 0.0]), 2) == [1, 3]
    assert most_important(torch.tensor([0.5, 0.5, 0.5, 0.5]), 3) == [0, 1, 2]
    assert most_important(torch.tensor([3.0, 1.0, 2.0]), 3) == [0, 1, 2]


def test_normalised_scores_have_unit_norm_per_layer() -> None:
    layers = normalised([torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1e-30, 0.0])])
    torch.testing.assert_close(layers[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(layers[1], torch.zeros(3))  # an all-zero layer stays zero, not NaN
    assert torch.isfinite(layers[2]).all()


def test_gates_leave_the_model_unchanged_and_are_removed(tiny_model, tiny_checkpoint) -> None:
    inputs = dict(load_tokenizer(str(tiny_checkpoint))(TEXTS, padding=True, return_tensors="pt"))
    with torch.no_grad():
        before = tiny_model(**inputs).logits
    with gates(tiny_model) as (head_gates, neuron_gates):
        assert [g.shape[0] for g in head_gates] == [4, 4] and [g.shape[0] for g in neuron_gates] == [128, 128]
        with torch.no_grad():
            torch.testing.assert_close(tiny_model(**inputs).logits, before, rtol=0, atol=0)
            head_gates[0][1] = 0.0  # a closed gate is a masked head
            assert (tiny_model(**inputs).logits - before).abs().max() > 1e-4
    assert not any(m._forward_pre_hooks for m in tiny_model.modules())


def test_importance_ranks_first_the_head_and_neurons_whose_gate_gradients_are_largest(tiny_model, tiny_checkpoint, context) -> None:
    # Known by construction: in each layer only one head and two neurons reach the output (the
    # other heads' and neurons' output columns are zero), so only their gates have a gradient.
    live_heads, live_neurons = [2, 1], [[7, 90], [3, 64]]
    with torch.no_grad():
        for layer, head, neurons in zip(tiny_model.bert.encoder.layer, live_heads, live_neurons):
            keep = torch.zeros(4)
            keep[head] = 1
            layer.attention.output.dense.weight.mul_(keep.repeat_interleave(16))
            keep = torch.zeros(128)
            keep[neurons] = 1
            layer.output.dense.weight.mul_(keep)
    heads, neurons = gate_importance(tiny_model, _batches(tiny_checkpoint, context), CE)
    for layer, head, layer_neurons in zip(range(2), live_heads, live_neurons):
        assert heads[layer][head] > 0 and heads[layer].count_nonzero() == 1
        assert set(neurons[layer].nonzero().flatten().tolist()) == set(layer_neurons)
    config = PruneStructured(heads=1, neurons=2)
    assert choose_structure(tiny_model, heads, neurons, config) == ([[2], [1]], live_neurons)


def test_importance_accumulates_absolute_gradients_over_batches(tiny_model, tiny_checkpoint, context) -> None:
    batches = _batches(tiny_checkpoint, context, count=2)
    both = gate_importance(tiny_model, batches, CE)
    first, second = gate_importance(tiny_model, batches[:1], CE), gate_importance(tiny_model, batches[1:], CE)
    for kind in range(2):
        for layer in range(2):
            torch.testing.assert_close(both[kind][layer], first[kind][layer] + second[kind][layer])
            assert (both[kind][layer] > 0).all()
    assert all(p.grad is None for p in tiny_model.parameters())  # only the gates were differentiated


def test_sampled_batches_are_seeded_and_sized(tiny_checkpoint, context) -> None:
    batches = _batches(tiny_checkpoint, context, count=3, batch_size=5)
    assert [len(labels) for _, labels, _ in batches] == [5, 5, 5]
    rows = torch.cat([r for _, _, r in batches])
    assert len(set(rows.tolist())) == 15
    labels = context.data["train"]["intent"]
    assert [labels[i] for i in rows.tolist()] == torch.cat([y for _, y, _ in batches]).tolist()
    again = torch.cat([r for _, _, r in _batches(tiny_checkpoint, context, count=3, batch_size=5)])
    assert torch.equal(rows, again)


@pytest.fixture()
def pruned(tiny_source, context):
    return apply_step(tiny_source, PruneStructured(heads=0.5, neurons=40, importance_batches=4, train=TINY_TRAIN), context)


def test_the_step_builds_a_smaller_model_that_reloads_and_records_what_it_kept(pruned, tiny_source, context) -> None:
    assert pruned.kind == STRUCTURED_TORCH_KIND
    meta = pruned.meta
    assert meta["heads"] == [2, 2] and meta["intermediate"] == [40, 40]
    assert all(len(kept) == 2 and kept == sorted(kept) and set(kept) <= set(range(4)) for kept in meta["heads_kept"])
    assert [len(s) for s in meta["head_importance"]] == [4, 4]
    assert all(sorted(kept) == most_important(torch.tensor(s), 2) for kept, s in zip(meta["heads_kept"], meta["head_importance"]))
    removed = 2 * (2 * (3 * (64 * 16 + 16) + 64 * 16) + (128 - 40) * (2 * 64 + 1))
    assert meta["parameters_before"] - meta["parameters_after"] == removed
    assert len(meta["validation_accuracy_by_epoch"]) == 2 and meta["validation_accuracy"] == meta["validation_accuracy_by_epoch"][-1]
    assert (meta["seed"], meta["train_seed"], meta["alpha"]) == (42, 42, 0.5)
    model, tokenizer = load_torch_artifact(pruned)
    assert structure_of(model).heads == (2, 2) and structure_of(model).intermediate == (40, 40)
    dense, _ = load_torch_artifact(tiny_source)
    assert pruned.deployed_bytes() < tiny_source.deployed_bytes()
    assert sum(p.numel() for p in model.parameters()) == meta["parameters_after"] < sum(p.numel() for p in dense.parameters())
    predictor = load_predictor(pruned)
    with torch.inference_mode():
        expected = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.numpy()
    assert np.abs(predictor.logits(TEXTS) - expected).max() < 1e-5
    assert apply_step(tiny_source, PruneStructured(heads=0.5, neurons=40, importance_batches=4, train=TINY_TRAIN), context) == pruned


def test_the_teacher_is_part_of_the_recipe_only_when_the_loss_uses_it(tiny_source, context) -> None:
    from compressors.steps.base import recipe_of

    assert recipe_of(PruneStructured(), tiny_source, context)["teacher"] == tiny_source.key
    assert "teacher" not in recipe_of(PruneStructured(alpha=1.0), tiny_source, context)


def test_a_teacher_with_other_labels_is_refused(tiny_source, tiny_checkpoint, context) -> None:
    def build(out_dir: Path) -> Built:
        names = list(reversed(context.label_names))
        save_classifier(load_pretrained_classifier(str(tiny_checkpoint), names), load_tokenizer(str(tiny_checkpoint)), out_dir)
        return Built(TORCH_KIND)

    context.resolver = {"baseline": context.cache.get_or_build("reversed", {"labels": "reversed"}, build)}.__getitem__
    with pytest.raises(ValueError, match=r"teacher and student must share the data set's label mapping"):
        apply_step(tiny_source, PruneStructured(importance_batches=1, train=TINY_TRAIN), context)


def test_a_count_larger_than_the_model_is_refused_at_build_time(tiny_source, context) -> None:
    with pytest.raises(ValueError, match=r"keeps 6 heads per layer, but the source's layers have 4"):
        apply_step(tiny_source, PruneStructured(heads=6, neurons=0.5, importance_batches=1, alpha=1.0, train=TINY_TRAIN), context)


def test_the_pruned_model_exports_to_onnx_fuses_and_quantizes(pruned, context) -> None:
    exported = apply_step(pruned, OnnxExport(), context)
    assert exported.meta["parity_max_abs_diff"] <= 1e-4
    # ORT's Attention fusion copes with fewer heads when told the kept heads and their width
    optimized = apply_step(exported, OrtOptimize(timing_rounds=0), context)
    assert optimized.meta["kept"] == "fused", optimized.meta.get("reason")
    assert fusion_counts(optimized.path / "model.onnx") == {
        "Attention": 2, "EmbedLayerNormalization": 1, "SkipLayerNormalization": 4, "BiasGelu": 2,
    }
    torch_logits = load_predictor(pruned).logits(TEXTS)
    fused = OrtPredictor.from_artifact(optimized).logits(TEXTS)
    assert np.abs(fused - torch_logits).max() < 1e-4
    quantized = apply_step(optimized, OrtDynamicInt8(), context)
    assert quantized.deployed_bytes() < optimized.deployed_bytes()
    int8 = OrtPredictor.from_artifact(quantized).logits(TEXTS)
    snr_db = 20 * np.log10(np.linalg.norm(fused) / np.linalg.norm(fused - int8))
    assert snr_db > 15


def test_layers_with_different_head_counts_keep_the_exported_graph(tiny_checkpoint, tmp_path, context) -> None:
    model = load_pretrained_classifier(str(tiny_checkpoint))
    prune_model(model, [[0, 1], [3]], [list(range(64)), list(range(64))])
    save_structured_classifier(model, load_tokenizer(str(tiny_checkpoint)), tmp_path / "mixed")
    exported = apply_step(copy_as_artifact(tmp_path / "mixed", tmp_path, STRUCTURED_TORCH_KIND), OnnxExport(), context)
    optimized = apply_step(exported, OrtOptimize(timing_rounds=0), context)
    assert optimized.meta["kept"] == "exported" and "different numbers of attention heads" in optimized.meta["reason"]
    assert (optimized.path / "model.onnx").read_bytes() == (exported.path / "model.onnx").read_bytes()
    quantized = apply_step(optimized, OrtDynamicInt8(), context)
    assert OrtPredictor.from_artifact(quantized).logits(TEXTS).shape == (len(TEXTS), model.config.num_labels)
