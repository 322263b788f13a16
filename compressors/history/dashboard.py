"""A static HTML dashboard of saved runs: one self-contained page, inline CSS, SVG and a little JS.

    compressors report .benchmarks --html site/

The page loads nothing (no CDN, no font, no data file), so it works opened from the file system,
as a CI artifact or on a published branch. It shows every run with its gate verdict; per variant
(and benchmark group) and figure, the series over the runs with each point coloured by its run's
verdict and the change points a finder reports; the newest run's Pareto front of accuracy,
speed-up and size; and the newest run's figures table. Every text taken from a run (variant
names, groups, run names, paths) is escaped; no run data reaches the script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path

from compressors.artifacts import write_atomic
from compressors.history.changes import change_points
from compressors.history.pareto import Point, pareto_front
from compressors.history.runs import HistoryError, SavedRun
from compressors.measure.figures import TABLE_COLUMNS, Figures, figures_table, format_number

# A change-point finder: a series' values, oldest first -> the indices at which a new level starts.
ChangeFinder = Callable[[Sequence[float]], Sequence[int]]

PAGE_NAME = "index.html"


@dataclass(frozen=True)
class Trend:
    """One figure drawn over the runs."""

    attribute: str  # of `Figures`
    title: str
    unit: Callable[[float], str]
    higher_is_better: bool
    log: bool = False  # a ratio: change points are looked for in its logarithm, as the gate does


TRENDS = (
    Trend("accuracy", "accuracy", lambda v: f"{v:.4f}", True),
    Trend("in_scope_accuracy", "in-scope accuracy", lambda v: f"{v:.4f}", True),
    Trend("oos_recall", "OOS recall", lambda v: f"{v:.4f}", True),
    Trend("speedup", "paired speed-up", lambda v: f"{v:.2f}\u00d7", True, log=True),
    Trend("cost_ratio", "cost ratio", lambda v: f"{v:.2f}\u00d7", True, log=True),
    Trend("instructions_per_query", "instructions / query", lambda v: _si(v), False, log=True),
    Trend("size_mb", "size", lambda v: f"{v:.1f} MB", False, log=True),
)

VERDICTS = {"passed": "gate passed", "failed": "gate failed", "knob": "slowed (test knob)", "none": "not gated"}


def verdict(run: SavedRun) -> str:
    """The gate's verdict on a run, a key of `VERDICTS`."""
    if run.passed:
        return "passed"
    if run.gate is not None:
        return "failed"
    return "knob" if run.test_slowdown else "none"


def write_dashboard(runs: list[SavedRun], out: Path, changes: ChangeFinder | None = change_points) -> Path:
    """Render `runs` (oldest first) as `out/index.html`, atomically; returns the page's path.

    Args:
        changes: finds the change points of one series (default: the gate's binary segmentation,
            which needs `changes.MIN_RUNS` runs of a series); None draws none.
    """
    if not runs:
        raise HistoryError("no saved runs to render a dashboard of")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page = out / PAGE_NAME
    write_atomic(page, render_dashboard(runs, changes).encode("utf8"))
    return page


def render_dashboard(runs: list[SavedRun], changes: ChangeFinder | None = change_points) -> str:
    """The dashboard of `runs` (oldest first) as one HTML document."""
    if not runs:
        raise HistoryError("no saved runs to render a dashboard of")
    current = runs[-1]
    machine = current.machine_info
    summary = (
        f"{len(runs)} run(s), newest <b>{escape(current.name)}</b> of {escape(current.data['datetime'][:19])} UTC "
        f"({escape(VERDICTS[verdict(current)])}) on {escape(str(machine.get('cpu_model', '?')))}, "
        f"{escape(str(machine.get('cpu_count', '?')))} CPU(s), {escape(str(machine.get('threads', '?')))} thread(s)"
    )
    body = "\n".join(
        [
            "<header><h1>Compressed classifiers: benchmark history</h1>",
            f"<p>{summary}</p>",
            '<label>variant filter <input id="filter" type="search" placeholder="part of a variant name" autocomplete="off"></label>',
            "</header>",
            _runs_section(runs),
            _trends_section(runs, changes),
            _pareto_section(current),
            _table_section(current),
        ]
    )
    return _PAGE.format(title=escape(f"benchmark history: {current.name}"), style=_STYLE, body=body, script=_SCRIPT)


def _runs_section(runs: list[SavedRun]) -> str:
    rows = []
    for index, run in enumerate(runs):
        commit = run.commit_info.get("id") or "unversioned"
        rows.append(
            f'<tr data-run="{index}"><td>{index}</td><td>{escape(run.name)}</td><td>{escape(run.data["datetime"][:16].replace("T", " "))}</td>'
            f'<td><span class="chip {verdict(run)}">{VERDICTS[verdict(run)]}</span></td><td>{escape(str(commit)[:12])}</td>'
            f'<td>{escape(", ".join(sorted(g or "no group" for g in run.groups)))}</td>'
            f'<td class="path" title="{escape(str(run.path))}">{escape(f"{run.path.parent.name}/{run.path.name}")}</td></tr>'
        )
    return (
        "<section><h2>Runs and the gate's verdicts</h2><table class=\"runs\"><thead><tr><th>#</th><th>run</th><th>date (UTC)</th>"
        "<th>gate</th><th>commit</th><th>benchmark groups</th><th>file</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _trends_section(runs: list[SavedRun], changes: ChangeFinder | None) -> str:
    """One row per variant and benchmark group (figures of two profiles are not one series), one chart per figure."""
    series: dict[tuple[str, str | None], list[tuple[int, Figures]]] = {}
    for index, run in enumerate(runs):
        for variant, bench in run.benchmarks.items():
            series.setdefault((variant, bench.group), []).append((index, bench.figures()))
    trends = [t for t in TRENDS if any(_finite(getattr(f, t.attribute)) for points in series.values() for _, f in points)]
    several_groups = len({group for _, group in series}) > 1
    verdicts = [verdict(run) for run in runs]
    head = "".join(f"<th>{escape(t.title)}<small>{'higher' if t.higher_is_better else 'lower'} is better</small></th>" for t in trends)
    rows = []
    for (variant, group), points in series.items():
        label = escape(variant) + (f"<small>{escape(group or 'no group')}</small>" if several_groups else "")
        cells = "".join(f"<td>{_chart(t, points, runs, verdicts, changes)}</td>" for t in trends)
        rows.append(f'<tr data-variant="{escape(variant)}"><th class="variant">{label}</th>{cells}</tr>')
    legend = " ".join(f'<span class="chip {key}">{text}</span>' for key, text in VERDICTS.items())
    change_note = (
        '<span class="change-key">dashed line: change point</span>' if changes is not None else "<span>change points: not computed</span>"
    )
    return (
        f"<section><h2>Figures over the runs</h2><p class=\"legend\">points: {legend} \u00b7 black ring: a budget broken \u00b7 "
        f"{change_note} \u00b7 speed-up bars: 95% interval</p>"
        f'<div class="scroll"><table class="trends"><thead><tr><th>variant</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>'
    )


_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 190, 84, 46, 8, 8, 8


def _chart(trend: Trend, points: list[tuple[int, Figures]], runs: list[SavedRun], verdicts: list[str], changes: ChangeFinder | None) -> str:
    """A small SVG of one figure of one series, with the last value above it."""
    values = [(i, f, getattr(f, trend.attribute)) for i, f in points if _finite(getattr(f, trend.attribute))]
    if not values:
        return '<span class="na">n/a</span>'
    bars = {i: (f.speedup_low, f.speedup_high) for i, f, _ in values if trend.attribute == "speedup" and _finite(f.speedup_low) and _finite(f.speedup_high)}
    every = [v for _, _, v in values] + [b for pair in bars.values() for b in pair]
    low, high = min(every), max(every)
    if high - low <= 1e-9 * max(1.0, abs(high)):
        pad = max(abs(high) * 0.01, 1e-6)
        low, high = low - pad, high + pad
    margin = (high - low) * 0.08
    low, high = low - margin, high + margin

    def x(index: int) -> float:
        span = _W - _LEFT - _RIGHT
        return _LEFT + (span / 2 if len(runs) == 1 else span * index / (len(runs) - 1))

    def y(value: float) -> float:
        return _TOP + (_H - _TOP - _BOTTOM) * (high - value) / (high - low)

    # A faint tick per run at the foot, so that runs a variant missed show as gaps.
    parts = [f'<line class="run-tick" x1="{x(i):.1f}" y1="{_H - 3}" x2="{x(i):.1f}" y2="{_H}"/>' for i in range(len(runs))]
    parts += [
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_H - _BOTTOM}"/>',
        f'<text class="tick" x="{_LEFT - 3}" y="{_TOP + 4}">{escape(trend.unit(high - margin))}</text>',
        f'<text class="tick" x="{_LEFT - 3}" y="{_H - _BOTTOM}">{escape(trend.unit(low + margin))}</text>',
    ]
    if changes is not None and len(values) > 1 and not (trend.log and any(v <= 0 for _, _, v in values)):
        series = [math.log(v) if trend.log else v for _, _, v in values]
        for k in sorted({int(k) for k in changes(series) if 0 < int(k) < len(values)}):
            (before, _, _), (at, _, _) = values[k - 1], values[k]
            cx = (x(before) + x(at)) / 2
            title = f"change point: a new level from run {runs[at].name} on"
            parts.append(f'<line class="change" x1="{cx:.1f}" y1="{_TOP}" x2="{cx:.1f}" y2="{_H - _BOTTOM}"><title>{escape(title)}</title></line>')
    for i, (low_i, high_i) in bars.items():
        parts.append(f'<line class="bar" x1="{x(i):.1f}" y1="{y(low_i):.1f}" x2="{x(i):.1f}" y2="{y(high_i):.1f}"/>')
    if len(values) > 1:
        parts.append('<polyline class="line" points="' + " ".join(f"{x(i):.1f},{y(v):.1f}" for i, _, v in values) + '"/>')
    for i, figures, value in values:
        broken = " broken" if figures.violations else ""
        title = f"{runs[i].name} ({runs[i].data['datetime'][:16].replace('T', ' ')}): {trend.unit(value)}, {VERDICTS[verdicts[i]]}"
        if i in bars:
            title += f"; 95% interval {trend.unit(bars[i][0])} to {trend.unit(bars[i][1])}"
        if figures.violations:
            title += "; budgets broken: " + "; ".join(figures.violations)
        parts.append(
            f'<circle class="pt {verdicts[i]}{broken}" data-run="{i}" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.2"><title>{escape(title)}</title></circle>'
        )
    last = values[-1][2]
    return (
        f'<div class="last">{escape(trend.unit(last))}</div>'
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{escape(trend.title)} over {len(values)} run(s)">{"".join(parts)}</svg>'
    )


def _front(run: SavedRun) -> tuple[dict[str, Figures], set[str], bool]:
    """The run's plottable variants, those on the Pareto front, and whether time is the paired speed-up.

    As in the Markdown report: time per query is 1 / the paired speed-up when every variant has
    one (plain p50s are taken minutes apart), else the p50.
    """
    figures = {variant: bench.figures() for variant, bench in run.benchmarks.items()}
    paired = all(_finite(f.speedup) and f.speedup > 0 for f in figures.values())
    points = {}
    for variant, f in figures.items():
        time = 1.0 / f.speedup if paired else f.p50_ms
        if all(_finite(v) for v in (f.accuracy, time, f.size_mb)) and time > 0:
            points[variant] = Point(variant, f.accuracy, time, f.size_mb)
    front = {p.name for p in pareto_front(list(points.values()))}
    return {v: figures[v] for v in points}, front, paired


def _pareto_section(run: SavedRun) -> str:
    plotted, front, paired = _front(run)
    heading = "<section><h2>Trade-off of the newest run: the Pareto front of accuracy, speed and size</h2>"
    if not plotted:
        return heading + "<p>No variant of this run has accuracy, time and size.</p></section>"
    width, height, left, right, top, bottom = 760, 360, 64, 150, 20, 46
    speed = {v: (f.speedup if paired else 1e3 / f.p50_ms) for v, f in plotted.items()}
    accuracy = {v: f.accuracy for v, f in plotted.items()}
    x_low, x_high = _padded(min(speed.values()), max(speed.values()), 0.12)
    y_low, y_high = _padded(min(accuracy.values()), max(accuracy.values()), 0.15)
    largest = max((f.size_mb for f in plotted.values()), default=1.0) or 1.0

    def x(value: float) -> float:
        return left + (width - left - right) * (value - x_low) / (x_high - x_low)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (y_high - value) / (y_high - y_low)

    x_label = "paired speed-up over the baseline (\u00d7)" if paired else "queries per second at batch size 1 (1000 / p50 ms)"
    parts = [
        f'<rect class="plot" x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}"/>',
        f'<text class="label" x="{(left + width - right) / 2}" y="{height - 8}">{x_label}</text>',
        f'<text class="label" transform="rotate(-90)" x="{-(top + height - bottom) / 2}" y="16">accuracy</text>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        xv, yv = x_low + (x_high - x_low) * fraction, y_low + (y_high - y_low) * fraction
        parts.append(f'<text class="tick" x="{x(xv):.1f}" y="{height - bottom + 14}" text-anchor="middle">{xv:.2f}</text>')
        parts.append(f'<text class="tick" x="{left - 4}" y="{y(yv) + 4:.1f}">{yv:.3f}</text>')
    # Draw the largest bubbles first so that small ones stay visible on top of them.
    for variant, f in sorted(plotted.items(), key=lambda item: -item[1].size_mb):
        radius = 5 + 25 * math.sqrt(max(f.size_mb, 0.0) / largest)  # area follows size
        on_front = variant in front
        title = (
            f"{variant}: accuracy {format_number(f.accuracy)}, speed {speed[variant]:.2f}, size {f.size_mb:.1f} MB"
            + ("; on the Pareto front" if on_front else "; dominated")
        )
        parts.append(
            f'<g class="bubble{" front" if on_front else ""}" data-variant="{escape(variant)}"><title>{escape(title)}</title>'
            f'<circle cx="{x(speed[variant]):.1f}" cy="{y(f.accuracy):.1f}" r="{radius:.1f}"/>'
            f'<text x="{x(speed[variant]) + radius + 3:.1f}" y="{y(f.accuracy) + 4:.1f}">{escape(variant)}</text></g>'
        )
    legend = (
        f'<g class="key" transform="translate({width - right + 14},{top + 10})">'
        '<circle class="front-key" cx="6" cy="0" r="6"/><text x="18" y="4">on the front</text>'
        '<circle class="dominated-key" cx="6" cy="22" r="6"/><text x="18" y="26">dominated</text>'
        '<text x="0" y="50">bubble area = size</text></g>'
    )
    names = ", ".join(escape(v) for v in plotted if v in front)
    return (
        heading
        + f"<p>A variant is on the front when no other variant is at least as accurate, as fast and as small, and better on one. "
        f"On the front: <b>{names}</b>.</p>"
        + f'<svg class="pareto" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="accuracy against speed, bubble area is size">{"".join(parts)}{legend}</svg></section>'
    )


def _table_section(run: SavedRun) -> str:
    """The newest run's figures table: the cells of `figures_table`, as HTML, plus front and budgets."""
    _, front, _ = _front(run)
    head = "".join(f"<th>{escape(c)}</th>" for c in (*TABLE_COLUMNS, "Pareto front", "budgets broken"))
    rows = []
    for variant, bench in run.benchmarks.items():
        figures = bench.figures()
        cells = [escape(variant), *(escape(c) for c in _table_cells(figures)[1:])]
        cells += ["yes" if variant in front else "", escape("; ".join(figures.violations)) or "none"]
        rows.append(f'<tr data-variant="{escape(variant)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<section><h2>Newest run: {escape(run.name)}</h2>"
        f'<div class="scroll"><table class="figures"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>'
    )


def _table_cells(figures: Figures) -> list[str]:
    """The cells of the figures table's row, formatted by `figures_table` itself.

    The variant is blanked before the Markdown is split on `|`, so a name holding one cannot shift
    the cells; the caller puts the name back.
    """
    row = figures_table([replace(figures, variant="")]).splitlines()[2]
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _padded(low: float, high: float, share: float) -> tuple[float, float]:
    if high - low <= 1e-9 * max(1.0, abs(high)):
        pad = max(abs(high) * 0.05, 1e-3)
        return low - pad, high + pad
    pad = (high - low) * share
    return low - pad, high + pad


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _si(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 24px 40px; color: #1d2330; background: #fafbfc; }
header { position: sticky; top: 0; background: #fafbfc; padding: 8px 0; border-bottom: 1px solid #dde1e7; z-index: 1; }
h1 { font-size: 20px; margin: 6px 0; } h2 { font-size: 16px; margin: 22px 0 8px; }
header p { margin: 4px 0 8px; } input { font: inherit; padding: 2px 6px; width: 16em; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #e3e6eb; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f0f2f5; font-weight: 600; position: sticky; top: 0; }
th small, .variant small { display: block; font-weight: normal; color: #6a7280; font-size: 11px; }
td.path { color: #6a7280; font-size: 12px; }
table.figures td { text-align: right; white-space: nowrap; }
table.figures td:first-child, table.figures td:last-child { text-align: left; }
table.trends td { padding: 2px 4px; } .variant { white-space: nowrap; font-weight: 600; }
.scroll { overflow-x: auto; }
.last { font-size: 12px; font-weight: 600; padding-left: 46px; }
.na { color: #9aa1ab; font-size: 12px; }
.chip { display: inline-block; white-space: nowrap; border-radius: 9px; padding: 0 8px; font-size: 12px; color: #fff; }
.chip.passed { background: #2e7d32; } .chip.failed { background: #c62828; }
.chip.knob { background: #ef6c00; } .chip.none { background: #8a939e; }
.legend { font-size: 12px; color: #4a5260; }
.change-key { border-bottom: 2px dashed #7b1fa2; }
svg text { font-size: 10px; fill: #4a5260; }
svg .tick { text-anchor: end; }
.chart .axis { stroke: #c4c9d1; } .chart .run-tick { stroke: #c4c9d1; }
table.runs td { white-space: nowrap; padding: 1px 8px; }
.chart .line { fill: none; stroke: #3b6fb6; stroke-width: 1.5; }
.chart .bar { stroke: #3b6fb6; stroke-opacity: 0.45; stroke-width: 3; }
.chart .change { stroke: #7b1fa2; stroke-width: 1.5; stroke-dasharray: 4 3; }
.pt { stroke: #fff; stroke-width: 1; }
.pt.passed { fill: #2e7d32; } .pt.failed { fill: #c62828; } .pt.knob { fill: #ef6c00; } .pt.none { fill: #8a939e; }
.pt.broken { stroke: #1d2330; stroke-width: 1.6; r: 4.4; }
.pt.hl { r: 5; stroke: #1d2330; } tr.hl td { background: #fff6d6; }
.pareto .plot { fill: #fff; stroke: #c4c9d1; }
.pareto .label { font-size: 12px; text-anchor: middle; }
.pareto .bubble circle { fill: #8a939e; fill-opacity: 0.35; stroke: #6a7280; }
.pareto .bubble.front circle, .front-key { fill: #3b6fb6; fill-opacity: 0.55; stroke: #1f4f91; }
.dominated-key { fill: #8a939e; fill-opacity: 0.35; stroke: #6a7280; }
.pareto .bubble text { font-size: 11px; fill: #1d2330; } .pareto .bubble.front text { font-weight: 600; }
.pareto .key text { font-size: 11px; }
.hidden { display: none; }
"""

# No run data reaches the script: it only reads the page's own (escaped) attributes.
_SCRIPT = """
"use strict";
(function () {
  var filter = document.getElementById("filter");
  filter.addEventListener("input", function () {
    var wanted = filter.value.trim().toLowerCase();
    document.querySelectorAll("[data-variant]").forEach(function (element) {
      var shown = wanted === "" || element.getAttribute("data-variant").toLowerCase().indexOf(wanted) !== -1;
      element.classList.toggle("hidden", !shown);
    });
  });
  function highlight(run, on) {
    document.querySelectorAll('[data-run="' + run + '"]').forEach(function (element) {
      element.classList.toggle("hl", on);
    });
  }
  document.addEventListener("mouseover", function (event) {
    var target = event.target.closest ? event.target.closest("[data-run]") : null;
    if (target) { highlight(target.getAttribute("data-run"), true); }
  });
  document.addEventListener("mouseout", function (event) {
    var target = event.target.closest ? event.target.closest("[data-run]") : null;
    if (target) { highlight(target.getAttribute("data-run"), false); }
  });
})();
"""
