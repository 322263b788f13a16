"""The [search] table of a suite config: every key read, every problem one line naming the file and key."""

from __future__ import annotations

import pytest

from compressors.chains.config import SearchConfig, parse_duration, parse_search_table
from compressors.profiles import SMALL
from compressors.suite_config import load_suite_config


def test_the_search_table_sets_the_goal_the_run_and_the_space(tmp_path) -> None:
    path = tmp_path / "suite.toml"
    path.write_text('[search]\nmax_accuracy_drop = "1%"\nobjective = "both"\nspeed = "cost"\ntime_budget = "90m"\n'
                    'students = [[0, 5]]\nshapes = [[6, 512]]\noperators = [[], ["MatMul"]]\n')
    search = load_suite_config(SMALL, path).search
    assert (search.goal.max_accuracy_drop, search.goal.objective, search.speed, search.time_budget) == (0.01, "both", "cost", 5400)
    assert search.space.students == ((0, 5),) and search.space.shapes == ((6, 512),)
    assert search.space.operators == ((), ("MatMul",))


def test_without_a_search_table_the_defaults_hold(tmp_path) -> None:
    path = tmp_path / "suite.toml"
    path.write_text('[variants]\ninclude = ["baseline"]\n')
    assert load_suite_config(SMALL, path).search == SearchConfig()


@pytest.mark.parametrize("table, message", [
    ('max_accuracy_drop = "a bit"', "[search] max_accuracy_drop must be a fraction"),
    ('objective = "fast"', "[search] objective must be one of speed, size, both"),
    ('speed = "wall"', "[search] speed must be paired or cost"),
    ('time_budget = "soon"', "[search] time budget must be seconds"),
    ('objectve = "speed"', "[search] unknown key 'objectve'; did you mean 'objective'?"),
    ('quantizations = ["int4"]', "[search] the search space's quantizations ['int4'] are not among"),
])
def test_a_bad_search_table_is_refused_in_one_line_naming_the_file(tmp_path, table, message) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(f"[search]\n{table}\n")
    with pytest.raises(ValueError) as error:
        load_suite_config(SMALL, path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("text, seconds", [(5400, 5400), ("90m", 5400), ("2h", 7200), ("45s", 45), ("0", 0)])
def test_a_time_budget_reads_in_seconds_minutes_or_hours(text, seconds) -> None:
    assert parse_duration(text) == seconds


def test_a_table_that_is_not_a_table_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\[search\] must be a table"):
        parse_search_table(tmp_path / "x.toml", ["speed"])
