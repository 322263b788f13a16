"""Optuna search over alpha/T/epochs: stored study, resumable, best parameters on the artifact."""

from __future__ import annotations

import pytest
from tests_support import copy_as_artifact

from compressors.distillation import Distill
from compressors.search import SearchDistill, SearchSpace, run_search, search_and_distill
from compressors.training import TrainConfig

FAST = Distill(train=TrainConfig(epochs=1, max_length=32, batch_size=64))


def _config(tmp_path, trials: int) -> SearchDistill:
    return SearchDistill(
        base=FAST, space=SearchSpace(epochs=(1, 2)), trials=trials, trial_fraction=0.5,
        storage=f"sqlite:///{tmp_path / 'study.db'}",
    )


def test_search_stores_the_best_parameters_with_the_artifact(tiny_checkpoint, tmp_path, context) -> None:
    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    artifact = search_and_distill(teacher, _config(tmp_path, trials=2), context)
    meta = artifact.meta
    assert artifact.kind == "torch" and meta["search_trials"] == 2
    assert 0 <= meta["alpha"] <= 1 and 2 <= meta["temperature"] <= 20 and meta["epochs"] in (1, 2)
    assert (tmp_path / "study.db").is_file()


def test_a_stopped_search_resumes_from_its_storage(tiny_checkpoint, tmp_path, context) -> None:
    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    first = run_search(teacher, _config(tmp_path, trials=1), context, "resume-test")
    assert len(first.trials) == 1
    resumed = run_search(teacher, _config(tmp_path, trials=2), context, "resume-test")
    assert len(resumed.trials) == 2  # one new trial, not two
    assert resumed.trials[0].params == first.trials[0].params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"trials": 0}, "trials must be >= 1"), ({"trial_fraction": 0}, r"trial_fraction must be in \(0, 1\]")],
)
def test_bad_search_settings(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SearchDistill(**kwargs)


def test_bad_search_space() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        SearchSpace(temperature=(20.0, 2.0))
