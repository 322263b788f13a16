"""`compressors report`: saved runs -> a Markdown table, the accuracy-vs-latency chart and trends.

    compressors report .benchmarks reports/current.json --out reports/

The newest run given is the one tabulated and plotted (the book's `perf_metrics` table and
`plot_metrics` chart: bubble area = size, the current variant ringed); every run that shares a
benchmark group (profile, batch size, threads) with it forms the trend.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compressors.cli import add_subcommand
from compressors.history import HistoryError, SavedRun, load_runs, write_atomic
from compressors.pareto import Point, pareto_front
from compressors.regression import typical_ratio

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TABLE_COLUMNS = ("variant", "accuracy", "in-scope", "OOS recall", "size MB", "p50 ms", "p90 ms", "p99 ms", "speedup", "size ratio")
# Largest bubble, in points^2; other bubbles scale with size MB (area = size).
_MAX_BUBBLE = 2500.0


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    scatter: Path
    trend: Path


def perf_table(run: SavedRun) -> str:
    """The run's variants as a Markdown table, like the book's `perf_metrics`."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for variant, bench in run.benchmarks.items():
        info = bench.extra_info
        cells = [variant, _fmt(info.get("accuracy")), _fmt(info.get("in_scope_accuracy")), _fmt(info.get("oos_recall"))]
        cells += [_fmt(info.get("size_mb"), ".1f"), *(_fmt(info.get(k), ".2f") for k in ("p50_ms", "p90_ms", "p99_ms"))]
        cells += [_fmt(info.get("speedup"), ".2f"), _fmt(info.get("size_ratio"), ".3f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pareto_table(run: SavedRun) -> str:
    """Every variant of the run with its trade-off, whether it is on the Pareto front of accuracy,
    p50 latency and size, and the command that rebuilds and measures it alone."""
    points, rows = [], {}
    for variant, bench in run.benchmarks.items():
        info = bench.extra_info
        if all(isinstance(info.get(k), (int, float)) for k in ("accuracy", "p50_ms", "size_mb")):
            points.append(Point(variant, info["accuracy"], info["p50_ms"], info["size_mb"]))
            rows[variant] = bench
    front = {p.name for p in pareto_front(points)}
    lines = [
        "| variant | accuracy | in-scope | OOS recall | p50 ms | size MB | Pareto front | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for point in sorted(points, key=lambda p: p.p50_ms):
        bench = rows[point.name]
        info = bench.extra_info
        profile = (bench.group or "").split(" ")[0] or "full"
        lines.append(
            f"| {point.name} | {_fmt(point.accuracy)} | {_fmt(info.get('in_scope_accuracy'))} | {_fmt(info.get('oos_recall'))} | "
            f"{point.p50_ms:.2f} | {point.size_mb:.1f} | {'yes' if point.name in front else ''} | "
            f"`pytest \"{bench.fullname}\" --profile {profile}` |"
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
            "| run | date | gate | accuracy | p50 ms | speedup | size MB | artifact |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in runs:
            bench = run.benchmarks.get(variant)
            if bench is None:
                continue
            info = bench.extra_info
            lines.append(
                f"| {run.name} | {run.data['datetime'][:16].replace('T', ' ')} | {_status(run)} | {_fmt(info.get('accuracy'))} | "
                f"{_fmt(info.get('p50_ms'), '.2f')} | {_fmt(info.get('speedup'), '.2f')} | {_fmt(info.get('size_mb'), '.1f')} | "
                f"{str(info.get('artifact', 'n/a'))[:12]} |"
            )
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def accuracy_vs_latency_figure(run: SavedRun, current_variant: str) -> Figure:
    """The book's chart: p50 latency vs accuracy, bubble area = size, the current variant ringed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), dpi=120, layout="constrained")
    axes = figure.subplots()
    sizes = [b.extra_info.get("size_mb", 0.0) for b in run.benchmarks.values()]
    scale = _MAX_BUBBLE / max(max(sizes, default=1.0), 1e-9)
    colours = _colours(len(run.benchmarks))
    for (variant, bench), colour in zip(run.benchmarks.items(), colours):
        info = bench.extra_info
        x, y, area = info["p50_ms"], 100 * info["accuracy"], max(info.get("size_mb", 0.0) * scale, 20.0)
        axes.scatter([x], [y], s=area, alpha=0.5, color=colour, label=f"{variant} ({info.get('size_mb', 0):.1f} MB)")
        axes.annotate(variant, (x, y), xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=7)
        if variant == current_variant:
            axes.scatter([x], [y], s=area * 1.6, facecolors="none", edgecolors="black", linestyles="dashed", linewidths=1.5)
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), title="variant (bubble area = size)", fontsize=8)
    for handle in legend.legend_handles:
        handle.set_sizes([40])
    latencies = [b.extra_info["p50_ms"] for b in run.benchmarks.values()]
    axes.set_xlim(0, max(latencies) * 1.25)
    accuracies = [100 * b.extra_info["accuracy"] for b in run.benchmarks.values()]
    spread = max(max(accuracies) - min(accuracies), 2.0)
    axes.set_ylim(max(min(accuracies) - spread * 0.3, 0.0), min(max(accuracies) + spread * 0.3, 100.0))
    axes.set_xlabel("p50 latency, batch size 1 (ms)")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(f"run {_short(run, sep=' ')}: accuracy vs latency (dashed ring: {current_variant})", fontsize=10)
    axes.grid(alpha=0.3)
    return figure


def trend_figure(runs: list[SavedRun]) -> Figure:
    """Accuracy, p50 latency, speed-up and interleaved speed-up (what the gate compares) across runs."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 10), dpi=120, layout="constrained")
    panels = figure.subplots(4, 1, sharex=True)
    variants = list(dict.fromkeys(v for run in runs for v in run.benchmarks))
    for variant, colour in zip(variants, _colours(len(variants))):
        points = [(i, run.benchmarks[variant].extra_info) for i, run in enumerate(runs) if variant in run.benchmarks]
        xs = [i for i, _ in points]
        for axes, key, scale in zip(panels, ("accuracy", "p50_ms", "speedup"), (100, 1, 1)):
            axes.plot(xs, [info.get(key, math.nan) * scale for _, info in points], marker="o", color=colour, label=variant)
        interleaved = [(i, 1 / typical_ratio(info["control_ratios"])) for i, info in points if info.get("control_ratios")]
        if interleaved:
            panels[3].plot(*zip(*interleaved), marker="o", color=colour, label=variant)
    for axes, label in zip(panels, ("accuracy (%)", "p50 latency (ms)", "speedup vs baseline", "interleaved speedup\n(gated)")):
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "report", "Markdown table, accuracy-vs-latency chart and trends from saved runs", __doc__
    )
    parser.add_argument("sources", nargs="+", type=Path, help="saved run JSON files and/or pytest-benchmark storage directories")
    parser.add_argument("--out", type=Path, required=True, help="directory for report.md, accuracy_vs_latency.png and trend.png")
    parser.add_argument("--current-variant", help="the variant ringed in the chart (default: the last one in the run)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        files = write_report(load_runs(args.sources), args.out, args.current_variant)
    except (HistoryError, ValueError) as error:
        print(f"compressors report: error: {error}", file=sys.stderr)
        return 2
    for path in (files.markdown, files.scatter, files.trend):
        print(path)
    return 0


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
            "## Trade-off: the Pareto front of accuracy, p50 latency and size",
            "",
            "A variant is on the front when no other variant is at least as accurate, as fast and as small,",
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
        ]
    )


def _status(run: SavedRun) -> str:
    if run.passed:
        return "passed"
    return "slowed (test knob)" if run.test_slowdown else "not gated"


def _short(run: SavedRun, sep: str = "\n") -> str:
    number = run.name.split("_", 1)[0]
    return f"{number if number.isdigit() else run.name[:10]}{sep}{run.data['datetime'][5:16].replace('T', ' ')}"


def _fmt(value: object, spec: str = ".4f") -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "n/a"
    return format(value, spec)


def _colours(count: int) -> list:
    from matplotlib import colormaps

    palette, size = (colormaps["tab10"], 10) if count <= 10 else (colormaps["tab20"], 20)
    return [palette(i % size) for i in range(count)]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
