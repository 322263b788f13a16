"""The prune-sweep command: argument parsing, the table and the plot (the builds are the prune step's)."""

from __future__ import annotations

import argparse
import math

import pytest

from compressors.cli import main
from compressors.commands.prune_sweep import SweepPoint, format_sweep, parse_fractions, parse_methods, write_sweep

POINTS = [
    SweepPoint("dense", 0.0, 0.0, 0.887, 0.95, 0.40, 91.8, 91.8),
    *(SweepPoint("magnitude", s, s, 0.88 - s / 10, 0.94, 0.38, 91.8 - 40 * s, 91.8) for s in (0.5, 0.8, 0.9)),
    *(SweepPoint("movement", s, s, 0.87 - s / 8, 0.93, math.nan, 91.8 - 40 * s, 91.8) for s in (0.5, 0.8, 0.9)),
]


def test_table_has_one_row_per_point_dense_first() -> None:
    table = format_sweep(POINTS, "full", "baseline")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert len(rows) == 7
    assert rows[0].startswith("| dense | 0% | 0.0000 | 0.8870 |")
    assert rows[2] == "| magnitude | 80% | 0.8000 | 0.8000 | 0.9400 | 0.3800 | 59.8 | 91.8 |"
    assert "| n/a |" in rows[-1]
    assert "pruned from `baseline`" in table


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
    assert parse_methods("movement") == ("movement",)
    with pytest.raises(argparse.ArgumentTypeError, match=r"among \('magnitude', 'movement'\), got 'mag'"):
        parse_methods("mag")


def test_the_cli_knows_the_subcommand_and_needs_an_output_directory(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["prune-sweep", "--profile", "small"])
    assert "--out" in capsys.readouterr().err


def test_unknown_profile_is_explained(tmp_path, capsys) -> None:
    assert main(["prune-sweep", "--profile", "smal", "--out", str(tmp_path)]) == 2
    assert "did you mean 'small'" in capsys.readouterr().err
