"""The KD loss (property tests), cached teacher logits, compatibility checks and the distill step."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import copy_as_artifact

from compressors.steps.base import apply_step
from compressors.steps.augment import Augment
from compressors.steps.distill import Distill, ensemble_logits, ensemble_members, kd_loss, teacher_logits
from compressors.steps.training import TrainConfig

logit_batches = st.tuples(st.integers(1, 6), st.integers(2, 7), st.integers(0, 2**16))


def _logits(batch: int, classes: int, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, classes, generator=generator) * 3
    teacher = torch.randn(batch, classes, generator=generator) * 3
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return student, teacher, labels


@settings(deadline=None, max_examples=60)
@given(logit_batches, st.floats(0, 1), st.floats(0.5, 20))
def test_loss_equals_the_formula(shape, alpha, temperature) -> None:
    import torch

    student, teacher, labels = _logits(*shape)
    p_teacher = torch.softmax(teacher / temperature, -1)
    log_p_student = torch.log_softmax(student / temperature, -1)
    kl = (p_teacher * (torch.log(p_teacher) - log_p_student)).sum(-1).mean()
    ce = -torch.log_softmax(student, -1)[torch.arange(len(labels)), labels].mean()
    expected = alpha * ce + (1 - alpha) * temperature**2 * kl
    assert torch.allclose(kd_loss(student, teacher, labels, alpha, temperature), expected, rtol=1e-4, atol=1e-5)


@settings(deadline=None, max_examples=40)
@given(logit_batches, st.floats(0, 1), st.floats(0.5, 20))
def test_kd_term_is_zero_when_student_equals_teacher(shape, alpha, temperature) -> None:
    import torch

    student, _, labels = _logits(*shape)
    student = student.double()  # float64, so that "zero" is not blurred by float32 rounding times T^2
    ce = torch.nn.functional.cross_entropy(student, labels)
    assert torch.allclose(kd_loss(student, student.clone(), labels, alpha, temperature), alpha * ce, atol=1e-10)


@settings(deadline=None, max_examples=40)
@given(logit_batches, st.floats(0.5, 20))
def test_alpha_one_is_cross_entropy(shape, temperature) -> None:
    import torch

    student, teacher, labels = _logits(*shape)
    expected = torch.nn.functional.cross_entropy(student, labels)
    assert torch.allclose(kd_loss(student, teacher, labels, 1.0, temperature), expected)


@settings(deadline=None, max_examples=30)
@given(logit_batches, st.floats(0, 0.99), st.floats(0.5, 20))
def test_gradients_flow_to_the_student_only(shape, alpha, temperature) -> None:
    student, teacher, labels = _logits(*shape)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    kd_loss(student, teacher, labels, alpha, temperature).backward()
    assert student.grad is not None and bool(student.grad.isfinite().all())
    assert teacher.grad is None


def test_bad_alpha_and_temperature_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        Distill(alpha=1.5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        Distill(temperature=0)


def test_an_ensemble_needs_distinct_seeds_and_no_augmentation() -> None:
    with pytest.raises(ValueError, match="teacher_seeds must be distinct"):
        Distill(teacher_seeds=(43, 43))
    with pytest.raises(ValueError, match="cannot be combined"):
        Distill(teacher_seeds=(43,), augment=Augment(copies=1))


def test_an_ensemble_teachers_logits_are_the_mean_of_its_members(tiny_checkpoint, tmp_path, context) -> None:
    from conftest import make_tiny_checkpoint

    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    member = copy_as_artifact(make_tiny_checkpoint(tmp_path / "member", seed=1, layers=1), tmp_path / "member-cache")
    _context_with_teacher(context, teacher)
    context.reseeder = lambda name, seed: {("baseline", 43): member}[(name, seed)]
    members = ensemble_members(Distill(teacher_seeds=(43,)), context)
    assert [m.key for m in members] == [teacher.key, member.key]
    mean = ensemble_logits(members, context, 32)
    expected = (teacher_logits(teacher, context, 32) + teacher_logits(member, context, 32)) / 2
    assert (mean == expected).all()
    assert not (mean == teacher_logits(teacher, context, 32)).all()
    assert (ensemble_logits(members[:1], context, 32) == teacher_logits(teacher, context, 32)).all()


def _context_with_teacher(context, teacher):
    context.resolver = {"baseline": teacher}.__getitem__
    return context


def test_teacher_logits_are_computed_once_and_cached(tiny_checkpoint, tmp_path, context, monkeypatch) -> None:
    import compressors.steps.distill as distillation

    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    first = teacher_logits(teacher, context, 32)
    assert tuple(first.shape) == (len(context.data["train"]), 151)
    monkeypatch.setattr(distillation, "predict_logits", lambda *a, **k: pytest.fail("teacher ran again"))
    assert (teacher_logits(teacher, context, 32) == first).all()


def _kl_to_teacher(teacher, student, texts) -> float:
    import torch

    from compressors.formats.dense import load_torch_artifact
    from compressors.steps.training import predict_logits

    logits = [torch.from_numpy(predict_logits(*load_torch_artifact(a), texts, max_length=32)) for a in (teacher, student)]
    return float(torch.nn.functional.kl_div(logits[1].log_softmax(-1), logits[0].softmax(-1), reduction="batchmean"))


def test_distillation_pulls_the_student_towards_the_teacher(tiny_checkpoint, tmp_path, context) -> None:
    from conftest import make_tiny_checkpoint

    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    _context_with_teacher(context, teacher)
    other = copy_as_artifact(make_tiny_checkpoint(tmp_path / "other", seed=1, layers=1), tmp_path / "other-cache")
    config = Distill(alpha=0.0, temperature=1.0, train=TrainConfig(epochs=3, learning_rate=2e-3, max_length=32, batch_size=32))
    student = apply_step(other, config, context)
    texts = context.data["train"]["text"]
    before, after = _kl_to_teacher(teacher, other, texts), _kl_to_teacher(teacher, student, texts)
    assert after < 0.5 * before, (before, after)
    assert len(student.meta["validation_accuracy_by_epoch"]) == 3
    assert student.meta["alpha"] == 0.0 and student.key != other.key
    assert apply_step(other, config, context) == student  # cached


def test_label_mismatch_is_an_error_before_training(tiny_checkpoint, tmp_path, context) -> None:
    import json

    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    for f in tiny_checkpoint.iterdir():
        (teacher_dir / f.name).write_bytes(f.read_bytes())
    config_file = teacher_dir / "config.json"
    config = json.loads(config_file.read_text())
    config["id2label"] = {str(i): f"label_{i}" for i in range(151)}
    config_file.write_text(json.dumps(config))
    teacher = copy_as_artifact(teacher_dir, tmp_path)
    _context_with_teacher(context, teacher)
    with pytest.raises(ValueError, match="must share the data set's label mapping"):
        apply_step(copy_as_artifact(tiny_checkpoint, tmp_path / "student"), Distill(train=TrainConfig(epochs=1)), context)
