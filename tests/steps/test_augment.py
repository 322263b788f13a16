"""Teacher-labelled augmentation: seeded variants, neighbours from embeddings, the loss on augmented rows."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import copy_as_artifact

from compressors.steps.augment import Augment, augment_text, augment_texts, build_neighbours
from compressors.steps.base import apply_step
from compressors.steps.distill import Distill, augmented_kd_loss, kd_loss
from compressors.steps.training import TrainConfig

WORDS = ["book", "flight", "paris", "cancel", "my", "order", "weather", "today"]
NEIGHBOURS = {"book": ["reserve", "order"], "flight": ["plane"], "weather": ["forecast", "rain"]}
texts = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join), min_size=1, max_size=6)


@settings(deadline=None, max_examples=100)
@given(texts, st.integers(0, 2**31), st.integers(1, 4))
def test_variants_are_seeded_and_the_same_whatever_the_number_of_copies(rows, seed, copies) -> None:
    config = Augment(copies=copies, seed=seed)
    first = augment_texts(rows, NEIGHBOURS, config)
    assert first == augment_texts(rows, NEIGHBOURS, config) and len(first) == copies * len(rows)
    more = augment_texts(rows, NEIGHBOURS, Augment(copies=copies + 1, seed=seed))
    assert more[: len(first)] == first


@settings(deadline=None, max_examples=100)
@given(texts, st.integers(0, 2**31))
def test_a_variant_is_made_of_its_own_words_or_their_neighbours(rows, seed) -> None:
    config = Augment(copies=2, seed=seed)
    for k in range(2):
        for i, text in enumerate(rows):
            variant = augment_texts(rows, NEIGHBOURS, config)[k * len(rows) + i].split()
            allowed = set(text.split()) | {n for w in text.split() for n in NEIGHBOURS.get(w, [])}
            assert set(variant) <= allowed
            assert len(variant) >= min(config.min_words, len(text.split()))


def test_swaps_alone_permute_the_words() -> None:
    config = Augment(p_replace=0.0, p_drop=0.0, p_swap=1.0)
    assert augment_text("a b c d", {}, config, random.Random(0)) == "b a d c"


def test_neighbours_are_the_nearest_whole_words_by_embedding() -> None:
    vocab = {"[CLS]": 0, "cat": 1, "kitten": 2, "car": 3, "##s": 4, "dog": 5}
    embeddings = np.array([[1, 1], [1, 0], [0.99, 0.05], [0, 1], [1, 0], [0.9, 0.3]])
    neighbours = build_neighbours(["the cat sat"], vocab, embeddings, ["[CLS]"], top_k=2)
    assert neighbours == {"cat": ["kitten", "dog"]}


def test_augmented_rows_learn_from_the_teacher_alone_and_labelled_rows_as_before() -> None:
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    none = torch.zeros(6, dtype=torch.bool)
    assert torch.allclose(augmented_kd_loss(student, teacher, labels, none, 0.3, 4.0), kd_loss(student, teacher, labels, 0.3, 4.0))
    some = torch.tensor([False, False, True, True, False, True])
    other_labels = torch.where(some, torch.tensor(4), labels)
    assert torch.equal(augmented_kd_loss(student, teacher, labels, some, 0.3, 4.0),
                       augmented_kd_loss(student, teacher, other_labels, some, 0.3, 4.0))


def test_distillation_with_augmentation_caches_the_variants_and_their_teacher_logits(tiny_checkpoint, tmp_path, context) -> None:
    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    config = Distill(alpha=0.5, temperature=2.0, augment=Augment(copies=2), train=TrainConfig(epochs=1, max_length=32, batch_size=64))
    student = apply_step(teacher, config, context)
    steps = [e.step for e in context.cache.events]
    assert "augment" in steps and steps.count("teacher-logits") == 2
    assert apply_step(teacher, config, context) == student
    plain = apply_step(teacher, Distill(alpha=0.5, temperature=2.0, train=config.train), context)
    assert plain.key != student.key and plain.digest != student.digest


def test_bad_augmentation_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Augment.p_drop must be a probability in \[0, 1\]"):
        Augment(p_drop=1.5)
    with pytest.raises(ValueError, match="copies, top_k, min_words and max_tries >= 1"):
        Augment(copies=0)
