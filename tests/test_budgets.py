"""Budgets file: parsing errors name file, key and reason; checks report measured vs limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressors.budgets import Budget, BudgetError, check_budget, load_budgets
from compressors.profiles import PROFILES
from compressors.variants import VARIANT_NAMES

REPO_BUDGETS = Path(__file__).resolve().parent.parent / "benchmarks" / "budgets.toml"


def _load(tmp_path, text):
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    return load_budgets(path, ["baseline", "distilled"], ["full", "small"])


def test_the_repository_budgets_file_is_valid() -> None:
    budgets = load_budgets(REPO_BUDGETS, VARIANT_NAMES, PROFILES)
    assert budgets["full"]["baseline"].min_accuracy >= 0.87


def test_valid_file(tmp_path) -> None:
    budgets = _load(tmp_path, "[full.distilled]\nmin_accuracy = 0.85\nmin_speedup = 2\n")
    assert budgets["full"]["distilled"] == Budget(min_accuracy=0.85, min_speedup=2.0)
    assert budgets["small"] == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[full.distiled]\nmin_accuracy = 0.8\n", r"\[full.distiled\]: unknown variant 'distiled'; did you mean 'distilled'"),
        ("[ful.baseline]\nmin_accuracy = 0.8\n", r"\[ful\] is not a profile; .*did you mean 'full'"),
        ("[full.baseline]\nmin_acuracy = 0.8\n", r"\[full.baseline\]: unknown key 'min_acuracy'; did you mean 'min_accuracy'"),
        ("[full.baseline]\nmin_accuracy = 'high'\n", r"min_accuracy must be a number, got 'high'"),
        ("[full.baseline]\nmin_speedup = -1\n", r"min_speedup must not be negative"),
        ("[full.baseline]\nmin_accuracy = 87\n", r"min_accuracy is a fraction in \[0, 1\]"),
        ("[full.baseline]\nmin_accuracy = true\n", r"must be a number, got True"),
        ("[full.baseline\n", r"not valid TOML"),
    ],
)
def test_malformed_budgets_fail_fast_naming_file_key_and_reason(tmp_path, text, message) -> None:
    with pytest.raises(BudgetError, match=message) as error:
        _load(tmp_path, text)
    assert "budgets.toml" in str(error.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(BudgetError, match="does not exist"):
        load_budgets(tmp_path / "nope.toml", ["baseline"], ["full"])


def test_violations_name_variant_figure_measured_and_limit() -> None:
    budget = Budget(min_accuracy=0.85, max_size_ratio=0.25, min_speedup=8, max_accuracy_drop=0.01)
    figures = {"accuracy": 0.84, "size_ratio": 0.2, "speedup": 9.5, "accuracy_drop": 0.038}
    violations = check_budget("distilled", budget, figures)
    assert [v.key for v in violations] == ["min_accuracy", "max_accuracy_drop"]
    text = str(violations[0])
    assert "'distilled'" in text and "accuracy = 0.84" in text and "min_accuracy" in text and "0.85" in text


def test_limits_are_inclusive_and_missing_figures_are_skipped() -> None:
    budget = Budget(min_accuracy=0.85, min_oos_recall=0.5)
    assert check_budget("v", budget, {"accuracy": 0.85, "oos_recall": float("nan")}) == []
