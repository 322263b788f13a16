"""`compressors report`: saved runs -> a Markdown table, the accuracy-vs-latency chart and trends, or an HTML dashboard.

    compressors report .benchmarks reports/current.json --out reports/
    compressors report .benchmarks --html site/

--out writes report.md, accuracy_vs_latency.png and trend.png; --html writes index.html, one
self-contained page (gate verdicts, every variant's figures over the runs, the Pareto front and
the newest run's table) that works opened from the file system. Prints the paths written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressors.history.dashboard import write_dashboard
from compressors.history.report import write_report
from compressors.history.runs import HistoryError, load_runs

NAME = "report"
SUMMARY = "Markdown table, charts, Pareto front and trends from saved runs; or a static HTML dashboard"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, help="saved run JSON files and/or pytest-benchmark storage directories")
    parser.add_argument("--out", type=Path, help="directory for report.md, accuracy_vs_latency.png and trend.png")
    parser.add_argument("--html", type=Path, metavar="DIR", help="directory for index.html, a self-contained dashboard of every run")
    parser.add_argument("--current-variant", help="the variant ringed in the chart (default: the last one in the run)")


def run(args: argparse.Namespace) -> int:
    if args.out is None and args.html is None:
        print("compressors report: error: give --out DIR (Markdown and PNG), --html DIR (dashboard), or both", file=sys.stderr)
        return 2
    skipped: list[str] = []
    written: list[Path] = []
    try:
        runs = load_runs(args.sources, skipped)
        if args.out is not None:
            files = write_report(runs, args.out, args.current_variant)
            written += [files.markdown, files.scatter, files.trend]
        if args.html is not None:
            written.append(write_dashboard(runs, args.html))
    except (HistoryError, ValueError) as error:
        print(f"compressors report: error: {error}", file=sys.stderr)
        return 2
    for note in skipped:
        print(f"note: {note}", file=sys.stderr)
    for path in written:
        print(path)
    return 0
