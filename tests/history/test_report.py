"""`compressors report`: the perf_metrics table, the accuracy-vs-latency chart and trends, from saved runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from saved_runs_support import make_run, write_run

from compressors.cli import main
from compressors.history.runs import GATE_KEY, load_run, load_runs, save_run
from compressors.history.changes import level_steps
from compressors.history.report import accuracy_vs_latency_figure, change_point_table, pareto_table, perf_table, write_report
from compressors.measure.figures import TABLE_COLUMNS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def storage(tmp_path):
    path = tmp_path / ".benchmarks"
    for index in (1, 2, 3):
        save_run({**make_run(index, slowdown={"student": 1 + 0.1 * index}), GATE_KEY: {"passed": True}}, path, f"run{index}")
    return path


def test_perf_table_has_the_books_columns_and_one_row_per_variant(tmp_path) -> None:
    data = make_run(1)
    table = perf_table(load_run(write_run(tmp_path / "run.json", data))).splitlines()
    assert table[0] == "| " + " | ".join(TABLE_COLUMNS) + " |"
    assert [row.split(" | ")[0] for row in table[2:]] == ["| baseline", "| student", "| distilled"]
    info = data["benchmarks"][2]["extra_info"]
    cells = table[4].strip("| ").split(" | ")
    assert cells == [
        "distilled", "0.8800", "n/a", "0.8900", "0.5000", "15.9", f"{info['p50_ms']:.2f}", f"{info['p90_ms']:.2f}",
        f"{info['p99_ms']:.2f}", f"{info['speedup']:.2f} [{info['speedup_low']:.2f}, {info['speedup_high']:.2f}]",
        "n/a", f"{info['p50_ratio']:.2f}", f"{info['size_ratio']:.3f}", "300",
    ]


def test_the_current_variant_is_ringed_and_bubble_area_follows_size(tmp_path) -> None:
    run = load_run(write_run(tmp_path / "run.json", make_run(1)))
    axes = accuracy_vs_latency_figure(run, "student").axes[0]
    rings = [c for c in axes.collections if c.get_facecolors().size == 0]
    bubbles = [c for c in axes.collections if c not in rings]
    areas = {c.get_label().split(" ")[0]: c.get_sizes()[0] for c in bubbles}
    assert areas["baseline"] / areas["student"] == pytest.approx(63.4 / 15.9)
    assert len(rings) == 1 and rings[0].get_linestyle()[0][1] is not None  # one hollow, dashed ring
    student = run.benchmarks["student"].extra_info
    assert tuple(rings[0].get_offsets()[0]) == pytest.approx((student["p50_ms"], 100 * student["accuracy"]))


def test_report_renders_table_chart_and_trend_from_saved_runs(tmp_path, storage, capsys) -> None:
    current = write_run(tmp_path / "current.json", make_run(4, slowdown={"distilled": 1.5}, knob=True))
    out = tmp_path / "report"
    assert main(["report", str(storage), str(current), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "report.md"), str(out / "accuracy_vs_latency.png"), str(out / "trend.png")]
    for png in ("accuracy_vs_latency.png", "trend.png"):
        assert (out / png).read_bytes().startswith(PNG_SIGNATURE) and (out / png).stat().st_size > 10_000
    text = (out / "report.md").read_text()
    assert "Run `current` of 2026-01-01T16:00:00 UTC, gate: slowed (test knob)" in text
    assert "![accuracy vs latency](accuracy_vs_latency.png)" in text and "## Trend across 4 run(s)" in text
    student = text.split("### student")[1].split("###")[0]
    assert [line.split(" | ")[2] for line in student.splitlines() if line.startswith("| 000") or line.startswith("| current")] == [
        "passed", "passed", "passed", "slowed (test knob)"
    ]
    assert list(out.iterdir()) and not [p for p in out.iterdir() if p.name.startswith(".")]


def test_trend_uses_only_runs_of_the_same_group(tmp_path, storage) -> None:
    other = make_run(0)
    for bench in other["benchmarks"]:
        bench["group"] = "full bs=1 threads=1"
    save_run(other, storage, "full")
    current = write_run(tmp_path / "current.json", make_run(5))
    files = write_report(load_runs([storage, current]), tmp_path / "out")
    assert "## Trend across 4 run(s)" in files.markdown.read_text()


def test_errors_exit_2(tmp_path, capsys) -> None:
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "no such run file" in capsys.readouterr().err
    current = write_run(tmp_path / "current.json", make_run(1))
    assert main(["report", str(current), "--out", str(tmp_path / "out"), "--current-variant", "distiled"]) == 2
    assert "'distiled' is not in current" in capsys.readouterr().err


def test_gate_and_report_import_no_heavy_library() -> None:
    code = (
        "import sys, compressors.history.gate, compressors.history.report, compressors.history.runs, compressors.history.rule, compressors.cli;"
        "print(','.join(m for m in ('matplotlib', 'scipy', 'torch', 'onnxruntime') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_pareto_table_marks_the_front_and_gives_each_variants_command(tmp_path) -> None:
    variants = {"baseline": (10.0, 0.88, 90.0), "fast": (1.0, 0.85, 9.0), "dominated": (5.0, 0.84, 20.0)}
    run = load_run(write_run(tmp_path / "run.json", make_run(1, variants=variants)))
    rows = {row.split(" | ")[0].strip("| "): row.strip("| ").split(" | ") for row in pareto_table(run).splitlines()[2:]}
    assert list(rows) == ["fast", "dominated", "baseline"]  # fastest first
    assert [rows[v][7] for v in rows] == ["yes", "", "yes"]
    profile = run.benchmarks["fast"].group.split(" ")[0]
    assert rows["fast"][8] == f'`pytest "benchmarks/test_variants.py::test_variant[fast]" --profile {profile}`'


def test_the_pareto_front_reads_paired_speed_ups_not_p50s_taken_minutes_apart(tmp_path) -> None:
    variants = {"baseline": (10.0, 0.88, 90.0), "fast": (1.0, 0.85, 9.0), "dominated": (5.0, 0.84, 20.0)}
    # The machine was idle while `dominated` was timed alone: its p50 looks 10x better, its paired ratios do not.
    run = load_run(write_run(tmp_path / "run.json", make_run(1, variants=variants, load={"dominated": 0.1})))
    assert run.benchmarks["dominated"].figures().p50_ms < run.benchmarks["fast"].figures().p50_ms
    rows = {row.split(" | ")[0].strip("| "): row.strip("| ").split(" | ") for row in pareto_table(run).splitlines()[2:]}
    assert list(rows) == ["fast", "dominated", "baseline"]
    assert rows["dominated"][7] == ""


def test_the_report_lists_each_change_point_with_its_runs_date_and_step(tmp_path) -> None:
    # distilled loses 3 points of accuracy from the 7th run on; its size grows by 10% from the 10th.
    runs = [
        {**make_run(i, accuracy_delta={"distilled": -0.03 if i >= 7 else 0.0}, size_scale={"distilled": 1.1 if i >= 10 else 1.0}),
         GATE_KEY: {"passed": True}}
        for i in range(1, 13)
    ]
    storage = tmp_path / ".benchmarks"
    for i, data in enumerate(runs, start=1):
        save_run(data, storage, f"run{i}")
    files = write_report(load_runs([storage]), tmp_path / "out")
    section = files.markdown.read_text().split("## Change points")[1]
    rows = [row.strip("| ").split(" | ") for row in section.splitlines() if row.startswith("| ") and not row.startswith("| variant")]
    by_figure = {(row[0], row[1]): row for row in rows}
    assert by_figure[("distilled", "accuracy")] == [
        "distilled", "accuracy", "0007_run7", "2026-01-01 19:00", "0006_run6", "0.88 -> 0.85", "-3.00 points (worse)"
    ]
    assert by_figure[("distilled", "in_scope_accuracy")][2] == "0007_run7"
    assert by_figure[("distilled", "size_mb")][2:] == ["0010_run10", "2026-01-01 22:00", "0009_run9", "15.9 -> 17.49", "x1.1000 (worse)"]
    # Unchanged figures have none.
    assert not [row for row in rows if row[0] in ("baseline", "student") and row[1] in ("accuracy", "size_mb")]


def test_a_short_history_says_change_points_are_not_looked_for_yet(tmp_path, storage) -> None:
    assert change_point_table(load_runs([storage])) == (
        "Change points need at least 8 runs of a figure; the longest series here has 3: none is looked for yet."
    )
    unchanged = [load_run(write_run(tmp_path / f"{i}.json", make_run(i))) for i in range(1, 9)]
    assert change_point_table(unchanged) == "No change point in any figure of any variant over 8 run(s)."


def test_level_steps_are_the_means_either_side_of_each_change_point() -> None:
    steps = level_steps([1.0, 1.0, 3.0, 3.0, 3.0, 0.0], [2, 5])
    assert [(s.index, s.before, s.after, s.size) for s in steps] == [(2, 1.0, 3.0, 2.0), (5, 3.0, 0.0, -3.0)]
    assert level_steps([1.0, 2.0], []) == []
