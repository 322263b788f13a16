"""`compressors report`: saved runs -> a Markdown table, the accuracy-vs-latency chart and trends.

    compressors report .benchmarks reports/current.json --out reports/

Writes report.md, accuracy_vs_latency.png and trend.png into --out and prints their paths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressors.history.report import write_report
from compressors.history.runs import HistoryError, load_runs

NAME = "report"
SUMMARY = "Markdown table, accuracy-vs-latency chart, Pareto front and trends from saved runs"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, help="saved run JSON files and/or pytest-benchmark storage directories")
    parser.add_argument("--out", type=Path, required=True, help="directory for report.md, accuracy_vs_latency.png and trend.png")
    parser.add_argument("--current-variant", help="the variant ringed in the chart (default: the last one in the run)")


def run(args: argparse.Namespace) -> int:
    skipped: list[str] = []
    try:
        files = write_report(load_runs(args.sources, skipped), args.out, args.current_variant)
    except (HistoryError, ValueError) as error:
        print(f"compressors report: error: {error}", file=sys.stderr)
        return 2
    for note in skipped:
        print(f"note: {note}", file=sys.stderr)
    for path in (files.markdown, files.scatter, files.trend):
        print(path)
    return 0
