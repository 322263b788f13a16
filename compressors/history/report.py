"""Reports of saved runs: a Markdown table, the accuracy-vs-latency chart, the Pareto front, trends
and change points.

The newest run given is the one tabulated and plotted (the book's `perf_metrics` table and
`plot_metrics` chart: bubble area = size, the current variant ringed); every run that shares a
benchmark group (profile, batch size, threads) with it forms the trend, and each figure of each
variant over those runs is searched for change points as the gate searches it (`changes.py`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compressors.artifacts import write_atomic
from compressors.history.changes import MIN_RUNS, change_points, level_steps
from compressors.history.drift import SERIES, series_values
from compressors.history.pareto import Point, pareto_front
from compressors.history.runs import HistoryError, SavedRun
from compressors.history.tolerances import GateTolerances
from compressors.measure.figures import figures_table, format_number, format_speedup

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Largest bubble, in points^2; other bubbles scale with size MB (area = size).
_MAX_BUBBLE = 2500.0


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    scatter: Path
    trend: Path


def perf_table(run: SavedRun) -> str:
    """The run's variants as a Markdown table, like the book's `perf_metrics`."""
    return figures_table([bench.figures() for bench in run.benchmarks.values()])


def pareto_table(run: SavedRun) -> str:
    """Every variant of the run with its trade-off, whether it is on the Pareto front of accuracy,
    time per query and size, and the command that rebuilds and measures it alone.

    Time is 1 / the paired speed-up (the baseline's time is 1) when every variant has one: plain
    p50s are taken minutes apart and drift with the machine. Older runs fall back to p50.
    """
    benches = {variant: (bench, bench.figures()) for variant, bench in run.benchmarks.items()}
    paired = all(not math.isnan(f.speedup) and f.speedup > 0 for _, f in benches.values())
    points, rows = [], {}
    for variant, (bench, figures) in benches.items():
        time = 1.0 / figures.speedup if paired else figures.p50_ms
        if not any(math.isnan(v) for v in (figures.accuracy, time, figures.size_mb)):
            points.append(Point(variant, figures.accuracy, time, figures.size_mb))
            rows[variant] = (bench, figures)
    front = {p.name for p in pareto_front(points)}
    lines = [
        "| variant | accuracy | in-scope | OOS recall | p50 ms | speedup (paired) | size MB | Pareto front | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for point in sorted(points, key=lambda p: p.time):
        bench, figures = rows[point.name]
        profile = (bench.group or "").split(" ")[0] or "full"
        lines.append(
            f"| {point.name} | {format_number(point.accuracy)} | {format_number(figures.in_scope_accuracy)} | "
            f"{format_number(figures.oos_recall)} | {figures.p50_ms:.2f} | {format_speedup(figures)} | {point.size_mb:.1f} | "
            f"{'yes' if point.name in front else ''} | `pytest \"{bench.fullname}\" --profile {profile}` |"
        )
    return "\n".join(lines)


def trend_tables(runs: list[SavedRun]) -> str:
    """For each variant, one row per run: gate status, accuracy, latency, speed-up, size, artifact."""
    variants = list(dict.fromkeys(v for run in runs for v in run.benchmarks))
    sections = []
    for variant in variants:
        lines = [
            f"### {variant}",
            "",
            "| run | date | gate | accuracy | p50 ms | speedup (paired) | size MB | artifact |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in runs:
            bench = run.benchmarks.get(variant)
            if bench is None:
                continue
            figures = bench.figures()
            lines.append(
                f"| {run.name} | {run.data['datetime'][:16].replace('T', ' ')} | {_status(run)} | {format_number(figures.accuracy)} | "
                f"{format_number(figures.p50_ms, '.2f')} | {format_speedup(figures)} | {format_number(figures.size_mb, '.1f')} | "
                f"{figures.artifact[:12] or 'n/a'} |"
            )
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def change_point_table(runs: list[SavedRun], tolerances: GateTolerances | None = None) -> str:
    """Every change point of every variant's figures over `runs` (oldest first), as a Markdown table.

    Each row names the run that starts the new level and the one before it, the new level's date,
    the two levels (segment means) and the step between them: in points for shares, as a factor
    for sizes, speed-ups and instruction counts (found in their logarithms, as the gate does).
    Wall-clock figures count only runs timed on a quiet machine (`tolerances.max_machine_load`) of
    the CPU of the newest run that has the variant.
    """
    if not runs:
        return "No run."
    tolerances = tolerances or GateTolerances()
    rows, longest = [], 0
    variants = list(dict.fromkeys(v for run in runs for v in run.benchmarks))
    for variant in variants:
        like = next(run for run in reversed(runs) if variant in run.benchmarks)
        for series in SERIES:
            points = series_values(runs, variant, series, like, tolerances)
            longest = max(longest, len(points))
            values = [math.log(v) if series.log else v for _, v in points]
            for step in level_steps(values, change_points(values)):
                before, at = points[step.index - 1][0], points[step.index][0]
                if series.log:
                    levels = f"{math.exp(step.before):.4g} -> {math.exp(step.after):.4g}"
                    size = f"x{math.exp(step.size):.4f}"
                else:
                    levels = f"{step.before:.4g} -> {step.after:.4g}"
                    size = f"{100 * step.size:+.2f} points"
                worse = " (worse)" if series.worse * step.size > 0 else ""
                rows.append(f"| {variant} | {series.figure} | {at.name} | {at.data['datetime'][:16].replace('T', ' ')} | "
                            f"{before.name} | {levels} | {size}{worse} |")
    if longest < MIN_RUNS:
        return (f"Change points need at least {MIN_RUNS} runs of a figure; the longest series here has {longest}: "
                "none is looked for yet.")
    if not rows:
        return f"No change point in any figure of any variant over {len(runs)} run(s)."
    head = ["| variant | figure | new level from run | date | after run | level before -> after | step |",
            "|---|---|---|---|---|---|---|"]
    return "\n".join(head + rows)


def accuracy_vs_latency_figure(run: SavedRun, current_variant: str) -> Figure:
    """The book's chart: p50 latency vs accuracy, bubble area = size, the current variant ringed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), dpi=120, layout="constrained")
    axes = figure.subplots()
    rows = {v: b.figures() for v, b in run.benchmarks.items()}
    rows = {v: f for v, f in rows.items() if not (math.isnan(f.p50_ms) or math.isnan(f.accuracy))}
    sizes = [0.0 if math.isnan(f.size_mb) else f.size_mb for f in rows.values()]
    scale = _MAX_BUBBLE / max(max(sizes, default=1.0), 1e-9)
    colours = _colours(len(rows))
    for (variant, f), size, colour in zip(rows.items(), sizes, colours):
        x, y, area = f.p50_ms, 100 * f.accuracy, max(size * scale, 20.0)
        axes.scatter([x], [y], s=area, alpha=0.5, color=colour, label=f"{variant} ({size:.1f} MB)")
        axes.annotate(variant, (x, y), xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=7)
        if variant == current_variant:
            axes.scatter([x], [y], s=area * 1.6, facecolors="none", edgecolors="black", linestyles="dashed", linewidths=1.5)
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), title="variant (bubble area = size)", fontsize=8)
    for handle in legend.legend_handles:
        handle.set_sizes([40])
    latencies = [f.p50_ms for f in rows.values()] or [1.0]
    axes.set_xlim(0, max(latencies) * 1.25)
    accuracies = [100 * f.accuracy for f in rows.values()] or [0.0]
    spread = max(max(accuracies) - min(accuracies), 2.0)
    axes.set_ylim(max(min(accuracies) - spread * 0.3, 0.0), min(max(accuracies) + spread * 0.3, 100.0))
    axes.set_xlabel("p50 latency, batch size 1 (ms)")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(f"run {_short(run, sep=' ')}: accuracy vs latency (dashed ring: {current_variant})", fontsize=10)
    axes.grid(alpha=0.3)
    return figure


def trend_figure(runs: list[SavedRun]) -> Figure:
    """Accuracy, p50 latency and the paired speed-up (what the gate compares) across runs."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 8), dpi=120, layout="constrained")
    panels = figure.subplots(3, 1, sharex=True)
    variants = list(dict.fromkeys(v for run in runs for v in run.benchmarks))
    for variant, colour in zip(variants, _colours(len(variants))):
        points = [(i, run.benchmarks[variant].figures()) for i, run in enumerate(runs) if variant in run.benchmarks]
        xs = [i for i, _ in points]
        for axes, key, scale in zip(panels, ("accuracy", "p50_ms", "speedup"), (100, 1, 1)):
            axes.plot(xs, [getattr(f, key) * scale for _, f in points], marker="o", color=colour, label=variant)
    for axes, label in zip(panels, ("accuracy (%)", "p50 latency (ms)", "paired speed-up\n(gated)")):
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    panels[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    panels[-1].set_xticks(range(len(runs)), [_short(run) + ("" if run.passed else f"\n{_status(run)}") for run in runs], rotation=30, ha="right", fontsize=8)
    panels[-1].set_xlabel("saved run")
    figure.suptitle(f"trend across {len(runs)} run(s)", fontsize=10)
    return figure


def write_report(runs: list[SavedRun], out: Path, current_variant: str | None = None) -> ReportFiles:
    """Render the newest of `runs` and the trend of the runs comparable with it into `out`."""
    if not runs:
        raise HistoryError("no saved runs to report on")
    current = runs[-1]
    history = [r for r in runs if r.groups & current.groups]
    variant = current_variant or list(current.benchmarks)[-1]
    if variant not in current.benchmarks:
        raise ValueError(f"--current-variant {variant!r} is not in {current.name}; it has {list(current.benchmarks)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "report.md", out / "accuracy_vs_latency.png", out / "trend.png")
    write_atomic(files.scatter, _png(accuracy_vs_latency_figure(current, variant)))
    write_atomic(files.trend, _png(trend_figure(history)))
    write_atomic(files.markdown, _markdown(current, history, files).encode())
    return files


def _markdown(current: SavedRun, history: list[SavedRun], files: ReportFiles) -> str:
    machine = current.machine_info
    groups = ", ".join(sorted(f"`{g}`" for g in current.groups if g))
    return "\n".join(
        [
            "# Benchmark report",
            "",
            f"Run `{current.name}` of {current.data['datetime'][:19]} UTC, gate: {_status(current)}; "
            f"{machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} CPU(s), "
            f"{machine.get('threads', '?')} thread(s); group {groups}.",
            "",
            perf_table(current),
            "",
            f"![accuracy vs latency]({files.scatter.name})",
            "",
            "## Trade-off: the Pareto front of accuracy, time per query (paired) and size",
            "",
            "A variant is on the front when no other variant is at least as accurate, as fast (paired speed-up) and as small,",
            "and better on one of the three.",
            "",
            pareto_table(current),
            "",
            f"## Trend across {len(history)} run(s)",
            "",
            f"![trend]({files.trend.name})",
            "",
            trend_tables(history),
            "",
            "## Change points",
            "",
            "Where each figure of each variant moved to a new level over these runs, and by how much (binary segmentation",
            "against the run-to-run noise, `compressors/history/changes.py`; the gate fails when the newest runs start a",
            "change beyond a figure's limit). Wall-clock figures count only runs timed on a quiet machine of this run's CPU.",
            "",
            change_point_table(history),
            "",
        ]
    )


def _status(run: SavedRun) -> str:
    if run.passed:
        return "passed"
    return "slowed (test knob)" if run.test_slowdown else "not gated"


def _short(run: SavedRun, sep: str = "\n") -> str:
    number = run.name.split("_", 1)[0]
    return f"{number if number.isdigit() else run.name[:10]}{sep}{run.data['datetime'][5:16].replace('T', ' ')}"


def _colours(count: int) -> list:
    from matplotlib import colormaps

    palette, size = (colormaps["tab10"], 10) if count <= 10 else (colormaps["tab20"], 20)
    return [palette(i % size) for i in range(count)]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
