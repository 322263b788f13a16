"""Fine-tuning and layer cutting on a tiny classifier."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests_support import copy_as_artifact

from compressors.formats.checkpoints import load_pretrained_classifier
from compressors.formats.dense import load_torch_artifact
from compressors.steps.base import apply_step
from compressors.steps.cut_layers import CutLayers, keep_layers
from compressors.steps.finetune import FineTune
from compressors.steps.training import TrainConfig


def test_fine_tune_from_a_checkpoint_is_seeded_and_cached(tiny_checkpoint, context) -> None:
    import torch

    config = FineTune(checkpoint=str(tiny_checkpoint), train=TrainConfig(epochs=2, max_length=32, batch_size=64))
    first = apply_step(None, config, context)
    assert first.kind == "torch" and (first.path / "model.safetensors").is_file()
    assert len(first.meta["validation_accuracy_by_epoch"]) == 2
    assert first.meta["validation_accuracy"] == first.meta["validation_accuracy_by_epoch"][-1]
    trained, _ = load_torch_artifact(first)
    untrained = load_pretrained_classifier(str(tiny_checkpoint))
    assert not torch.equal(trained.bert.encoder.layer[0].output.dense.weight, untrained.bert.encoder.layer[0].output.dense.weight)
    assert apply_step(None, config, context) == first
    context.cache.rebuild = True  # the same seed gives the same weights again
    assert apply_step(None, config, context).digest == first.digest


def test_the_fused_optimizer_is_seeded_keyed_apart_and_takes_the_plain_steps(tiny_checkpoint, context) -> None:
    import torch

    train = TrainConfig(epochs=2, max_length=32, batch_size=64)
    plain = apply_step(None, FineTune(checkpoint=str(tiny_checkpoint), train=train), context)
    fused_config = FineTune(checkpoint=str(tiny_checkpoint), train=replace(train, fused_optimizer=True))
    fused = apply_step(None, fused_config, context)
    assert fused.key != plain.key
    context.cache.rebuild = True
    assert apply_step(None, fused_config, context).digest == fused.digest
    # The same AdamW update in one kernel: equal up to float rounding.
    (a, _), (b, _) = load_torch_artifact(plain), load_torch_artifact(fused)
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(x, y, atol=1e-4), name


def test_cut_layers_keeps_the_chosen_layers(tiny_checkpoint, tmp_path, context) -> None:
    import torch

    source = copy_as_artifact(tiny_checkpoint, tmp_path)
    cut = apply_step(source, CutLayers(layers=(1,)), context)
    model, _ = load_torch_artifact(cut)
    original, _ = load_torch_artifact(source)
    assert model.config.num_hidden_layers == 1
    assert torch.equal(model.bert.encoder.layer[0].output.dense.weight, original.bert.encoder.layer[1].output.dense.weight)


def test_keep_layers_rejects_bad_indices(tiny_checkpoint) -> None:
    model = load_pretrained_classifier(str(tiny_checkpoint))
    with pytest.raises(ValueError, match=r"distinct indices in \[0, 2\)"):
        keep_layers(model, (0, 5))
    with pytest.raises(ValueError, match="distinct non-negative"):
        CutLayers(layers=(1, 1))


def test_train_config_validates() -> None:
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"warmup_ratio must be in \[0, 1\)"):
        TrainConfig(warmup_ratio=1.0)


def test_with_seed_reseeds_every_training_step_and_needs_one() -> None:
    from compressors.steps.torch_int8 import TorchDynamicInt8
    from compressors.steps.training import with_seed
    from compressors.steps.use_classifier import UseClassifier

    steps = (FineTune(train=TrainConfig(epochs=2)), TorchDynamicInt8())
    reseeded = with_seed(steps, 7)
    assert reseeded[0] == FineTune(train=TrainConfig(epochs=2, seed=7)) and reseeded[1] == steps[1]
    with pytest.raises(ValueError, match="none of its steps trains"):
        with_seed((UseClassifier("some/dir"),), 7)
