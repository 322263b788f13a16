"""Intermediate-layer distillation: properties of the hidden-state, attention and value-relation
losses, the layer mapping, its checks, and the distill step with `Distill.layers`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import copy_as_artifact

from compressors.steps.distill import Distill
from compressors.steps.base import apply_step
from compressors.steps.cut_layers import CutLayers
from compressors.steps.distill_layers import (
    LayerLoss,
    ValueCapture,
    attention_loss,
    check_layer_pairs,
    hidden_state_loss,
    layer_loss,
    resolved,
    uniform_pairs,
    value_captures,
    value_relation,
)
from compressors.steps.base import describe
from compressors.steps.training import TrainConfig

shapes = st.tuples(st.integers(1, 4), st.integers(2, 7), st.integers(1, 8), st.integers(0, 2**16))


def _padded_mask(batch: int, tokens: int, seed: int):
    """A mask with at least one real token per row, real tokens first."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, tokens + 1, (batch,), generator=generator)
    return (torch.arange(tokens).unsqueeze(0) < lengths.unsqueeze(1)).long(), generator


def _hidden(shape):
    import torch

    batch, tokens, width, seed = shape
    mask, generator = _padded_mask(batch, tokens, seed)
    student = torch.randn(batch, tokens, width, generator=generator, dtype=torch.float64)
    teacher = torch.randn(batch, tokens, width, generator=generator, dtype=torch.float64)
    return student, teacher, mask


def _attention(shape):
    import torch

    batch, tokens, heads, seed = shape
    mask, generator = _padded_mask(batch, tokens, seed)
    keys = mask[:, None, None, :].bool()

    def probabilities():
        scores = torch.randn(batch, heads, tokens, tokens, generator=generator, dtype=torch.float64) * 3
        return scores.masked_fill(~keys, torch.finfo(scores.dtype).min).softmax(-1)

    return probabilities(), probabilities(), mask


@settings(deadline=None, max_examples=60)
@given(shapes)
def test_hidden_loss_is_the_mean_squared_error_over_real_tokens(shape) -> None:
    import torch

    student, teacher, mask = _hidden(shape)
    real = mask.bool()
    expected = ((student - teacher)[real] ** 2).mean()
    assert torch.allclose(hidden_state_loss(student, teacher, mask), expected)
    assert hidden_state_loss(student, student.clone(), mask).item() == 0.0


@settings(deadline=None, max_examples=40)
@given(shapes)
def test_padding_does_not_change_the_losses(shape) -> None:
    import torch

    student, teacher, mask = _hidden(shape)
    noisy = student.masked_fill(~mask.bool().unsqueeze(-1), 1e3)
    assert torch.allclose(hidden_state_loss(noisy, teacher, mask), hidden_state_loss(student, teacher, mask))
    student_maps, teacher_maps, mask = _attention(shape)
    queries = ~mask.bool()[:, None, :, None]
    scrambled = student_maps.masked_fill(queries, 0.0)  # padded query rows: not distributions at all
    assert torch.allclose(attention_loss(scrambled, teacher_maps, mask), attention_loss(student_maps, teacher_maps, mask))


@settings(deadline=None, max_examples=60)
@given(shapes)
def test_attention_loss_is_a_divergence(shape) -> None:
    student, teacher, mask = _attention(shape)
    assert attention_loss(student, teacher, mask).item() >= -1e-12
    assert abs(attention_loss(teacher.clone(), teacher, mask).item()) < 1e-12


@settings(deadline=None, max_examples=30)
@given(shapes)
def test_gradients_flow_to_the_student_only(shape) -> None:
    student, teacher, mask = _hidden(shape)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    hidden_state_loss(student, teacher, mask).backward()
    assert student.grad is not None and bool(student.grad.isfinite().all()) and teacher.grad is None


@given(st.integers(1, 12), st.integers(1, 24))
def test_uniform_pairs_map_embeddings_and_last_layers_monotonically(student, teacher) -> None:
    if student > teacher:
        with pytest.raises(ValueError, match="student layers <= teacher layers"):
            uniform_pairs(student, teacher)
        return
    pairs = uniform_pairs(student, teacher)
    assert pairs[0] == (0, 0) and pairs[-1] == (student, teacher) and len(pairs) == student + 1
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(pairs, pairs[1:]))


def test_no_pairs_means_the_uniform_mapping_of_both_depths() -> None:
    from transformers import BertConfig

    student, teacher = (BertConfig(num_hidden_layers=n) for n in (3, 6))
    assert resolved(LayerLoss(), student, teacher).pairs == ((0, 0), (1, 2), (2, 4), (3, 6))
    given = LayerLoss(pairs=((1, 1),))
    assert resolved(given, student, teacher) is given


def test_bad_layer_losses_are_rejected() -> None:
    with pytest.raises(ValueError, match="pairs of indices >= 0"):
        LayerLoss(pairs=((1, -1),))
    with pytest.raises(ValueError, match="not all 0"):
        LayerLoss(pairs=((1, 2),), hidden_weight=0.0)
    with pytest.raises(ValueError, match="value_weight"):
        LayerLoss(pairs=((1, 2),), value_weight=-1.0)


def test_mapping_must_fit_both_models() -> None:
    from transformers import BertConfig

    teacher = BertConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2)
    check_layer_pairs(LayerLoss(pairs=((0, 0), (1, 2))), BertConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=1), teacher)
    with pytest.raises(ValueError, match="out of range: the student has hidden states 0..1"):
        check_layer_pairs(LayerLoss(pairs=((2, 2),)), BertConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=1), teacher)
    with pytest.raises(ValueError, match="same hidden_size"):
        check_layer_pairs(LayerLoss(pairs=((1, 1),)), BertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=1), teacher)
    embeddings_only = LayerLoss(pairs=((0, 0),), hidden_weight=0.0, value_weight=1.0)
    with pytest.raises(ValueError, match="value_weight needs a pair of two transformer layers"):
        check_layer_pairs(embeddings_only, BertConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=1), teacher)


def test_the_option_leaves_logits_only_recipes_unchanged() -> None:
    assert "layers" not in describe(Distill())
    described = describe(Distill(layers=LayerLoss(pairs=((1, 2),), attention_weight=0.5)))
    assert described["layers"] == {"pairs": [[1, 2]], "hidden_weight": 1.0, "attention_weight": 0.5}
    with_values = describe(Distill(layers=LayerLoss(pairs=((1, 2),), value_weight=2.0)))
    assert with_values["layers"]["value_weight"] == 2.0


@settings(deadline=None, max_examples=60)
@given(shapes, st.integers(1, 4))
def test_value_relation_is_a_distribution_over_the_real_keys(shape, head_width) -> None:
    import torch

    batch, tokens, heads, seed = shape
    mask, generator = _padded_mask(batch, tokens, seed)
    values = torch.randn(batch, tokens, heads * head_width, generator=generator, dtype=torch.float64) * 3
    relation = value_relation(values, heads, mask)
    keys = mask.bool()[:, None, None, :].expand_as(relation)
    assert relation.shape == (batch, heads, tokens, tokens)
    assert bool((relation[~keys] == 0).all()) and bool((relation >= 0).all())
    assert torch.allclose(relation.sum(-1), torch.ones(batch, heads, tokens, dtype=torch.float64))
    assert abs(attention_loss(relation.clone(), relation, mask).item()) < 1e-12


class _Captured:
    def __init__(self, values, heads: int) -> None:
        self.values, self.heads = values, heads


@settings(deadline=None, max_examples=40)
@given(shapes)
def test_the_value_term_is_the_divergence_of_the_mapped_layers_relations(shape) -> None:
    import torch

    batch, tokens, heads, seed = shape
    mask, generator = _padded_mask(batch, tokens, seed)
    student = [torch.randn(batch, tokens, heads * 2, generator=generator, dtype=torch.float64) for _ in range(2)]
    teacher = [torch.randn(batch, tokens, heads * 2, generator=generator, dtype=torch.float64) for _ in range(4)]
    loss = LayerLoss(pairs=((0, 0), (2, 4)), hidden_weight=0.0, value_weight=2.0)
    captures = (_Captured(dict(enumerate(student)), heads), _Captured(dict(enumerate(teacher)), heads))
    expected = 2.0 * attention_loss(value_relation(student[1], heads, mask), value_relation(teacher[3], heads, mask), mask)
    assert torch.allclose(layer_loss(None, None, mask, loss, captures), expected)
    same = (_Captured({1: teacher[3]}, heads), _Captured({3: teacher[3]}, heads))
    assert abs(layer_loss(None, None, mask, loss, same).item()) < 1e-12
    with pytest.raises(ValueError, match="needs the student's and the teacher's ValueCapture"):
        layer_loss(None, None, mask, loss)


def test_a_value_capture_keeps_each_forwards_value_projections_until_closed(tiny_checkpoint, tmp_path) -> None:
    import torch

    from compressors.formats.dense import load_torch_artifact

    model, tokenizer = load_torch_artifact(copy_as_artifact(tiny_checkpoint, tmp_path))
    batch = tokenizer(["book a table for two", "what is my balance"], padding=True, return_tensors="pt")
    with torch.no_grad(), ValueCapture(model.eval(), [0]) as capture:
        model(**batch)
        assert set(capture.values) == {0}
        assert capture.values[0].shape == (*batch["input_ids"].shape, model.config.hidden_size)
        first = capture.values[0]
    with torch.no_grad():
        model(**tokenizer(["set an alarm"], return_tensors="pt"))
    assert capture.values[0] is first


def _tiny_student(tiny_checkpoint, tmp_path, context):
    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    return teacher, apply_step(teacher, CutLayers((0,)), context)


def _layer_loss_on_training_text(student_artifact, teacher_artifact, context, loss: LayerLoss) -> float:
    import torch

    from compressors.formats.dense import load_torch_artifact
    from compressors.steps.training import collate, encode

    (student, tokenizer), (teacher, _) = load_torch_artifact(student_artifact), load_torch_artifact(teacher_artifact)
    batch = collate(encode(tokenizer, context.data["train"]["text"][:64], 32), tokenizer.pad_token_id)
    options = {"output_hidden_states": True, "output_attentions": True}
    with torch.no_grad(), value_captures(student.eval(), teacher.eval(), loss) as values:
        student_outputs, teacher_outputs = student(**batch, **options), teacher(**batch, **options)
        return float(layer_loss(student_outputs, teacher_outputs, batch["attention_mask"], loss, values))


def test_distilling_layers_brings_the_students_layers_towards_the_teachers(tiny_checkpoint, tmp_path, context) -> None:
    teacher, student = _tiny_student(tiny_checkpoint, tmp_path, context)
    loss = LayerLoss(pairs=uniform_pairs(1, 2), hidden_weight=10.0, attention_weight=1.0)
    config = Distill(alpha=0.5, layers=loss, train=TrainConfig(epochs=2, max_length=32, batch_size=32, learning_rate=1e-3))
    with_layers = apply_step(student, config, context)
    logits_only = apply_step(student, Distill(alpha=0.5, train=config.train), context)
    assert with_layers.key != logits_only.key
    measured = {a.key: _layer_loss_on_training_text(a, teacher, context, loss) for a in (student, with_layers, logits_only)}
    assert measured[with_layers.key] < 0.5 * measured[logits_only.key]


def test_distilling_value_relations_brings_the_students_relations_towards_the_teachers(tiny_checkpoint, tmp_path, context) -> None:
    teacher, student = _tiny_student(tiny_checkpoint, tmp_path, context)
    loss = LayerLoss(pairs=((1, 2),), hidden_weight=0.0, value_weight=10.0)
    config = Distill(alpha=0.5, layers=loss, train=TrainConfig(epochs=2, max_length=32, batch_size=32, learning_rate=1e-3))
    with_values = apply_step(student, config, context)
    logits_only = apply_step(student, Distill(alpha=0.5, train=config.train), context)
    measured = {a.key: _layer_loss_on_training_text(a, teacher, context, loss) for a in (with_values, logits_only)}
    assert measured[with_values.key] < 0.5 * measured[logits_only.key]


def test_a_student_with_another_tokenizer_is_refused_before_training(tiny_checkpoint, tmp_path, context) -> None:
    from compressors.steps.trim_vocabulary import TrimVocabulary

    _, student = _tiny_student(tiny_checkpoint, tmp_path, context)
    trimmed = apply_step(student, TrimVocabulary(), context)
    config = Distill(same_tokenizer=False, layers=LayerLoss(pairs=((1, 2),)), train=TrainConfig(epochs=1, max_length=32))
    with pytest.raises(ValueError, match="must use the teacher's tokenizer"):
        apply_step(trimmed, config, context)
