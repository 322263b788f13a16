"""Suite configs: the user's data, model, training settings, variants and budgets, and one-line errors."""

from __future__ import annotations

import pytest

from compressors.measure.budgets import Budget
from compressors.profiles import FULL, SMALL, get_profile
from compressors.suite_config import load_suite_config
from compressors.variants import registry


def _config(tmp_path, text: str):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return load_suite_config(SMALL, path)


def test_unknown_profile_suggests_the_nearest() -> None:
    with pytest.raises(ValueError, match="unknown profile 'smal'; did you mean 'small'"):
        get_profile("smal")


def test_own_files_checkpoint_and_training_settings(tmp_path) -> None:
    config = _config(tmp_path, (
        '[data]\nfiles = {train = "t.csv", test = "e.csv"}\ntext_column = "utterance"\n'
        '[model]\ncheckpoint = "bert-base-uncased"\n'
        "[train]\nepochs = 3\nlearning_rate = 5e-5\nmax_length = 48\n"
    ))
    profile = config.profile
    assert profile.checkpoint == "bert-base-uncased"
    assert profile.data.files == {"train": str(tmp_path / "t.csv"), "test": str(tmp_path / "e.csv")}
    assert profile.data.text_column == "utterance" and profile.data.oos_label == ""  # own files: no OOS unless named
    assert profile.data.per_class == SMALL.data.per_class
    trainings = [profile.teacher_train, profile.student_train, profile.distill.train, profile.search.base.train, profile.pruning.train,
                 profile.structured.train]
    assert all((t.epochs, t.learning_rate, t.max_length) == (3, 5e-5, 48) for t in trainings)
    assert profile.search.space.epochs == (1, 3) and profile.harness.max_length == 48
    assert profile.student_layers == () and profile.layer_loss.pairs == ()  # another model: cut by its depth


def test_the_out_of_scope_threshold_can_balance_in_scope_accuracy_and_recall(tmp_path) -> None:
    from compressors.steps.oos_threshold import OosThreshold

    assert SMALL.serving == (OosThreshold(),)
    assert _config(tmp_path, '[data]\noos_objective = "balanced"\n').profile.serving == (OosThreshold(objective="balanced"),)


@pytest.mark.parametrize(("model", "checkpoint", "source"), [
    ('checkpoint = "bert-base-uncased"', "bert-base-uncased", None),
    ('baseline = "mine"', "", "baseline"),
])
def test_pruning_starts_from_the_users_model(tmp_path, model, checkpoint, source) -> None:
    (tmp_path / "mine").mkdir()
    path = tmp_path / "suite.toml"
    path.write_text(f"[model]\n{model}\n")
    profile = load_suite_config(FULL, path).profile
    assert profile.pruning.checkpoint == checkpoint
    assert registry(profile)["pruned-movement"].source == source


def test_a_fine_tuned_baseline_replaces_the_fine_tuning(tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    config = _config(tmp_path, '[model]\nbaseline = "mine"\n')
    steps = registry(config.profile)["baseline"].steps
    assert [type(s).__name__ for s in steps] == ["UseClassifier"] and steps[0].model == str(tmp_path / "mine")
    assert type(registry(config.profile)["student"].steps[0]).__name__ == "CutLayers"
    assert registry(config.profile)["student"].steps[0].every == 2


def test_variants_are_chosen_by_glob_patterns(tmp_path) -> None:
    config = _config(tmp_path, '[variants]\ninclude = ["baseline", "ort*", "frontier"]\nexclude = ["ort-static"]\n')
    chosen = [name for name in registry(FULL) if config.selects(name)]
    assert chosen == ["baseline", "ort", "ort-quantized", "frontier"]
    assert not config.selects("ort-static") and not config.selects("distilled")


def test_own_budgets_are_read_per_variant(tmp_path) -> None:
    config = _config(tmp_path, "[budgets.distilled]\nmin_accuracy = 0.9\nmax_accuracy_drop = 0.01\n")
    assert config.budgets == {"distilled": Budget(min_accuracy=0.9, max_accuracy_drop=0.01)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dataa]\n", r"suite.toml: unknown table \[dataa\]; did you mean 'data'\?"),
        ("[data]\ntext_col = 'x'\n", r"suite.toml: \[data\] unknown key 'text_col'; did you mean 'text_column'\?"),
        ("[data]\nfiles = {train = 't.csv'}\n", r"suite.toml: \[data\] data files must name the splits train and test"),
        ("[data]\noos_objective = 'recall'\n", r"suite.toml: \[data\] oos_objective: OosThreshold.objective must be one of"),
        ("[data]\nvalidation_fraction = 1.5\n", r"suite.toml: \[data\] validation_fraction must be a fraction in \(0, 1\)"),
        ("[model]\ncheckpont = 'x'\n", r"suite.toml: \[model\] unknown key 'checkpont'; did you mean 'checkpoint'\?"),
        ("[model]\nbaseline = ''\n", r"suite.toml: \[model\] baseline must be a directory or a Hub name"),
        ("[train]\nepoch = 3\n", r"suite.toml: \[train\] unknown key 'epoch'; did you mean 'epochs'\?"),
        ("[train]\nepochs = 0\n", r"suite.toml: \[train\] TrainConfig.epochs must be >= 1, got 0"),
        ("[variants]\ninclude = ['ort-quantised']\n", r"suite.toml: \[variants\] include: 'ort-quantised' matches no variant; did you mean 'ort-quantized'\?"),
        ("[variants]\nexclude = ['*']\n", r"suite.toml: \[variants\] selects no variant"),
        ("[budgets.distiled]\nmin_accuracy = 0.9\n", r"suite.toml: \[budgets.distiled\] unknown variant; did you mean 'distilled'\?"),
        ("[budgets.distilled]\nmin_acuracy = 0.9\n", r"suite.toml: \[budgets.distilled\]: unknown key 'min_acuracy'; did you mean 'min_accuracy'\?"),
        ("[data\n", r"suite.toml: not valid TOML"),
        ("[timing]\npair = 10\n", r"suite.toml: \[timing\] unknown key 'pair'; did you mean 'pairs'\?"),
        ("[timing]\npairs = '10'\n", r"suite.toml: \[timing\] pairs must be a whole number, got '10'"),
        ("[timing]\npairs = 1\n", r"suite.toml: \[timing\] PairedConfig needs pairs >= 2"),
        ("[timing]\nrounds = 0\n", r"suite.toml: \[timing\] HarnessConfig.rounds must be >= 1, got 0"),
    ],
)
def test_every_config_error_is_one_line_naming_file_table_and_key(tmp_path, text, message) -> None:
    with pytest.raises(ValueError, match=message) as error:
        _config(tmp_path, text)
    assert "\n" not in str(error.value)


def test_timing_sets_the_paired_blocks_and_plain_rounds_and_keeps_the_rest(tmp_path) -> None:
    harness = _config(tmp_path, "[timing]\npairs = 8\nblock_calls = 5\nrounds = 40\n").profile.harness
    assert (harness.paired.pairs, harness.paired.block_calls, harness.rounds) == (8, 5, 40)
    assert harness.paired.warm_calls == SMALL.harness.paired.warm_calls and harness.warmup_rounds == SMALL.harness.warmup_rounds


def test_a_missing_config_file_is_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="suite config .*nope.toml does not exist"):
        load_suite_config(SMALL, tmp_path / "nope.toml")
