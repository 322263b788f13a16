"""The suite's pytest plugin, driven from the outside as pytest-benchmark tests its own: options,
usage errors on one line, one test per variant, and budget verdicts turned into outcomes."""

from __future__ import annotations

import pytest

from compressors.variants import VARIANT_NAMES

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")


@pytest.fixture()
def suite_dir(pytester):
    pytester.makeconftest('pytest_plugins = ("compressors.pytest_plugin",)\n')
    return pytester


def _one_line_usage_error(result, message: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--profile", "smal"], "unknown profile 'smal'; did you mean 'small'?*"),
        (["--threads", "0"], "--threads must be >= 1, got 0"),
        (["--device", "tpu"], "--device must be auto, cpu or cuda, got 'tpu'"),
        (["--budgets", "missing.toml"], "budgets file missing.toml does not exist"),
        (["--suite-config", "nope.toml"], "suite config nope.toml does not exist"),
    ],
)
def test_bad_options_stop_the_run_with_one_line(suite_dir, options, message) -> None:
    suite_dir.makepyfile("def test_nothing():\n    pass\n")
    _one_line_usage_error(suite_dir.runpytest_subprocess(*options), message)


def test_a_bad_budgets_file_names_file_table_and_key(suite_dir) -> None:
    suite_dir.makefile(".toml", budgets="[small.baseline]\nmin_acuracy = 0.5\n")
    suite_dir.makepyfile("def test_nothing():\n    pass\n")
    result = suite_dir.runpytest_subprocess("--profile", "small", "--budgets", "budgets.toml")
    _one_line_usage_error(result, "*budgets.toml: [[]small.baseline[]]: unknown key 'min_acuracy'; did you mean 'min_accuracy'?*")


def test_one_test_per_registered_variant_with_its_name_as_id(suite_dir) -> None:
    suite_dir.makepyfile(test_variants="def test_variant(variant):\n    pass\n")
    result = suite_dir.runpytest_subprocess("--profile", "small", "--collect-only", "-q")
    result.stdout.fnmatch_lines([f"test_variants.py::test_variant[[]{name}[]]" for name in VARIANT_NAMES])


VERDICTS = '''
import pytest
from compressors.measure.budgets import Budget, Shortfall, judge
from compressors.measure.figures import Figures
from compressors.pytest_plugin import enforce

PLAIN = Budget(max_accuracy_drop=0.005, min_speedup=12)
SHORT = Budget(max_accuracy_drop=0.005, min_speedup=12, shortfalls={"max_accuracy_drop": Shortfall(0.036, 0.005, "student")})

@pytest.mark.parametrize(("budget", "drop", "speedup"), [(PLAIN, 0.004, 15), (SHORT, 0.035, 15), (SHORT, 0.05, 15), (SHORT, 0.035, 6), (SHORT, 0.003, 15)],
                         ids=["met-budgets", "known-shortfall", "worse-shortfall", "shortfall-and-broken", "shortfall-met"])
def test_verdict(budget, drop, speedup):
    enforce(judge("frontier", budget, Figures("frontier", accuracy_drop=drop, speedup=speedup)))
'''


def test_budget_verdicts_become_pass_expected_failure_or_failure(suite_dir) -> None:
    suite_dir.makepyfile(test_verdicts=VERDICTS)
    result = suite_dir.runpytest_subprocess("--profile", "small", "-rx")
    result.assert_outcomes(passed=1, xfailed=1, failed=3)
    out = result.stdout.str()
    assert ("test_verdict[known-shortfall] - known shortfall: frontier: accuracy_drop target <= 0.005, "
            "reached 0.036 (margin 0.005), now 0.035: student") in out
    assert "accuracy_drop = 0.05 is worse than its known shortfall" in out
    assert "speedup = 6 breaks budget min_speedup (needs speedup >= 12)" in out
    assert "accuracy_drop = 0.003 meets budget max_accuracy_drop (<= 0.005) declared short: remove the shortfall" in out


@pytest.mark.parametrize(
    ("option", "worker"), [("--benchmark-disable", None), ("", "gw0")], ids=["benchmark-disable", "xdist-worker"]
)
def test_a_run_that_cannot_time_fails_before_building_and_says_why(suite_dir, monkeypatch, option, worker) -> None:
    # pytest-benchmark turns itself off in a pytest-xdist worker, which it recognises by this variable.
    if worker:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    else:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    suite_dir.makepyfile(
        "from compressors.pytest_plugin import require_timing\n"
        "def test_variant(benchmark):\n"
        "    require_timing(benchmark)\n"
        "    raise AssertionError('built')\n"
    )
    result = suite_dir.runpytest_subprocess("--profile", "small", *([option] if option else []))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pytest-benchmark is disabled in this run*run the suite without them*"])
    assert "built" not in result.stdout.str()
