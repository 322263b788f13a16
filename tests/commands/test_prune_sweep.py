"""The prune-sweep command: argument parsing, the table and the plot (the builds are the prune step's),
and a point measured exactly as the suite measures a variant."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace

import pytest
from suite_support import PROFILE, FakeModel, fake_artifact, fake_suite
from tests_support import FakeClock

from compressors.cli import main
from compressors.commands.prune_sweep import (
    SweepPoint,
    format_sweep,
    parse_fractions,
    parse_methods,
    parse_shapes,
    shape_label,
    sweep_point,
    sweep_reference,
    write_sweep,
)
from compressors.measure.figures import Figures


def _point(method: str, target: str, sparsity: float, accuracy: float, oos: float, speedup: float) -> SweepPoint:
    figures = Figures(method, accuracy=accuracy, in_scope_accuracy=0.94, oos_recall=oos, size_bytes=(91.8 - 40 * sparsity) * 1e6,
                      speedup=speedup, speedup_low=speedup * 0.9, speedup_high=speedup * 1.1)
    return SweepPoint(method, target, sparsity, accuracy + 0.05, figures, 91.8)


POINTS = [
    _point("dense", "-", 0.0, 0.887, 0.40, 1.0),
    *(_point("magnitude", f"{s:.0%}", s, 0.88 - s / 10, 0.38, 1.0) for s in (0.5, 0.8, 0.9)),
    *(_point("movement", f"{s:.0%}", s, 0.87 - s / 8, math.nan, 1.0) for s in (0.5, 0.8, 0.9)),
    _point("structured", "6x768", 0.25, 0.87, 0.35, 1.5),
]


def test_table_has_one_row_per_point_dense_first() -> None:
    table = format_sweep(POINTS, "full", "baseline")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert len(rows) == 8
    assert rows[0].startswith("| dense | - | 0.0000 | 0.9370 | 0.8870 |")
    assert rows[2] == "| magnitude | 80% | 0.8000 | 0.8500 | 0.8000 | 0.9400 | 0.3800 | 59.8 | 91.8 | 1.00x [0.90, 1.10] |"
    assert "| n/a |" in rows[-2]
    assert rows[-1].endswith("| 1.50x [1.35, 1.65] |") and rows[-1].startswith("| structured | 6x768 | 0.2500 |")
    assert "against `baseline`" in table


def test_write_sweep_writes_the_table_and_a_png(tmp_path) -> None:
    markdown, plot = write_sweep(POINTS, tmp_path / "out", "small", "baseline")
    assert markdown.read_text() == format_sweep(POINTS, "small", "baseline")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["prune_sweep.md", "prune_sweep.png"]


def test_sparsities_and_methods_are_validated() -> None:
    assert parse_fractions("0.5, 0.8,0.9") == (0.5, 0.8, 0.9)
    with pytest.raises(argparse.ArgumentTypeError, match=r"fractions in \(0, 1\), got '50,80'"):
        parse_fractions("50,80")
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated fractions"):
        parse_fractions("half")
    assert parse_methods("movement,structured") == ("movement", "structured")
    with pytest.raises(argparse.ArgumentTypeError, match=r"among \('magnitude', 'movement', 'structured'\), got 'mag'"):
        parse_methods("mag")


def test_structured_shapes_are_heads_by_neurons_counts_or_fractions() -> None:
    assert parse_shapes("6x768, 0.5x0.25") == ((6, 768), (0.5, 0.25))
    assert shape_label(6, 768) == "6x768"
    for bad in ("6", "6x0", "sixx768", "6x768x2", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="HEADSxNEURONS|at least one shape"):
            parse_shapes(bad)


def test_the_cli_knows_the_subcommand_and_needs_an_output_directory(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["prune-sweep", "--profile", "small"])
    assert "--out" in capsys.readouterr().err


def test_unknown_profile_is_explained(tmp_path, capsys) -> None:
    assert main(["prune-sweep", "--profile", "smal", "--out", str(tmp_path)]) == 2
    assert "did you mean 'small'" in capsys.readouterr().err


def test_a_sweep_point_has_the_figures_the_suite_measures_for_the_same_artifact(tmp_path) -> None:
    from compressors.data import load_data

    clock = FakeClock()
    test = load_data(PROFILE.data)["test"]
    classes = len(test.features["intent"].names)
    truth = dict(zip(test["text"], test["intent"]))
    # Costs in powers of two keep the fake clock exact, so both timings agree to the last bit.
    pruned = FakeModel(clock, 2.0**-9, {**truth, test["text"][0]: (test["intent"][0] + 1) % classes}, classes)
    suite = fake_suite(tmp_path / "suite", {"baseline": (FakeModel(clock, 2.0**-8, truth, classes), 100), "pruned-magnitude": (pruned, 60)},
                       clock, load=0.05)
    assert sweep_reference(suite.profile) == "baseline"
    variant = suite.record("pruned-magnitude").figures  # latency timed as the sweep times it: no pytest-benchmark here
    suite.figures.clear()  # the sweep measures the baseline's p50 itself, as a run without the baseline's test does
    same = fake_artifact(tmp_path / "sweep", "pruned-magnitude", 60, sparsity=0.9)
    point = sweep_point(suite, "baseline", "magnitude", "90%", 0.9, same)
    expected = suite.record("pruned-magnitude").figures
    assert json.dumps(replace(point.figures, variant="pruned-magnitude", meta={}).to_extra_info(), sort_keys=True) == \
        json.dumps(replace(expected, meta={}).to_extra_info(), sort_keys=True)
    assert point.figures.speedup == pytest.approx(2.0) and point.figures.accuracy < 1.0 and variant.speedup == pytest.approx(2.0)
    assert point.figures.meta == {**expected.meta, "sparsity": 0.9}
    assert point.accuracy == point.figures.accuracy and point.size_mb == pytest.approx(60e-6)
