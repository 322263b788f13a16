"""Optuna search over alpha/T/epochs: stored study, resumable, best parameters on the artifact."""

from __future__ import annotations

import pytest
from tests_support import copy_as_artifact

from dataclasses import replace

from compressors.steps.base import apply_step
from compressors.steps.distill import Distill
from compressors.steps.search import SearchDistill, SearchSpace, run_search
from compressors.steps.training import TrainConfig

FAST = Distill(train=TrainConfig(epochs=1, max_length=32, batch_size=64))


def _config(storage, trials: int) -> SearchDistill:
    return SearchDistill(
        base=FAST, space=SearchSpace(epochs=(1, 2)), trials=trials, trial_fraction=0.5,
        storage=f"sqlite:///{storage / 'study.db'}",
    )


def test_the_final_student_is_trained_with_the_best_trials_parameters(tiny_checkpoint, tmp_path, context) -> None:
    import optuna

    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    config = _config(tmp_path, trials=3)
    artifact = apply_step(teacher, config, context)
    study = optuna.load_study(study_name=artifact.meta["study"], storage=config.storage)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(finished, key=lambda t: t.value)
    assert artifact.meta["search_trials"] == 3 and artifact.meta["search_best_value"] == best.value
    assert (artifact.meta["alpha"], artifact.meta["temperature"], artifact.meta["epochs"]) == (
        best.params["alpha"], best.params["temperature"], best.params["epochs"],
    )
    # The same student as a plain distillation with those parameters: same files, bit for bit.
    chosen = replace(FAST, alpha=best.params["alpha"], temperature=best.params["temperature"],
                     train=replace(FAST.train, epochs=best.params["epochs"]))
    assert apply_step(teacher, chosen, context).digest == artifact.digest


def test_a_resumed_search_draws_what_an_uninterrupted_one_draws(tiny_checkpoint, tmp_path, context) -> None:
    teacher = copy_as_artifact(tiny_checkpoint, tmp_path)
    context.resolver = {"baseline": teacher}.__getitem__
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    uninterrupted = run_search(teacher, _config(tmp_path / "a", trials=3), context, "study")
    first = run_search(teacher, _config(tmp_path / "b", trials=1), context, "study")
    assert len(first.trials) == 1
    resumed = run_search(teacher, _config(tmp_path / "b", trials=3), context, "study")
    assert len(resumed.trials) == 3  # two new trials, not three
    assert [t.params for t in resumed.trials] == [t.params for t in uninterrupted.trials]
    assert [t.value for t in resumed.trials] == [t.value for t in uninterrupted.trials]


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
