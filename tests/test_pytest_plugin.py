"""The suite's pytest plugin, driven from the outside as pytest-benchmark tests its own: options,
usage errors on one line, one test per variant, budget verdicts turned into outcomes, live progress."""

from __future__ import annotations

import os
import subprocess
import sys

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
        (["--inject-regression", "distiled=1.5"], "--inject-regression / $COMPRESSORS_TEST_SLOWDOWN: 'distiled=1.5': "
         "unknown variant 'distiled'; did you mean 'distilled'*"),
        (["--inject-regression", "distilled=0.5"], "*'distilled=0.5': the factor must be in [[]1, 100), e.g. 1.25*"),
        (["--inject-regression", "distilled"], "*'distilled': could not convert*"),
    ],
)
def test_bad_options_stop_the_run_with_one_line(suite_dir, options, message) -> None:
    suite_dir.makepyfile("def test_nothing():\n    pass\n")
    _one_line_usage_error(suite_dir.runpytest_subprocess(*options), message)


def test_the_regression_knob_defaults_to_the_environment_variable(suite_dir, monkeypatch) -> None:
    monkeypatch.setenv("COMPRESSORS_TEST_SLOWDOWN", "student=nope")
    suite_dir.makepyfile("def test_nothing():\n    pass\n")
    _one_line_usage_error(suite_dir.runpytest_subprocess("--profile", "small"), "*'student=nope': could not convert*")


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

@pytest.mark.parametrize(("budget", "drop", "speedup", "load"),
                         [(PLAIN, 0.004, 15, 0.0), (SHORT, 0.035, 15, 0.0), (SHORT, 0.05, 15, 0.0), (SHORT, 0.035, 6, 0.0),
                          (SHORT, 0.003, 15, 0.0), (PLAIN, 0.004, 6, 0.6)],
                         ids=["met-budgets", "known-shortfall", "worse-shortfall", "shortfall-and-broken", "shortfall-met",
                              "busy-machine"])
def test_verdict(budget, drop, speedup, load):
    figures = Figures("frontier", accuracy_drop=drop, speedup=speedup, paired_ratios=(1 / speedup,) * 2, machine_load=load)
    enforce(judge("frontier", budget, figures))
'''


def test_budget_verdicts_become_pass_expected_failure_or_failure(suite_dir) -> None:
    suite_dir.makepyfile(test_verdicts=VERDICTS)
    result = suite_dir.runpytest_subprocess("--profile", "small", "-rx")
    result.assert_outcomes(passed=2, xfailed=1, failed=3)  # inconclusive on a busy machine: neither fails nor xfails
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


PROGRESS = """
import logging
import time
from pathlib import Path

from compressors.artifacts import ArtifactCache, Built
from compressors.pytest_plugin import _show_progress


def test_a_long_build(pytestconfig, tmp_path):
    _show_progress(pytestconfig)  # as the suite fixture does
    go = Path({go!r})

    def build(out):
        deadline = time.monotonic() + 120  # a generous bound: on a loaded machine the reader may start late
        while not go.exists():  # the reader creates it once it has seen the progress line
            assert time.monotonic() < deadline, "the progress line did not reach the pipe while the build ran"
            time.sleep(0.05)
        (out / "value.txt").write_text("built")
        return Built("text")

    ArtifactCache(tmp_path / "cache").get_or_build("slow-step", {{"x": 1}}, build)
"""


def test_progress_lines_reach_a_pipe_while_the_build_runs(pytester) -> None:
    pytester.makeconftest('pytest_plugins = ("compressors.pytest_plugin",)\n')
    go = pytester.path / "go"
    pytester.makepyfile(test_progress=PROGRESS.format(go=str(go)))
    # As under tox: a pipe, block-buffered (tox passes no PYTHONUNBUFFERED).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    process = subprocess.Popen([sys.executable, "-m", "pytest", "--profile", "small", "-p", "no:cacheprovider", "-q"],
                               cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if "building slow-step-" in line:
                go.touch()
                break
        rest = process.communicate(timeout=180)[0]
    finally:
        process.kill()
    assert go.exists(), "".join(seen)[-3000:]
    assert process.returncode == 0 and "1 passed" in rest, "".join(seen) + rest


def test_an_inconclusive_verdict_is_listed_with_the_load_it_was_timed_under() -> None:
    from compressors.measure.figures import CheckRecord
    from compressors.pytest_plugin import inconclusive_line

    check = CheckRecord("min_speedup", "speedup", 3.0, 2.5, "inconclusive")
    assert inconclusive_line("distilled", check, 0.42) == (
        "distilled: speedup = 2.5, budget min_speedup (>= 3): others used 42% of the CPU time")
    assert "others used an unknown share of the CPU time" in inconclusive_line("distilled", check, float("nan"))
