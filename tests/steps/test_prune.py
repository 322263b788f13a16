"""Pruning: config validation, masks on a real (tiny) BERT, the schedule in training, the prune step."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer
from compressors.formats.dense import load_torch_artifact
from compressors.formats.sparse import SPARSE_TORCH_KIND, SPARSE_WEIGHTS, load_sparse_model, save_sparse_classifier
from compressors.formats.predictors import load_predictor
from compressors.steps.base import apply_step
from compressors.steps.prune import Prune, Pruner, target_modules, weight_sparsity
from compressors.steps.training import TrainConfig

TINY_TRAIN = TrainConfig(epochs=2, learning_rate=1e-3, max_length=32, threads=1)
# The tiny BERT's pruned matrices hold 64 x 64 (attention) or 64 x 128 (feed-forward) weights:
# zeros a mask of a given sparsity leaves in each, rounded to the nearest count.
ZEROS = {0.5: {4096: 2048, 8192: 4096}, 0.7: {4096: 2867, 8192: 5734}, 0.8: {4096: 3277, 8192: 6554}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "movment"}, r"Prune.method must be one of \('magnitude', 'movement'\), got 'movment'"),
        ({"sparsity": 80}, r"fraction of zeros in \(0, 1\), got 80"),
        ({"sparsity": 0.5, "initial_sparsity": 0.6}, r"initial_sparsity must be in \[0, sparsity=0.5\], got 0.6"),
        ({"start": 0.7, "end": 0.7}, r"0 <= start < end <= 1.*got start=0.7, end=0.7"),
        ({"every": 0}, r"every must be >= 1 step, got 0"),
        ({"scope": "all"}, r"scope must be one of \('layer', 'global'\), got 'all'"),
        ({"targets": ("attention", "ffn")}, r"targets must be distinct names among .*got \('attention', 'ffn'\)"),
        ({"targets": ()}, r"targets must be distinct names"),
    ],
)
def test_bad_config_is_explained(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Prune(**kwargs)


def test_targets_name_the_encoder_linears_by_default(tiny_model) -> None:
    names = list(target_modules(tiny_model, Prune().targets))
    per_layer = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "intermediate.dense", "output.dense"]
    assert names == [f"bert.encoder.layer.{i}.{n}" for i in range(2) for n in per_layer]
    assert list(target_modules(tiny_model, ("classifier",))) == ["bert.pooler.dense", "classifier"]
    assert "bert.embeddings.word_embeddings" in target_modules(tiny_model, ("embeddings",))


@pytest.mark.parametrize("method", ["magnitude", "movement"])
def test_layer_masks_have_exact_sparsity_and_pruned_weights_are_zero_in_the_forward_pass(
    tiny_model, tiny_checkpoint, method
) -> None:
    dense = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    pruner = Pruner(tiny_model, Prune(method=method, sparsity=0.8))
    if method == "movement":  # give the scores an order (they start equal)
        for holder in pruner.masks:
            holder.scores.data.normal_()
    pruner.update(0.7)
    ids = torch.tensor([[101, 2054, 2003, 1996, 2051, 102]])
    with torch.no_grad():
        logits = tiny_model(input_ids=ids).logits
    for (name, module), holder in zip(pruner.modules.items(), pruner.masks):
        mask = holder.mask
        assert set(mask.unique().tolist()) == {0.0, 1.0}
        assert int((mask == 0).sum()) == ZEROS[0.7][mask.numel()]
        assert not module.weight[mask == 0].any()  # what the forward pass sees
        assert torch.equal(module.weight[mask == 1], dense[f"{name}.weight"][mask == 1])
        if method == "magnitude":
            kept, pruned = dense[f"{name}.weight"].abs()[mask == 1], dense[f"{name}.weight"].abs()[mask == 0]
            assert kept.min() >= pruned.max()
    # the same logits as the dense model with those weights set to zero
    reference = load_pretrained_classifier(str(tiny_checkpoint))
    reference.load_state_dict(dense)
    with torch.no_grad():
        for (name, module), holder in zip(target_modules(reference, Prune().targets).items(), pruner.masks):
            module.weight.mul_(holder.mask)
        torch.testing.assert_close(logits, reference(input_ids=ids).logits)
    pruner.finalize()
    assert set(tiny_model.state_dict()) == set(dense)  # no masks or scores left behind
    assert weight_sparsity(tiny_model, Prune().targets) == pytest.approx(0.7, abs=1e-4)


def test_global_scope_is_exact_in_total_not_per_layer(tiny_model) -> None:
    pruner = Pruner(tiny_model, Prune(scope="global"))
    pruner.update(0.8)
    total = sum(h.mask.numel() for h in pruner.masks)
    assert total == 2 * (4 * 4096 + 2 * 8192)
    assert sum(int((h.mask == 0).sum()) for h in pruner.masks) == 52429  # 0.8 * 65536 = 52428.8
    per_layer = {round(float((h.mask == 0).float().mean()), 3) for h in pruner.masks}
    assert len(per_layer) > 1


def test_magnitude_masks_let_pruned_weights_come_back(tiny_model) -> None:
    pruner = Pruner(tiny_model, Prune(method="magnitude"))
    pruner.update(0.5)
    holder, module = pruner.masks[0], next(iter(pruner.modules.values()))
    index = (holder.mask == 0).nonzero()[0].tolist()
    with torch.no_grad():
        module.parametrizations.weight.original[tuple(index)] = 100.0
    assert holder.mask[tuple(index)] == 0
    pruner.update(0.5)
    assert holder.mask[tuple(index)] == 1


def test_on_step_follows_the_schedule_and_reports_the_sparsity(tiny_model) -> None:
    config = Prune(method="magnitude", sparsity=0.8, start=0.1, end=0.5, every=5)
    pruner = Pruner(tiny_model, config)
    shown = [pruner.on_step(step, 100) for step in range(1, 101)]
    values = [float(s["sparsity"]) for s in shown]
    schedule = pruner.schedule
    assert (schedule.t0, schedule.dt, schedule.end) == (10, 5, 50)
    assert values[8] == 0.0 and values[9] == 0.0  # steps 9 and 10: t0 applies s_i = 0
    assert values[14] > 0.0  # step 15, the first update after t0
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[49] == pytest.approx(0.8, abs=1e-3) and values[-1] == values[49]
    assert set(shown[-1]) == {"sparsity"}


@pytest.mark.parametrize("method", ["magnitude", "movement"])
def test_prune_step_builds_a_sparse_artifact_that_loads_and_predicts(tiny_source, context, method) -> None:
    config = Prune(method=method, sparsity=0.8, every=2, train=TINY_TRAIN)
    artifact = apply_step(tiny_source, config, context)
    assert artifact.kind == SPARSE_TORCH_KIND
    files = {p.name for p in artifact.path.iterdir()}
    assert {"config.json", SPARSE_WEIGHTS, "tokenizer.json"} <= files and "model.safetensors" not in files
    meta = artifact.meta
    assert meta["method"] == method and meta["sparsity"] == pytest.approx(0.8, abs=1e-4)
    assert meta["weights_mb"] < meta["dense_weights_mb"]
    stored = artifact.deployed_bytes() / 1e6
    assert stored < meta["dense_size_mb"]
    assert meta["dense_size_mb"] - stored == pytest.approx(meta["dense_weights_mb"] - meta["weights_mb"])
    model, tokenizer = load_torch_artifact(artifact)
    for name, module in target_modules(model, config.targets).items():
        assert int((module.weight == 0).sum()) == ZEROS[0.8][module.weight.numel()], name
    predictor = load_predictor(artifact)
    assert predictor.logits(["what time is it", "book a table"]).shape == (2, len(context.label_names))
    assert apply_step(tiny_source, config, context) == artifact  # cached


def test_movement_learns_scores_from_zero_while_training(tiny_source, context) -> None:
    from compressors.steps.training import train_classifier

    model, tokenizer = load_torch_artifact(tiny_source)
    for module in model.modules():  # no dropout: the oracle below must see the same forward pass
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    dense = {k: v.clone() for k, v in model.state_dict().items()}
    pruner = Pruner(model, Prune(method="movement", every=2))
    assert all(holder.scores.abs().sum() == 0 for holder in pruner.masks)
    texts, labels = context.data["train"]["text"][:8], context.data["train"]["intent"][:8]
    one_step = TrainConfig(epochs=1, batch_size=8, warmup_ratio=0.0, learning_rate=1e-3, max_length=32, threads=1)
    train_classifier(model, tokenizer, texts, labels, one_step, on_step=pruner.on_step)
    # Oracle: the dense model's gradient. Straight through, dL/dS = dL/dW * W; AdamW's first step
    # moves each score by the learning rate against the sign of its gradient (no decay on scores).
    reference, _ = load_torch_artifact(tiny_source)
    reference.load_state_dict(dense)
    for module in reference.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    batch = tokenizer(list(texts), truncation=True, max_length=32, padding=True, return_tensors="pt")
    logits = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.nn.functional.cross_entropy(logits, torch.tensor(list(labels))).backward()
    clear_entries = 0
    for (name, module), holder in zip(target_modules(reference, Prune().targets).items(), pruner.masks):
        moved, toward = holder.scores.detach(), -torch.sign(module.weight.grad * module.weight.detach())
        assert torch.equal(torch.sign(moved)[toward != 0], toward[toward != 0]), name
        assert moved.abs().max() <= 1e-3 * (1 + 1e-6), name
        # where |dL/dS| is well above Adam's eps (1e-8), the step is the whole learning rate
        clear = (module.weight.grad * module.weight.detach()).abs() > 1e-6
        torch.testing.assert_close(moved[clear], 1e-3 * toward[clear], rtol=0.02, atol=0)
        clear_entries += int(clear.sum())
    assert clear_entries > 0.2 * sum(h.scores.numel() for h in pruner.masks)


@pytest.mark.parametrize("method", ["magnitude", "movement"])
def test_masks_keep_the_highest_ranked_weights_of_each_method(tiny_model, method) -> None:
    pruner = Pruner(tiny_model, Prune(method=method, sparsity=0.5))
    for module, holder in zip(pruner.modules.values(), pruner.masks):
        weight = module.parametrizations.weight.original.detach()
        if method == "movement":  # scores that rank weights against their magnitude
            with torch.no_grad():
                holder.scores.copy_(-weight.abs())
    pruner.update(0.5)
    for module, holder in zip(pruner.modules.values(), pruner.masks):
        magnitude = module.parametrizations.weight.original.detach().abs()
        kept, dropped = magnitude[holder.mask.bool()], magnitude[~holder.mask.bool()]
        if method == "magnitude":
            assert kept.min() >= dropped.max()
        else:
            assert kept.max() <= dropped.min()
        assert int((holder.mask == 0).sum()) == ZEROS[0.5][holder.mask.numel()]


def test_sparse_round_trip_restores_the_model(tiny_model, tiny_checkpoint, tmp_path) -> None:
    pruner = Pruner(tiny_model, Prune(sparsity=0.9))
    pruner.update(0.9)
    pruner.finalize()
    sizes = save_sparse_classifier(tiny_model, load_tokenizer(str(tiny_checkpoint)), tmp_path)
    loaded = load_sparse_model(tmp_path)
    original = tiny_model.state_dict()
    assert set(loaded.state_dict()) == set(original)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in original.items())
    ids = torch.tensor([[101, 7592, 2088, 102]])
    with torch.no_grad():
        # equal weights, but kernels may sum in another order for differently aligned memory
        torch.testing.assert_close(loaded(input_ids=ids).logits, tiny_model(input_ids=ids).logits, rtol=0, atol=1e-6)
    assert not (tmp_path / "model.safetensors").exists()
    assert sizes["size_mb"] < sizes["dense_size_mb"]
    assert 0 < sizes["model_sparsity"] < 0.9  # embeddings and head stay dense


def test_prune_needs_a_source(context) -> None:
    with pytest.raises(ValueError, match="prune needs a source artifact"):
        apply_step(None, Prune(), context)


def test_targets_outside_a_bert_like_model_are_refused() -> None:
    with pytest.raises(ValueError, match="expected a BERT-like model"):
        target_modules(torch.nn.Linear(2, 2), ("attention",))


def test_replace_keeps_validation() -> None:
    with pytest.raises(ValueError, match="Prune.sparsity"):
        replace(Prune(), sparsity=1.0)


def test_movement_refuses_an_initial_sparsity() -> None:
    with pytest.raises(ValueError, match="initial_sparsity must be 0 for movement pruning"):
        Prune(method="movement", initial_sparsity=0.1)
    with pytest.raises(ValueError, match="name the teacher variant"):
        Prune(alpha=0.5)


def test_pruning_from_a_checkpoint_with_a_teacher_needs_no_source(tiny_checkpoint, tmp_path, context) -> None:
    from tests_support import copy_as_artifact

    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    config = Prune(method="movement", sparsity=0.5, every=2, train=TINY_TRAIN, checkpoint=str(tiny_checkpoint),
                   teacher="baseline", alpha=0.5, temperature=2.0, scores_learning_rate=1e-2, freeze=True)
    artifact = apply_step(None, config, context)
    assert artifact.kind == SPARSE_TORCH_KIND and artifact.meta["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert len(artifact.meta["validation_accuracy_by_epoch"]) == TINY_TRAIN.epochs
    from compressors.steps.base import recipe_of

    recipe = recipe_of(config, None, context)
    assert recipe["teacher"] == teacher.key and "origin" in recipe and recipe["source"] is None


def test_frozen_movement_masks_stop_changing_at_the_end_of_the_schedule(tiny_model) -> None:
    frozen = Pruner(tiny_model, Prune(method="movement", sparsity=0.5, every=1, start=0.0, end=0.5, freeze=True))
    frozen.on_step(1, 10)
    updates = []
    frozen.update = lambda sparsity: updates.append(sparsity)
    for step in range(2, 10):
        frozen.on_step(step, 10)
    assert updates and max(updates) == 0.5 and len(updates) == frozen.schedule.end - 1


def test_scores_can_train_at_their_own_learning_rate(tiny_source, context, monkeypatch) -> None:
    import torch

    from compressors.steps.training import train_classifier

    model, tokenizer = load_torch_artifact(tiny_source)
    pruner = Pruner(model, Prune(method="movement", every=2))
    groups = []

    class Recording(torch.optim.AdamW):
        def __init__(self, params, **kwargs):
            groups.extend(params)
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    train = context.data["train"]
    train_classifier(model, tokenizer, train["text"][:8], train["intent"][:8], TINY_TRAIN,
                     on_step=pruner.on_step, group_learning_rates={"scores": 1e-2})
    scores = [g for g in groups if g["initial_lr"] == 1e-2]  # before the warm-up scheduler scaled it
    assert len(scores) == 1 and len(scores[0]["params"]) == len(pruner.masks) and scores[0]["weight_decay"] == 0.0
    assert all(g["initial_lr"] == TINY_TRAIN.learning_rate for g in groups if g is not scores[0])
