"""`compressors seeds`: refusals before anything is built, and the table it prints."""

from __future__ import annotations

from compressors.cli import main
from compressors.commands.seeds import format_study


def test_fewer_than_two_seeds_or_an_unknown_variant_is_refused_in_one_line(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["seeds", "--seeds", "1", "--profile", "small", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "compressors seeds: error: --seeds must be at least 2 for a spread, got 1"
    assert main(["seeds", "--variants", "distiled", "--profile", "small", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown variant(s) ['distiled']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_study_prints_one_row_per_variant_and_figure_in_points() -> None:
    spread = {"mean": 0.9, "std": 0.01, "low": 0.89, "high": 0.91, "seeds": 3}
    study = {"variants": {"baseline": {"spread": {"accuracy": spread}}}}
    assert format_study(study).splitlines()[-1] == "| baseline | accuracy | 90.00 ± 1.00 (89.00-91.00, 3 seeds) |"
