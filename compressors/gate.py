"""`compressors gate`: compare the current run with the latest passing saved run; save it only if it passes.

The flow (instead of pytest-benchmark's `--benchmark-compare-fail`, which saves a run before
it checks it, so a regressed run would become the next baseline)::

    pytest benchmarks --profile small --benchmark-json reports/current.json
    compressors gate reports/current.json --storage .benchmarks --save-on-pass

The gate exits 1 naming each regressed variant, figure, previous and current value and rule;
only a passing run is written into the storage (pytest-benchmark's layout, so
`pytest-benchmark compare` reads it), marked as passed. Runs the gate did not save
(`--benchmark-autosave`) are never chosen as the baseline, but `--against` can name any run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from compressors.budgets import load_gate_tolerances
from compressors.cli import add_subcommand
from compressors.history import (
    GATE_KEY,
    HistoryError,
    SavedRun,
    default_tag,
    find_run,
    latest_passing,
    load_run,
    load_runs,
    save_run,
)
from compressors.regression import Finding, GateTolerances, baseline_drift, compare_variant
from compressors.variants import BASELINE

DEFAULT_BUDGETS = Path(__file__).resolve().parent.parent / "benchmarks" / "budgets.toml"
# Machine facts (from `compressors.machine.machine_facts`) that make raw latency incomparable.
_CPU_KEYS = ("cpu_model", "cpu_count", "threads")


@dataclass
class GateResult:
    """The gate's verdict on one run: compared figures, problems that fail it, and notes."""

    current: SavedRun
    previous: SavedRun | None
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.problems

    def format(self) -> str:
        """The verdict as the command prints it: comparison table, notes, then each failure."""
        previous = self.previous.label() if self.previous else "nothing (no passing run in storage)"
        lines = [f"gate: {self.current.path} against {previous}"]
        lines += [f"note: {note}" for note in self.notes]
        if self.findings:
            lines += ["", _table(self.findings), ""]
        if self.passed and self.previous is None:
            lines.append("PASSED: nothing to compare with; this run can start the history")
        elif self.passed:
            ungated = sum(f.exceeded and not f.gated for f in self.findings)
            lines.append(
                f"PASSED: {len(self.findings)} figure(s) of {len(self.current.benchmarks)} variant(s) compared, no regression"
                + (f"; {ungated} latency figure(s) exceeded the rule but were not gated (see the notes)" if ungated else "")
            )
        else:
            lines.append(f"FAILED: {len(self.regressions) + len(self.problems)} problem(s)")
            lines += [f"  {f}" for f in self.regressions]
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def evaluate(
    current: SavedRun,
    previous: SavedRun | None,
    tolerances: GateTolerances,
    allow_missing: frozenset[str] = frozenset(),
) -> GateResult:
    """Compare every variant of `current` with `previous` (no I/O)."""
    result = GateResult(current, previous)
    for bench in current.benchmarks.values():
        for violation in bench.extra_info.get("budget_violations") or []:
            result.problems.append(f"budget broken in this run: {violation}")
    if current.test_slowdown:
        result.notes.append(
            f"test-only slow-down active ({_pairs(current.test_slowdown)}; COMPRESSORS_TEST_SLOWDOWN): never saved"
        )
    if previous is None:
        return result
    result.notes += _machine_notes(previous.machine_info, current.machine_info)
    same_cpu = all(previous.machine_info.get(k) == current.machine_info.get(k) for k in _CPU_KEYS)
    same_int8 = previous.machine_info.get("int8_flags") == current.machine_info.get("int8_flags")
    if not same_cpu:
        result.notes.append("different CPU or threads: the baseline's raw latency is not compared")
    if not same_int8:
        result.notes.append("different int8 CPU flags: latency relative to the baseline is not compared")
    drift = None
    if same_cpu and BASELINE in previous.benchmarks and BASELINE in current.benchmarks:
        drift = baseline_drift(previous.benchmarks[BASELINE].figures(), current.benchmarks[BASELINE].figures())
        limit = tolerances.max_baseline_drift
        if not 1 / limit <= drift <= limit:
            result.notes.append(
                f"the baseline itself ran x{drift:.2f} as long as in {previous.name} (limit x{limit:g} either way): "
                "the machine was in another state, so latency relative to the baseline is shown but not gated"
            )
    for variant, before in previous.benchmarks.items():
        after = current.benchmarks.get(variant)
        if after is None:
            if variant not in allow_missing:
                result.problems.append(
                    f"variant {variant!r} is in {previous.name} but missing from this run "
                    f"(pass --allow-missing {variant} if it was removed on purpose)"
                )
            continue
        if before.group != after.group:
            result.notes.append(f"variant {variant!r}: group {before.group!r} -> {after.group!r}: not compared")
            continue
        result.findings += compare_variant(
            variant, before.figures(), after.figures(), tolerances,
            control=variant == BASELINE, same_cpu=same_cpu, same_int8_flags=same_int8, drift=drift,
        )
    new = [v for v in current.benchmarks if v not in previous.benchmarks]
    if new:
        result.notes.append(f"new variant(s) with nothing to compare yet: {', '.join(new)}")
    return result


def gate(
    run_path: Path,
    storage: Path,
    tolerances: GateTolerances,
    *,
    against: str | None = None,
    save_on_pass: bool = False,
    tag: str | None = None,
    allow_missing: frozenset[str] = frozenset(),
) -> tuple[GateResult, Path | None]:
    """Load the current run and its baseline, judge it, and save it into `storage` if it passed."""
    current = load_run(run_path)
    if against:
        previous = find_run(storage, against)
    else:
        previous = latest_passing(load_runs([storage]) if Path(storage).is_dir() else [], current)
    result = evaluate(current, previous, tolerances, allow_missing)
    if not (save_on_pass and result.passed) or current.test_slowdown:
        return result, None
    record = {
        "passed": True,
        "compared_with": previous.name if previous else None,
        "checked_at": datetime.now(timezone.utc).isoformat(),
        "tolerances": tolerances.as_dict(),
    }
    saved = save_run({**current.data, GATE_KEY: record}, storage, tag or default_tag(current))
    return result, saved


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "gate", "fail on a regression against the latest passing saved run; save the run only if it passes", __doc__
    )
    parser.add_argument("run", type=Path, help="the current run: the JSON of `pytest benchmarks --benchmark-json FILE`")
    parser.add_argument("--storage", type=Path, required=True, help="pytest-benchmark storage of passing runs, e.g. .benchmarks")
    parser.add_argument("--against", help="compare with this run (file, file name or NNNN in the storage) instead of the latest passing one")
    parser.add_argument("--budgets", type=Path, default=DEFAULT_BUDGETS, help="budgets TOML file with the [gate] table (default: %(default)s)")
    parser.add_argument("--save-on-pass", action="store_true", help="copy the run into the storage when it passes (never when it fails)")
    parser.add_argument("--tag", help="name part of the saved file, NNNN_<tag>.json (default: commit id and time, as --benchmark-autosave)")
    parser.add_argument("--allow-missing", action="append", default=[], metavar="VARIANT", help="a variant removed on purpose (repeatable)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        tolerances = load_gate_tolerances(args.budgets)
        result, saved = gate(
            args.run, args.storage, tolerances,
            against=args.against, save_on_pass=args.save_on_pass, tag=args.tag, allow_missing=frozenset(args.allow_missing),
        )
    except (HistoryError, ValueError) as error:
        print(f"compressors gate: error: {error}", file=sys.stderr)
        return 2
    print(result.format())
    if saved:
        print(f"saved as the next baseline: {saved}")
    elif result.passed and args.save_on_pass:
        print("not saved: runs with the test-only slow-down are never saved")
    elif not result.passed:
        print("not saved: a failing run is never the baseline of the next comparison")
    else:
        print("not saved (no --save-on-pass)")
    return 0 if result.passed else 1


def _machine_notes(before: dict, after: dict) -> list[str]:
    notes = [
        f"machine differs: {key} {before.get(key)!r} -> {after.get(key)!r}"
        for key in (*_CPU_KEYS, "int8_flags")
        if before.get(key) != after.get(key)
    ]
    old, new = before.get("versions") or {}, after.get("versions") or {}
    changed = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
    if changed:
        notes.append("library versions differ: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
    return notes


def _table(findings: list[Finding]) -> str:
    rows = [("variant", "figure", "previous", "current", "rule", "verdict")]
    rows += [(f.variant, f.figure, f"{f.previous:.4g}", f"{f.current:.4g}", f.rule, f.verdict) for f in findings]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _pairs(mapping: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in mapping.items())
