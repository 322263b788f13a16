"""The suite's options: one definition for the plugin and every command, one resolution with its checks and budget policy."""

from __future__ import annotations

import argparse

import pytest

from compressors.cli import COMMANDS
from compressors.measure.budgets import OUT_OF_SCOPE_KEYS, Budget
from compressors.suite.settings import SuiteSettings, add_suite_options, resolve_budgets, resolve_suite

SHARED = {"profile": None, "suite_config": None, "cache_dir": None, "device": "auto", "threads": None}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_suite_options(parser, judging=True)
    return parser.parse_args(argv)


@pytest.mark.parametrize("name", ["lock", "verify", "crosscheck", "compare", "prune-sweep"])
def test_every_command_that_builds_or_times_has_the_same_options_and_defaults(name) -> None:
    command = next(c for c in COMMANDS if c.NAME == name)
    parser = argparse.ArgumentParser()
    command.configure(parser)
    defaults = {dest: parser.get_default(dest) for dest in SHARED}
    assert defaults == SHARED
    assert {a.dest for a in parser._actions} >= set(SHARED)


def test_defaults_come_from_the_environment_then_the_caller(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("COMPRESSORS_SUITE_CONFIG", raising=False)
    monkeypatch.setenv("COMPRESSORS_PROFILE", "small")
    monkeypatch.setenv("COMPRESSORS_CACHE", str(tmp_path))
    settings = resolve_suite(_args())
    assert isinstance(settings, SuiteSettings) and settings.profile.name == "small" and settings.cache_dir == tmp_path
    assert resolve_suite(_args(), default_profile="full").profile.name == "full"  # a lock's or a saved run's
    assert resolve_suite(_args("--profile", "small"), default_profile="full").profile.name == "small"


def test_threads_set_the_harness_and_bad_values_are_named() -> None:
    assert resolve_suite(_args("--profile", "small", "--threads", "2")).profile.harness.threads == 2
    with pytest.raises(ValueError, match="--threads must be >= 1, got 0"):
        resolve_suite(_args("--profile", "small", "--threads", "0"))
    with pytest.raises(ValueError, match="--device must be auto, cpu or cuda, got 'tpu'"):
        resolve_suite(_args("--profile", "small", "--device", "tpu"))
    with pytest.raises(ValueError, match="unknown profile 'smal'; did you mean 'small'"):
        resolve_suite(_args("--profile", "smal"))


def test_data_without_an_out_of_scope_class_drops_the_out_of_scope_budgets(tmp_path) -> None:
    from dataclasses import replace

    path = tmp_path / "budgets.toml"
    path.write_text("[small.baseline]\nmin_oos_recall = 0.5\nmin_accuracy = 0.1\n")
    settings = resolve_suite(_args("--profile", "small", "--budgets", str(path)))
    assert settings.budgets["baseline"] == Budget(min_oos_recall=0.5, min_accuracy=0.1)
    no_oos = replace(settings.profile, data=replace(settings.profile.data, oos_label=""))
    assert resolve_budgets(no_oos, path, None)["baseline"] == Budget(min_accuracy=0.1)
    assert set(OUT_OF_SCOPE_KEYS) == {"min_oos_recall", "max_oos_recall_drop"}


def test_a_suite_configs_own_budgets_override_the_relative_packaged_ones(tmp_path) -> None:
    path = tmp_path / "suite.toml"
    path.write_text('[budgets.student]\nmax_accuracy_drop = 0.5\n')
    settings = resolve_suite(_args("--profile", "small", "--suite-config", str(path)))
    packaged = resolve_suite(_args("--profile", "small")).budgets
    assert settings.budgets["student"].limits()["max_accuracy_drop"] == 0.5
    for name, budget in settings.budgets.items():
        assert set(budget.limits()) <= set(packaged[name].relative_only().limits()) | {"max_accuracy_drop"}
    assert settings.selects("student") and isinstance(settings.budgets["student"], Budget)
