"""`compressors docs`: the repository's generated blocks match their committed runs; --check and --write."""

from __future__ import annotations

from pathlib import Path

import pytest
from saved_runs_support import make_run, write_run

from compressors.cli import main
from compressors.history.published import documents, find_blocks

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE = "docs/results/2026-01-01-ci/small.json"
TABLE = f"<!-- table: headline source={SOURCE} variants=baseline,distilled -->\n<!-- end table -->\n"


def test_every_generated_block_of_the_readme_and_docs_matches_its_committed_run(capsys) -> None:
    # A table whose run is not committed, or whose figures moved, fails here: run `compressors docs --write`.
    code = main(["docs", "--check", "--root", str(REPOSITORY)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err


def test_the_readme_publishes_the_budget_keys_and_a_headline_table() -> None:
    blocks = find_blocks((REPOSITORY / "README.md").read_text(encoding="utf8"), "README.md")
    assert {block.kind for block in blocks} == {"table", "budget-keys"}
    assert all(block.source.startswith("docs/results/") for block in blocks if block.kind == "table")
    assert REPOSITORY / "README.md" in documents(REPOSITORY)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_run(tmp_path / SOURCE, make_run(0))
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "README.md").write_text("# R\n\n" + TABLE)
    (tmp_path / "docs" / "method.md").write_text("# M\n\n<!-- budget-keys -->\n<!-- end budget-keys -->\n")
    return tmp_path


def test_check_names_each_stale_block_and_write_makes_them_match(root: Path, capsys) -> None:
    assert main(["docs", "--check", "--root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"stale: README.md:3: table 'headline' (from {SOURCE}); run `compressors docs --write`",
        "stale: docs/method.md:3: budget-keys; run `compressors docs --write`",
    ]
    assert main(["docs", "--write", "--root", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == ["rewrote README.md", "rewrote docs/method.md"]
    assert "| `distilled` | 0.8800 |" in (root / "README.md").read_text()
    assert main(["docs", "--check", "--root", str(root)]) == 0
    assert capsys.readouterr().out == "2 generated block(s) in 2 file(s) match their sources\n"


def test_a_table_whose_run_is_missing_fails_the_check_and_write_leaves_it(root: Path, capsys) -> None:
    (root / SOURCE).unlink()
    assert main(["docs", "--check", "--root", str(root), "README.md"]) == 1
    assert f"README.md:3: table 'headline': its run {SOURCE} does not exist" in capsys.readouterr().err
    before = (root / "README.md").read_text()
    assert main(["docs", "--write", "--root", str(root), "README.md"]) == 1
    assert (root / "README.md").read_text() == before


def test_usage_errors(root: Path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["docs", "--root", str(root)])
    assert caught.value.code == 2
    with pytest.raises(SystemExit):
        main(["docs", "--check", "--write"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["docs", "--check", "--root", str(root), "nowhere.md"]) == 2
    assert "no such file" in capsys.readouterr().err
