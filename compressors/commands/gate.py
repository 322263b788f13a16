"""`compressors gate`: fail on a regression against the previous passing run and the reference run;
save the run only if it passes.

    pytest benchmarks --profile small --benchmark-json reports/current.json
    compressors gate reports/current.json --storage .benchmarks --save-on-pass

Budgets and tolerances come from a trusted place: the budgets file the compared run was judged by
(kept in the storage), or --trusted-budgets; when the checkout's differ, the gate prints the
difference and fails unless --accept-limits.

Accuracy verdicts carry the paired difference on the same test queries (95% interval, McNemar's
p) when both runs stored their answers; --markdown FILE writes the verdict as Markdown too.

Exits 0 when the run passes, 1 naming each regressed variant, figure, value and rule (or each
broken budget), and 2 on a usage error (an unreadable run, a bad budgets file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressors.artifacts import write_atomic
from compressors.history.gate import gate
from compressors.history.runs import HistoryError, load_run
from compressors.history.limits import Limits, read_limits
from compressors.measure.budgets import DEFAULT_BUDGETS

NAME = "gate"
SUMMARY = "fail on a regression against the previous passing and the reference run; save the run only if it passes"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="the current run: the JSON of `pytest benchmarks --benchmark-json FILE`")
    parser.add_argument("--storage", type=Path, required=True, help="pytest-benchmark storage of passing runs, e.g. .benchmarks")
    parser.add_argument("--against", help="compare with this run (file, file name or NNNN in the storage) instead of the latest passing one")
    parser.add_argument("--budgets", type=Path, default=DEFAULT_BUDGETS,
                        help="the checkout's budgets TOML file with the [gate] table (default: the package's)")
    parser.add_argument("--trusted-budgets", type=Path,
                        help="the budgets file to trust, e.g. the base branch's (default: the one the compared run was judged by, kept in the storage)")
    parser.add_argument("--accept-limits", action="store_true",
                        help="judge by the checkout's limits where they differ from the trusted ones (recorded in the saved run)")
    parser.add_argument("--save-on-pass", action="store_true", help="copy the run into the storage when it passes (never when it fails)")
    parser.add_argument("--pin-reference", action="store_true", help="with --save-on-pass: pin the saved run as the reference of later gates")
    parser.add_argument("--tag", help="name part of the saved file, NNNN_<tag>.json (default: commit id and time, as --benchmark-autosave)")
    parser.add_argument("--allow-missing", action="append", default=[], metavar="VARIANT", help="a variant removed on purpose (repeatable)")
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the verdict as Markdown (tables with the paired accuracy differences), e.g. for a CI summary")


def run(args: argparse.Namespace) -> int:
    # The profiles and the registry import the steps (torch): only when the gate runs.
    from compressors.profiles import PROFILES
    from compressors.variants import VARIANT_NAMES

    try:
        profile = load_run(args.run).profile

        def reader(path: Path) -> Limits:
            return read_limits(path, profile, VARIANT_NAMES, list(PROFILES))

        result, saved = gate(
            args.run, args.storage, reader(args.budgets), reader=reader, trusted=args.trusted_budgets,
            accept_limits=args.accept_limits, against=args.against, save_on_pass=args.save_on_pass,
            pin=args.pin_reference, tag=args.tag, allow_missing=frozenset(args.allow_missing),
        )
    except (HistoryError, ValueError) as error:
        print(f"compressors gate: error: {error}", file=sys.stderr)
        return 2
    print(result.format())
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.markdown, result.markdown().encode())
    if saved:
        print(f"saved as the next baseline: {saved}" + (" (pinned as the reference)" if args.pin_reference else ""))
    elif result.passed and args.save_on_pass:
        print("not saved: runs with the test-only slow-down are never saved")
    elif not result.passed:
        print("not saved: a failing run is never the baseline of the next comparison")
    else:
        print("not saved (no --save-on-pass)")
    return 0 if result.passed else 1
