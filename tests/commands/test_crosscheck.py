"""The crosscheck command: ABBA pairs of processes, the comparison with the suite, its exit codes
(the child processes are replaced by a fake timer; they run the suite's own predictor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressors.cli import main
from compressors.commands import crosscheck as command
from compressors.commands.crosscheck import crosscheck
from saved_runs_support import make_run, write_run

MEDIAN_SECONDS = {"baseline": 0.010, "student": 0.005, "distilled": 0.004}


def test_processes_alternate_baseline_and_variant_in_abba_order() -> None:
    order = []

    def timer(name: str) -> float:
        order.append(name)
        return MEDIAN_SECONDS[name]

    crosscheck("student", {"student": 2.0}, timer, pairs=4)
    assert order == ["baseline", "student", "student", "baseline", "baseline", "student", "student", "baseline"]


def test_a_drift_between_pairs_cancels_in_each_ratio() -> None:
    calls = []

    def drifting(name: str) -> float:
        calls.append(name)
        return MEDIAN_SECONDS[name] * (1 + (len(calls) - 1) // 2)  # each pair twice as slow as the one before

    result = crosscheck("distilled", {"distilled": 2.5}, drifting, pairs=6)
    assert result.separate.estimate == pytest.approx(2.5)
    assert result.difference == pytest.approx(0.0)


def test_the_difference_is_relative_to_the_suites_figure() -> None:
    result = crosscheck("student", {"student": 1.6}, MEDIAN_SECONDS.__getitem__, pairs=2)
    assert result.difference == pytest.approx(2.0 / 1.6 - 1)
    assert "separate processes 2.00x" in result.line() and "suite paired 1.60x" in result.line()


def test_a_variant_without_a_paired_figure_is_named() -> None:
    with pytest.raises(ValueError, match="'frontier' has no paired speed-up in the run"):
        crosscheck("frontier", {"student": 2.0}, MEDIAN_SECONDS.__getitem__, pairs=2)
    with pytest.raises(ValueError, match="--pairs"):
        crosscheck("student", {"student": 2.0}, MEDIAN_SECONDS.__getitem__, pairs=1)


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: dict[str, float], *extra: str) -> int:
    monkeypatch.setattr(command, "_time_in_child", lambda name, profile, args: seconds[name])
    saved = write_run(tmp_path / "run.json", make_run(0))
    return main(["crosscheck", "--run", str(saved), "--pairs", "2", *extra])


def test_exit_0_when_every_variant_agrees(tmp_path, monkeypatch, capsys) -> None:
    from compressors.history.runs import load_run

    saved = load_run(write_run(tmp_path / "reference.json", make_run(0)))
    suite = {name: b.extra_info["speedup"] for name, b in saved.benchmarks.items()}
    seconds = {"baseline": 0.01, **{name: 0.01 / speedup for name, speedup in suite.items() if name != "baseline"}}
    assert _run(tmp_path, monkeypatch, seconds) == 0
    assert "every variant agrees" in capsys.readouterr().out


def test_exit_1_names_the_variant_that_disagrees(tmp_path, monkeypatch, capsys) -> None:
    assert _run(tmp_path, monkeypatch, {"baseline": 0.01, "student": 0.001, "distilled": 0.005}, "--variants", "student") == 1
    assert "differ from the suite by more than 15%: student" in capsys.readouterr().out


def test_exit_2_without_a_run(capsys) -> None:
    assert main(["crosscheck"]) == 2
    assert "--run is required" in capsys.readouterr().err
