"""The trial store: one JSON file per study, written after every stage, refused when it is another study's."""

from __future__ import annotations

import json
import math

import pytest

from compressors.chains.space import Candidate
from compressors.search.store import ASSESSED, Trial, TrialStore, study_path

STUDY = {"profile": "small", "speed": "cost"}


def test_trials_survive_a_new_store_on_the_same_file(tmp_path) -> None:
    path = study_path(tmp_path, STUDY)
    store = TrialStore(path, STUDY)
    trial = store.add_seconds(store.get(Candidate("distilled", trim=True)), 12.5, stage=ASSESSED, validation_accuracy=0.9,
                              size_ratio=0.1)
    again = TrialStore(path, STUDY)
    read = again.get(trial.candidate)
    assert (read.stage, read.validation_accuracy, read.size_ratio, read.seconds) == (ASSESSED, 0.9, 0.1, 12.5)
    assert math.isnan(read.speedup)  # not timed yet
    assert again.get(Candidate("baseline")) == Trial(Candidate("baseline"))  # stage 0: nothing known


def test_each_study_has_its_own_file_and_a_file_of_another_study_is_refused(tmp_path) -> None:
    other = {**STUDY, "speed": "paired"}
    assert study_path(tmp_path, STUDY) != study_path(tmp_path, other)
    store = TrialStore(tmp_path / "trials.json", STUDY)
    store.put(Trial(Candidate("baseline")))
    with pytest.raises(ValueError, match="holds another study's trials; delete it"):
        TrialStore(tmp_path / "trials.json", other)


def test_an_unreadable_store_names_the_file(tmp_path) -> None:
    path = tmp_path / "trials.json"
    path.write_text(json.dumps({"study": STUDY, "trials": {"x": {"candidate": {"quantization": "int4"}}}}))
    with pytest.raises(ValueError, match=f"{path}: unreadable search trials"):
        TrialStore(path, STUDY)
