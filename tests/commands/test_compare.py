"""The compare command: two cached models on the validation split, McNemar's test, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

from compressors.artifacts import ArtifactCache, Built
from compressors.cli import main
from compressors.commands.compare import format_comparison
from compressors.measure.significance import AnswerComparison


def cached_copy(directory: Path, cache: Path, tag: str) -> str:
    def build(out: Path) -> Built:
        for file in directory.iterdir():
            shutil.copy2(file, out / file.name)
        return Built("torch")

    return ArtifactCache(cache).get_or_build("source", {"dir": str(directory), "tag": tag}, build).key


def test_a_model_against_itself_gains_and_loses_nothing(tiny_checkpoint, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "cache"
    first, second = cached_copy(tiny_checkpoint, cache, "a"), cached_copy(tiny_checkpoint, cache, "b")
    assert main(["compare", "--profile", "small", "--cache-dir", str(cache), first, second]) == 0
    out = capsys.readouterr().out
    assert "validation, 755 queries | argmax | served" in out
    rows = [line for line in out.splitlines() if line.startswith("source-")]
    assert len(rows) == 2 and rows[0].split("|")[1:] == rows[1].split("|")[1:]
    assert "argmax: the second right where the first is wrong 0, the reverse 0; McNemar exact p = 1.000" in out
    assert "served: the second right where the first is wrong 0, the reverse 0" in out


def test_the_test_split_reports_the_same_comparison_with_in_scope_and_oos_figures(tiny_checkpoint, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "cache"
    first, second = cached_copy(tiny_checkpoint, cache, "a"), cached_copy(tiny_checkpoint, cache, "b")
    assert main(["compare", "--profile", "small", "--cache-dir", str(cache), "--split", "test", first, second]) == 0
    out = capsys.readouterr().out
    assert "test, 1,510 queries | argmax | served" in out
    reports = [line.split(" served: ")[1] for line in out.splitlines() if " served: in-scope accuracy " in line]
    assert len(reports) == 2 and reports[0] == reports[1]


def test_a_key_not_in_the_cache_exits_2_naming_it(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["compare", "--profile", "small", "--cache-dir", str(tmp_path), "distill-missing", "distill-other"])
    assert code == 2
    assert "'distill-missing' is not a valid artifact" in capsys.readouterr().err


def test_the_verdict_needs_the_second_ahead_and_p_below_0_05() -> None:
    accuracy = {(k, m): 0.9 for k in ("a", "b") for m in ("argmax", "served")}
    text = format_comparison(("a", "b"), accuracy, {"argmax": AnswerComparison(30, 10, 0.002), "served": AnswerComparison(10, 30, 0.002)}, 3100)
    assert "argmax: the second right where the first is wrong 30, the reverse 10; McNemar exact p = 0.002: the second is better beyond chance" in text
    assert "served: the second right where the first is wrong 10, the reverse 30; McNemar exact p = 0.002: the second is not better beyond chance" in text
