"""`compressors budgets --from run.json`: a first run becomes the user's own budgets, and gates their second run."""

from __future__ import annotations


import pytest
from saved_runs_support import make_run, write_run

from compressors.cli import main
from compressors.history.first_budgets import Margins, limits_from_figures
from compressors.history.runs import load_run
from compressors.measure.budgets import load_budgets
from compressors.measure.figures import Figures

TWO = {"baseline": (6.0, 0.90, 63.4), "distilled": (3.0, 0.88, 15.9)}


def test_limits_sit_one_margin_from_the_measured_figures() -> None:
    figures = Figures("distilled", accuracy=0.88, size_bytes=15.9e6, size_ratio=0.25, speedup=2.0, speedup_low=1.9,
                      accuracy_drop=0.02, instructions_per_query=1e9, cost_ratio=4.0, p50_ms=3.0)
    limits = limits_from_figures(figures, Margins(margin=0.1, drop_margin=0.01))
    assert limits == {
        "min_accuracy": 0.87, "max_accuracy_drop": 0.03, "max_size_mb": pytest.approx(17.49), "max_size_ratio": 0.275,
        "min_cost_ratio": 3.6, "max_instructions_per_query": 1.1e9, "min_speedup": 1.71,
    }
    assert "max_p50_ms" not in limits  # one host's timing


def test_the_baseline_gets_no_limits_relative_to_itself() -> None:
    limits = limits_from_figures(Figures("baseline", accuracy=0.9, speedup=1.0, size_ratio=1.0), Margins())
    assert limits == {"min_accuracy": 0.89}


@pytest.mark.parametrize(("margin", "message"), [(-0.1, "--margin must be a number in"), (1.5, "--margin must be a number in")])
def test_bad_margins_are_named(margin, message) -> None:
    with pytest.raises(ValueError, match=message):
        Margins(margin=margin)


def test_a_first_run_becomes_budgets_that_gate_the_second(tmp_path, capsys) -> None:
    first = write_run(tmp_path / "first.json", make_run(1, variants=TWO))
    out = tmp_path / "mine" / "budgets.toml"
    assert main(["budgets", "--from", str(first), "--out", str(out), "--margin", "0.1", "--drop-margin", "0.01"]) == 0
    budgets = load_budgets(out, list(TWO), ["small"])["small"]
    measured = load_run(first).benchmarks["distilled"].figures()
    assert budgets["distilled"].values["min_accuracy"] == pytest.approx(0.87)
    assert budgets["distilled"].values["min_speedup"] == pytest.approx(round(measured.speedup_low * 0.9, 6), rel=1e-5)
    assert "# measured 0.88" in out.read_text()
    storage = tmp_path / ".benchmarks"
    second = write_run(tmp_path / "second.json", make_run(2, variants=TWO))
    assert main(["gate", str(second), "--storage", str(storage), "--budgets", str(out)]) == 0
    worse = write_run(tmp_path / "worse.json", make_run(3, variants=TWO, accuracy_delta={"distilled": -0.03}))
    assert main(["gate", str(worse), "--storage", str(storage), "--budgets", str(out)]) == 1
    assert "variant 'distilled': accuracy = 0.85 breaks budget min_accuracy (needs accuracy >= 0.87)" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, capsys) -> None:
    first = write_run(tmp_path / "first.json", make_run(1, variants=TWO))
    out = tmp_path / "budgets.toml"
    out.write_text("")
    assert main(["budgets", "--from", str(first), "--out", str(out)]) == 2
    assert "budgets.toml exists; pass --force" in capsys.readouterr().err
    assert main(["budgets", "--from", str(tmp_path / "nope.json"), "--out", str(tmp_path / "b.toml")]) == 2
    assert "nope.json does not exist" in capsys.readouterr().err
