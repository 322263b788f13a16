"""Published tables: markers found, tables rendered from a saved run, stale and broken blocks named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from saved_runs_support import make_run, write_run

from compressors.history.published import BUDGET_KEYS, TABLE, DocsError, find_blocks, render_text
from compressors.history.runs import load_run
from compressors.measure.budgets import budget_keys_markdown
from compressors.measure.figures import Figures

SOURCE = "docs/results/2026-01-01-ci/small.json"


def document(body: str = "", variants: str = "baseline,distilled", source: str = SOURCE) -> str:
    return f"# Title\n\nBefore.\n\n<!-- table: headline source={source} variants={variants} -->\n{body}<!-- end table -->\n\nAfter.\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    run = make_run(0, machine={"suite": {"profile": "small"}})
    for bench in run["benchmarks"]:
        bench["extra_info"]["cost_ratio"] = {"baseline": 1.0, "student": 2.5, "distilled": 2.25}[bench["params"]["variant"]]
    write_run(tmp_path / SOURCE, run)
    return tmp_path


def test_a_table_is_rendered_from_its_run_with_its_date_machine_and_rows_in_the_order_asked(root: Path) -> None:
    rendered = render_text(document(variants="distilled,baseline"), root, "README.md")
    assert rendered.errors == ()
    assert rendered.stale == ("README.md:5: table 'headline' (from docs/results/2026-01-01-ci/small.json)",)
    lines = rendered.text.splitlines()
    assert lines[5] == (
        "Measured 2026-01-01 on AMD EPYC (2 cores; AVX2, AVX512F, AVX512-VNNI), 1 measuring thread, small profile, "
        "torch 2.13.0+cpu, onnxruntime 1.32.0. Source: `docs/results/2026-01-01-ci/small.json`."
    )
    assert lines[7] == ("| variant | accuracy | drop, points (paired 95% CI) | in-scope | OOS recall | size MB | size ratio "
                        "| speed-up (paired, 95% CI) | cost ratio |")
    distilled = load_run(root / SOURCE).benchmarks["distilled"].figures()
    cells = [cell.strip() for cell in lines[9].strip("|").split("|")]
    assert cells[:7] == ["`distilled`", "0.8800", "n/a", "0.8900", "0.5000", "15.9",
                         f"{distilled.size_ratio:.3f}"]
    assert cells[7] == f"{distilled.speedup:.2f} [{distilled.speedup_low:.2f}, {distilled.speedup_high:.2f}]"
    assert cells[8] == "2.25"
    assert lines[10].startswith("| `baseline` | 0.9000 |") and lines[10].endswith("| 1.00 [1.00, 1.00] | 1.00 |")
    assert lines[11] == "<!-- end table -->" and lines[:5] == document(variants="distilled,baseline").splitlines()[:5] and lines[-1] == "After."


def test_a_rendered_document_is_no_longer_stale_and_rendering_again_changes_nothing(root: Path) -> None:
    once = render_text(document(), root).text
    again = render_text(once, root)
    assert again.text == once and again.stale == () and again.errors == ()


def test_a_changed_figure_in_the_run_makes_the_table_stale(root: Path) -> None:
    once = render_text(document(), root).text
    data = json.loads((root / SOURCE).read_text())
    data["benchmarks"][2]["extra_info"]["accuracy"] = 0.8799
    write_run(root / SOURCE, data)
    again = render_text(once, root, "README.md")
    assert again.stale == ("README.md:5: table 'headline' (from docs/results/2026-01-01-ci/small.json)",)
    assert "| `distilled` | 0.8799 |" in again.text and "| `distilled` | 0.8800 |" in once


def test_a_hand_edited_cell_is_stale(root: Path) -> None:
    once = render_text(document(), root).text
    assert render_text(once.replace("| `baseline` | 0.9000 |", "| `baseline` | 0.9100 |"), root).stale != ()


def test_a_missing_figure_is_shown_as_n_a_not_invented(root: Path) -> None:
    data = json.loads((root / SOURCE).read_text())
    del data["benchmarks"][0]["extra_info"]["cost_ratio"]
    write_run(root / SOURCE, data)
    text = render_text(document(variants="baseline"), root).text
    assert "| `baseline` | 0.9000 | n/a | 0.9100 | 0.5000 | 63.4 | 1.000 | 1.00 [1.00, 1.00] | n/a |" in text


def test_a_missing_run_is_an_error_naming_the_file_the_line_and_the_path_and_the_text_is_kept(root: Path) -> None:
    text = document(body="old\n", source="docs/results/nowhere/small.json")
    rendered = render_text(text, root, "README.md")
    assert rendered.text == text and rendered.stale == ()
    assert rendered.errors == (
        "README.md:5: table 'headline': its run docs/results/nowhere/small.json does not exist: commit the run, or point the table at one",
    )


def test_a_variant_the_run_lacks_is_an_error_naming_it(root: Path) -> None:
    (error,) = render_text(document(variants="baseline,frontier"), root, "d.md").errors
    assert error == f"d.md:5: table 'headline': {SOURCE} has no variant 'frontier'; it holds baseline, student, distilled"


def test_the_budget_keys_block_is_the_table_of_limits(root: Path) -> None:
    text = "Keys:\n<!-- budget-keys -->\n- `min_accuracy`: typed by hand\n<!-- end budget-keys -->\n"
    rendered = render_text(text, root, "README.md")
    assert rendered.stale == ("README.md:2: budget-keys",)
    assert rendered.text == f"Keys:\n<!-- budget-keys -->\n{budget_keys_markdown()}\n<!-- end budget-keys -->\n"
    assert render_text(rendered.text, root).stale == ()


def test_blocks_are_found_with_their_lines_options_and_bodies() -> None:
    text = document(body="a\nb\n") + "<!-- budget-keys -->\n<!-- end budget-keys -->\n"
    table, keys = find_blocks(text)
    assert (table.kind, table.name, table.line, table.source, table.variants) == (TABLE, "headline", 5, SOURCE, ("baseline", "distilled"))
    assert text.splitlines()[table.first:table.last] == ["a", "b"]
    assert (keys.kind, keys.line, keys.first, keys.last) == (BUDGET_KEYS, 11, 11, 11)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- table: t source=a.json variants=baseline -->\nbody\n", "<!-- end table -->' before any other marker"),
        ("<!-- table: t source=a.json variants=baseline -->\n<!-- budget-keys -->\n<!-- end budget-keys -->\n<!-- end table -->\n",
         "needs '<!-- end table -->' before any other marker"),
        ("<!-- table: t source=a.json -->\n<!-- end table -->\n", "table 't' needs variants"),
        ("<!-- table: t variants=baseline -->\n<!-- end table -->\n", "table 't' needs source"),
        ("<!-- table: t source=a.json variants=baseline colour=red -->\n<!-- end table -->\n", "unknown option 'colour'"),
        ("<!-- end table -->\n", "unexpected or malformed marker '<!-- end table -->'"),
        ("<!-- table:headline source=a.json variants=baseline -->\n<!-- end table -->\n", "malformed marker"),
    ],
)
def test_bad_markers_are_errors_naming_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DocsError, match="^doc.md:1: ") as caught:
        find_blocks(text, "doc.md")
    assert message in str(caught.value)
    assert render_text(text, Path("."), "doc.md").errors == (str(caught.value),)


def test_markers_inside_a_fenced_code_block_are_examples_not_blocks(root: Path) -> None:
    example = "```markdown\n<!-- table: t source=nowhere.json variants=baseline -->\n<!-- end table -->\n```\n"
    text = example + document()
    (table,) = find_blocks(text)
    assert table.line == 9 and table.source == SOURCE
    rendered = render_text(text, root)
    assert rendered.errors == () and rendered.text.startswith(example)


def test_text_without_blocks_is_left_as_it_is(tmp_path: Path) -> None:
    text = "# A\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    rendered = render_text(text, tmp_path)
    assert (rendered.text, rendered.stale, rendered.errors) == (text, (), ())


def test_figures_of_the_run_are_the_suite_s_typed_record(root: Path) -> None:
    bench = load_run(root / SOURCE).benchmarks["distilled"]
    assert bench.figures() == Figures.from_extra_info("distilled", bench.extra_info)


def test_a_seed_study_renders_each_variants_spread_in_points(root: Path) -> None:
    spread = {"mean": 0.9, "std": 0.01, "low": 0.89, "high": 0.91, "seeds": 3}
    figures = {"accuracy": spread, "in_scope_accuracy": spread, "oos_recall": spread, "validation_accuracy": spread}
    study = {"profile": "full", "date": "2026-12-05", "machine": {"cpu": "AMD EPYC"},
             "variants": {"baseline": {"seeds": {"42": {}, "43": {}, "44": {}}, "spread": figures}}}
    (root / "docs/results/seeds.json").write_text(json.dumps(study))
    rendered = render_text(document(variants="baseline", source="docs/results/seeds.json"), root, "README.md")
    assert rendered.errors == ()
    lines = rendered.text.splitlines()
    assert lines[5].startswith("Seeds 42, 43, 44, full profile, measured 2026-12-05 on AMD EPYC; in points")
    assert lines[9] == "| `baseline` |" + " 90.00 ± 1.00 (89.00-91.00, 3 seeds) |" * 4
    missing = render_text(document(variants="distilled", source="docs/results/seeds.json"), root, "README.md")
    assert "has no variant 'distilled'; it holds baseline" in missing.errors[0]
