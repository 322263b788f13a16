"""`compressors budgets`: write a budgets file from a measured run, so a second run is gated on its own figures.

    pytest benchmarks --suite-config my-suite.toml --benchmark-json reports/first.json
    compressors budgets --from reports/first.json --out my-budgets.toml --margin 0.1
    pytest benchmarks --suite-config my-suite.toml --budgets my-budgets.toml ...

Exits 0 when the file is written, 2 on a usage error (an unreadable run, a bad margin, a run of
no single profile).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressors.artifacts import write_atomic
from compressors.history.first_budgets import Margins, budgets_toml
from compressors.history.runs import HistoryError, load_run

NAME = "budgets"
SUMMARY = "write a budgets file from a measured run (each limit the measured figure moved by a margin)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", type=Path, required=True, help="the measured run: JSON of --benchmark-json")
    parser.add_argument("--out", type=Path, required=True, help="the budgets file to write (refused if it exists, unless --force)")
    parser.add_argument("--margin", type=float, default=0.1, help="relative margin for ratios, sizes and instructions (default 0.1)")
    parser.add_argument("--drop-margin", type=float, default=0.01, help="absolute margin for accuracies, recalls and drops (default 0.01)")
    parser.add_argument("--profile", help="profile of the tables (default: the run's)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")


def run(args: argparse.Namespace) -> int:
    try:
        margins = Margins(args.margin, args.drop_margin)
        measured = load_run(args.source)
        profile = args.profile or measured.profile
        if not profile:
            raise ValueError(f"{args.source}: its benchmarks belong to no single profile ({sorted(map(str, measured.groups))}); pass --profile")
        if args.out.exists() and not args.force:
            raise ValueError(f"{args.out} exists; pass --force to overwrite it")
        text = budgets_toml(profile, [b.figures() for b in measured.benchmarks.values()], margins, str(args.source))
    except (HistoryError, ValueError) as error:
        print(f"compressors budgets: error: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, text.encode())
    print(f"wrote {args.out}: budgets of {len(measured.benchmarks)} variant(s) from {args.source}")
    return 0
