"""The recorded choice: what the registry's `searched` variant builds, per profile and model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from compressors.chains.chosen import FALLBACK, fp32_source, read_choices, record_choice, searched_chain
from compressors.chains.space import Candidate
from compressors.profiles import FULL, SMALL
from compressors.variants import registry

CHOSEN = Candidate("baseline", trim=True, reduce_range=True, weight_type="uint8")


def test_a_recorded_chain_is_what_the_profile_searched_for_builds(tmp_path) -> None:
    path = tmp_path / "chosen.json"
    record_choice(SMALL, CHOSEN, {"validation_accuracy": 0.9, "baseline_accuracy": 0.91, "speedup": 3.0, "size_ratio": 0.2}, path)
    candidate, description = searched_chain(SMALL, path)
    assert candidate == CHOSEN and CHOSEN.name in description and "3.00x" in description
    assert searched_chain(FULL, path)[0] == FALLBACK  # recorded for the small profile only


def test_a_record_for_other_data_or_another_model_is_not_used(tmp_path) -> None:
    path = tmp_path / "chosen.json"
    record_choice(SMALL, CHOSEN, {}, path)
    other_data = replace(SMALL, data=replace(SMALL.data, per_class={"train": 3, "validation": 1, "test": 1}))
    assert searched_chain(other_data, path)[0] == FALLBACK
    assert searched_chain(replace(SMALL, baseline_model="mine"), path)[0] == FALLBACK


def test_recording_keeps_the_other_profiles_choices(tmp_path) -> None:
    path = tmp_path / "chosen.json"
    record_choice(SMALL, CHOSEN, {}, path)
    record_choice(FULL, FALLBACK, {}, path)
    assert {name: c.candidate for name, c in read_choices(path).items()} == {"small": CHOSEN, "full": FALLBACK}


def test_a_chain_without_steps_of_its_own_is_not_registered(tmp_path) -> None:
    with pytest.raises(ValueError, match="is the registered variant 'distilled' itself"):
        record_choice(SMALL, Candidate("distilled", quantization="torch-fp32"), {}, tmp_path / "chosen.json")


def test_an_unreadable_record_names_the_file(tmp_path) -> None:
    path = tmp_path / "chosen.json"
    path.write_text('{"small": {"candidate": {"quantization": "int4"}, "model": "x"}}')
    with pytest.raises(ValueError, match=f"{path}: unreadable chosen chain"):
        read_choices(path)


@pytest.mark.parametrize("profile", [FULL, SMALL], ids=["full", "small"])
def test_the_registry_builds_the_profiles_searched_chain(profile) -> None:
    variant = registry(profile)["searched"]
    candidate, _ = searched_chain(profile)
    assert (variant.source, variant.steps) == candidate.chain(profile)
    assert variant.fp32_source == fp32_source(candidate) and variant.fast


def test_a_new_students_accuracy_is_compared_with_the_baseline() -> None:
    assert fp32_source(Candidate(layers=(0, 5))) == "baseline" and fp32_source(Candidate("distilled")) == "distilled"
