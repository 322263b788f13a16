"""The gate: compare a run with the previous passing run, a reference run and the history since it;
save it only if it passes.

The flow (instead of pytest-benchmark's `--benchmark-compare-fail`, which saves a run before
it checks it, so a regressed run would become the next baseline)::

    pytest benchmarks --profile small --benchmark-json reports/current.json
    compressors gate reports/current.json --storage .benchmarks --save-on-pass

The limits are trusted ones (`limits.py`): the budgets file the compared run was judged by, kept
in the storage, or one given explicitly; a checkout whose limits differ fails, showing the
difference, unless they are accepted. A pinned reference run is compared with by its own limits
(the file it was judged by), and the history since it too, so limits accepted since cannot loosen
the bound against it; a run that changes the limits cannot pin itself. The current run fails when:

- its stored figures, judged again against those budgets, break one (a known shortfall within
  its margin does not), or the run recorded a broken budget;
- a figure regressed against the previous passing run (same machine and libraries when there is
  one, else the newest, with the differences printed) or the reference run (the pinned one, else
  the oldest passing run of the same machine and libraries; a pinned run of another group is
  refused): `rule.py`. Accuracy is judged on the point estimate, and shows the paired difference
  on the same queries (95% interval, McNemar's p) and whether it is significant. Wall-clock comparisons of runs timed on a busy machine are inconclusive,
  neither pass nor fail; cost (instructions per query) is compared raw within one instruction
  set; a baseline that moved between quiet runs fails instead of switching relative latency off;
- a figure's history since the reference starts a change beyond the figure's limit, or drifted
  beyond its drift limit in small steps (`drift.py`, `changes.py`).

Only a passing run is written into the storage (pytest-benchmark's layout, so
`pytest-benchmark compare` reads it), marked as passed, with the sha256 of its limits. An
unreadable file in the storage is named and skipped; the gate says which runs it compared with
and why, and warns loudly when the storage holds no run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from compressors.history.changes import MIN_RUNS
from compressors.history.drift import history_findings
from compressors.history.limits import Limits, limit_differences, recorded_limits, store_limits
from compressors.history.rule import Finding, baseline_drift, compare_variant, machine_busy
from compressors.history.runs import (
    CPU_KEYS,
    GATE_KEY,
    REFERENCE_FILE,
    SavedRun,
    default_tag,
    differences,
    find_run,
    latest_passing,
    load_run,
    load_runs,
    pin_reference,
    reference_run,
    save_run,
)
from compressors.history.tolerances import GateTolerances
from compressors.measure.budgets import Budget, Status, judge
from compressors.measure.figures import BASELINE


@dataclass
class Comparison:
    """The current run against one earlier run: its role ("previous" or "reference") and findings."""

    role: str
    run: SavedRun
    findings: list[Finding] = field(default_factory=list)


@dataclass
class GateResult:
    """The gate's verdict on one run: comparisons, problems that fail it, and notes."""

    current: SavedRun
    comparisons: list[Comparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def previous(self) -> SavedRun | None:
        return next((c.run for c in self.comparisons if c.role == "previous"), None)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.comparisons for f in c.findings]

    @property
    def regressions(self) -> list[tuple[Comparison, Finding]]:
        return [(c, f) for c in self.comparisons for f in c.findings if f.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.problems

    def format(self) -> str:
        """The verdict as the command prints it: notes, a table per comparison, then each failure."""
        lines = [f"gate: {self.current.path}"]
        lines += [f"note: {note}" for note in self.notes]
        for comparison in self.comparisons:
            lines += ["", f"against the {comparison.role} run {comparison.run.label()}:", "", _table(comparison.findings)]
        return "\n".join([*lines, "", self.summary()] + [f"  {failure}" for failure in self.failures()])

    def summary(self) -> str:
        """One line: PASSED or FAILED, and how much was judged."""
        if self.passed and not self.comparisons:
            return "PASSED: nothing to compare with; this run can start the history"
        if self.passed:
            unjudged = sum(bool(f.unjudged) for f in self.findings)
            return (f"PASSED: {len(self.findings) - unjudged} figure(s) of {len(self.current.benchmarks)} variant(s) judged, no regression"
                    + (f"; {unjudged} comparison(s) inconclusive or not gated (see the table)" if unjudged else ""))
        return f"FAILED: {len(self.regressions) + len(self.problems)} problem(s)"

    def failures(self) -> list[str]:
        """Each regression (naming the run it is against) and each problem."""
        return [f"{f} [against the {c.role} run {c.run.name}]" for c, f in self.regressions] + list(self.problems)

    def markdown(self) -> str:
        """The verdict as a Markdown section (e.g. for a CI job's summary): verdict, failures, a table per comparison, notes."""
        lines = [f"## Gate: {self.summary()}", "", f"Run `{self.current.path}`."]
        if self.failures():
            lines += ["", *[f"- {failure}" for failure in self.failures()]]
        for comparison in self.comparisons:
            lines += ["", f"### Against the {comparison.role} run `{comparison.run.label()}`", "", _markdown_table(comparison.findings)]
        if self.notes:
            lines += ["", "### Notes", "", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines) + "\n"

    def paired_accuracy(self) -> list[dict]:
        """Every paired accuracy difference of the comparisons, as the saved run records them."""
        return [
            {"against": c.role, "run": c.run.name, "variant": f.variant, "difference": f.paired.difference, "low": f.paired.low,
             "high": f.paired.high, "p_value": f.paired.p_value, "queries": f.paired.queries, "significant": f.paired.significant}
            for c in self.comparisons for f in c.findings if f.paired is not None
        ]


def compare_runs(
    role: str, previous: SavedRun, current: SavedRun, tolerances: GateTolerances, allow_missing: frozenset[str]
) -> tuple[Comparison, list[str], list[str]]:
    """Every variant of `current` against `previous`: the comparison, problems and notes."""
    comparison, problems, notes = Comparison(role, previous), [], []
    same_cpu = all(previous.machine_info.get(k) == current.machine_info.get(k) for k in CPU_KEYS)
    same_int8 = previous.machine_info.get("int8_flags") == current.machine_info.get("int8_flags")
    if not same_cpu:
        notes.append(f"{role} run: different CPU or threads: the baseline's raw latency is not compared")
    if not same_int8:
        notes.append(f"{role} run: different int8 CPU flags: latency relative to the baseline is not compared")
    loads = run_loads(previous) + run_loads(current)
    busy = machine_busy(loads, tolerances.max_machine_load)
    if same_cpu and not busy and BASELINE in previous.benchmarks and BASELINE in current.benchmarks:
        before, after = previous.benchmarks[BASELINE], current.benchmarks[BASELINE]
        drift = baseline_drift(before.samples_ms, after.samples_ms, before.figures().p50_ms, after.figures().p50_ms)
        limit = tolerances.max_baseline_drift
        if not 1 / limit <= drift <= limit:
            # Both runs were quiet on the same CPU, so the machine did not change state: a change
            # of the code can do this, and it must not switch relative latency off.
            problems.append(
                f"the baseline itself ran x{drift:.2f} as long as in the {role} run {previous.name} (limit x{limit:g} "
                "either way) on a quiet machine of the same CPU: latency relative to the baseline cannot be trusted; "
                "find what changed the baseline's speed"
            )
    elif busy:
        notes.append(f"{role} run: {busy}: wall-clock figures are inconclusive; verdicts rest on cost, accuracy and size")
    for variant, before in previous.benchmarks.items():
        after = current.benchmarks.get(variant)
        if after is None:
            if variant not in allow_missing:
                problems.append(
                    f"variant {variant!r} is in the {role} run {previous.name} but missing from this run "
                    f"(pass --allow-missing {variant} if it was removed on purpose)"
                )
            continue
        if before.group != after.group:
            notes.append(f"variant {variant!r}: group {before.group!r} -> {after.group!r}: not compared with the {role} run")
            continue
        comparison.findings += compare_variant(
            variant, before.figures(), after.figures(), tolerances, control=variant == BASELINE,
            previous_samples_ms=before.samples_ms, current_samples_ms=after.samples_ms,
            same_cpu=same_cpu, same_int8_flags=same_int8, run_loads=loads,
        )
    return comparison, problems, notes


def run_loads(run: SavedRun) -> tuple[float, ...]:
    """The machine loads a run recorded while its variants were timed; (NaN,) when it recorded none."""
    loads = tuple(b.figures().machine_load for b in run.benchmarks.values() if b.figures().paired_ratios)
    return loads or (float("nan"),)


def evaluate(
    current: SavedRun,
    previous: SavedRun | None,
    tolerances: GateTolerances,
    allow_missing: frozenset[str] = frozenset(),
    reference: SavedRun | None = None,
    budgets: dict[str, Budget] | None = None,
    reference_tolerances: GateTolerances | None = None,
) -> GateResult:
    """Judge `current` against `previous` and `reference` (either may be None; no I/O).

    `budgets` (variant -> Budget of the run's profile): the stored figures are judged again
    against them, so the gate does not rest on the verdict the run recorded.
    `reference_tolerances`: the tolerances of the comparison with the reference (a pinned
    reference's own); default `tolerances`. When they differ, the reference is compared with even
    when it is also the previous run.
    """
    result = GateResult(current)
    for variant, bench in current.benchmarks.items():
        figures = bench.figures()
        result.problems += [f"budget broken in this run: {v}" for v in figures.violations]
        if budgets and variant in budgets:
            checks = judge(variant, budgets[variant], figures, tolerances.max_machine_load)
            result.problems += [f"budget broken (judged again by the gate): {c}" for c in checks if c.failed]
            result.notes += [str(c) for c in checks if c.status is Status.INCONCLUSIVE]
        if "violations" not in bench.extra_info:
            result.problems.append(f"variant {variant!r}: the run records no budget verdict (violations); was it measured by the suite?")
    if current.test_slowdown:
        result.notes.append(
            "test-only slow-down active (" + ", ".join(f"{k}={v:g}" for k, v in current.test_slowdown.items())
            + "; COMPRESSORS_TEST_SLOWDOWN): never saved"
        )
    reference_tolerances = reference_tolerances or tolerances
    for role, run, limits in (("previous", previous, tolerances), ("reference", reference, reference_tolerances)):
        if run is None or (role == "reference" and previous is not None and run.name == previous.name and limits == tolerances):
            continue
        comparison, problems, notes = compare_runs(role, run, current, limits, allow_missing)
        result.comparisons.append(comparison)
        result.problems += problems
        result.notes += notes
    new = [v for v in current.benchmarks if previous is not None and v not in previous.benchmarks]
    if new:
        result.notes.append(f"new variant(s) with nothing to compare yet: {', '.join(new)}")
    return result


def gate(
    run_path: Path,
    storage: Path,
    checkout: Limits,
    *,
    reader: Callable[[Path], Limits],
    trusted: Path | None = None,
    accept_limits: bool = False,
    against: str | None = None,
    save_on_pass: bool = False,
    pin: bool = False,
    tag: str | None = None,
    allow_missing: frozenset[str] = frozenset(),
) -> tuple[GateResult, Path | None]:
    """Load the current run and the runs it is compared with, judge it, and save it into `storage` if it passed.

    Args:
        checkout: the limits of the budgets file in the change under test.
        reader: reads another budgets file's limits for this run's profile.
        trusted: the budgets file to trust (e.g. the base branch's); default: the one the
            compared run was judged by, kept in the storage.
        accept_limits: judge by the checkout's limits even where they differ from the trusted
            ones (recorded in the saved run).
        against: compare with this saved run instead of the latest passing one.
        pin: when the run passes and is saved, pin it as the storage's reference run.
    """
    current = load_run(run_path)
    skipped: list[str] = []
    runs = load_runs([storage], skipped) if Path(storage).is_dir() else []
    reasons: list[str] = []
    if against:
        previous = find_run(storage, against)
        reasons = differences(previous, current)
    else:
        previous, reasons = latest_passing(runs, current)
    trusted = trusted or (recorded_limits(storage, previous) if previous is not None else None)
    limits, accepted, limit_problems, limit_notes = _trusted_limits(checkout, trusted and reader(trusted), accept_limits)
    tolerances, budgets = limits.tolerances, limits.budgets
    reference = reference_run(storage, runs, current) if runs else None
    pinned = (Path(storage) / REFERENCE_FILE).is_file()
    refused = []
    if reference is not None and pinned and (not reference.groups & current.groups or reference.profile != current.profile):
        # A comparison across profiles or groups would compare other models or settings: refuse it, loudly.
        refused.append(f"the pinned reference run {reference.name} is of group(s) {sorted(map(str, reference.groups))}, "
                       f"this run of {sorted(map(str, current.groups))}: not compared; pin a run of this group "
                       "(compressors gate ... --save-on-pass --pin-reference)")
        reference = None
    reference_limits, reference_notes = _reference_limits(storage, reference if pinned else None, reader)
    if pin and accepted:
        refused.append("--pin-reference with limits changed by --accept-limits: a run cannot both move the reference and change "
                       "the limits it is judged by; gate it without --pin-reference, and pin a later run judged by the new limits")
    reference_tolerances = reference_limits.tolerances if reference_limits else tolerances
    result = evaluate(current, previous, tolerances, allow_missing, reference, budgets, reference_tolerances)
    result.notes[:0] = skipped
    result.problems += refused + limit_problems
    result.notes += limit_notes + reference_notes
    if previous is not None and reasons:
        result.notes.insert(0, f"WARNING: the previous run {previous.name} is from another machine or library versions "
                               f"({'; '.join(reasons)}): figures that depend on them may move without a regression")
    result.notes += _choices(previous, reference, against, pinned, skipped)
    if not runs:
        result.notes.insert(0, f"WARNING: the storage {storage} holds no saved run: nothing to compare with. If a history "
                               "existed (an evicted cache, a wrong path), this pass means nothing; restore it and gate again")
    # The drift since the reference is a cumulative bound against it: by the reference's own limits.
    result.problems += _history(runs, current, reference, reference_tolerances, result.notes)
    if not (save_on_pass and result.passed) or current.test_slowdown:
        return result, None
    record = {
        "passed": True,
        "compared_with": previous.name if previous else None,
        "reference": reference.name if reference else None,
        "checked_at": datetime.now(timezone.utc).isoformat(),
        "tolerances": tolerances.as_dict(),
        "limits_sha256": store_limits(storage, limits),
        "accepted_limits": accepted,
        "reference_limits_sha256": reference_limits.sha256 if reference_limits else None,
        "paired_accuracy": result.paired_accuracy(),
    }
    saved = save_run({**current.data, GATE_KEY: record}, storage, tag or default_tag(current))
    if pin:
        pin_reference(storage, load_run(saved))
    return result, saved


def _trusted_limits(checkout: Limits, trusted: Limits | None, accept: bool) -> tuple[Limits, list[str], list[str], list[str]]:
    """The limits to judge by, the accepted differences, problems and notes."""
    if trusted is None:
        return checkout, [], [], [
            f"WARNING: no trusted limits (no earlier run recorded its budgets file, and none was given): judged by "
            f"the checkout's {checkout.path}, which the change under test may have edited"
        ]
    changes = limit_differences(trusted, checkout)
    if not changes:
        return checkout, [], [], [f"limits: the checkout's {checkout.path} equals the trusted {trusted.path}"]
    shown = "; ".join(changes)
    if accept:
        return checkout, changes, [], [f"limits changed and accepted with --accept-limits (recorded in the saved run): {shown}"]
    return trusted, [], [
        f"the checkout's limits ({checkout.path}) differ from the trusted ones ({trusted.path}): {shown}; judged by the "
        "trusted ones. If the change is meant, review it and gate again with --accept-limits"
    ], []


def _reference_limits(storage: Path, pinned: SavedRun | None, reader: Callable[[Path], Limits]) -> tuple[Limits | None, list[str]]:
    """The limits of a pinned reference run: the budgets file it was itself judged by, kept in the storage.

    Pinned with its run, they hold for the comparison with it (and the drift since it) until another
    run is pinned: limits accepted since then cannot loosen the bound against the reference.
    """
    if pinned is None:
        return None, []
    path = recorded_limits(storage, pinned)
    if path is None:
        return None, [f"WARNING: the pinned reference run {pinned.name} recorded no budgets file: compared with it by "
                      "the trusted limits instead of its own"]
    return reader(path), [f"reference limits: the pinned reference run {pinned.name}'s own ({path})"]


def _choices(previous: SavedRun | None, reference: SavedRun | None, against: str | None, pinned: bool,
             skipped: list[str]) -> list[str]:
    """Which runs the gate compared with and why those, and a warning when a skipped file might have been the one."""
    notes = []
    if previous is not None:
        why = "named with --against" if against else "the newest passing run of its group, preferring the same machine and libraries"
        notes.append(f"previous run: {previous.name} ({why})")
    if reference is not None:
        why = "pinned in the storage" if pinned else "the oldest passing run of its group on the same machine and libraries"
        notes.append(f"reference run: {reference.name} ({why})")
    if skipped and previous is not None:
        notes.append(f"WARNING: {len(skipped)} stored run(s) could not be read (named above); if one was newer than "
                     f"{previous.name}, this run was compared with an older run than intended")
    return notes


def _history(runs: list[SavedRun], current: SavedRun, reference: SavedRun | None, tolerances: GateTolerances,
             notes: list[str]) -> list[str]:
    """Problems from the figures' histories since the reference (change points and cumulative drift); notes the rest."""
    history = [
        r for r in runs
        if r.passed and r.groups & current.groups and r.data["datetime"] != current.data["datetime"]
        and r.datetime < current.datetime and (reference is None or r.datetime >= reference.datetime)
    ]
    if len(history) + 1 < MIN_RUNS:
        notes.append(f"history: {len(history)} passing run(s) since the reference; change points and drift need {MIN_RUNS} "
                     "runs (this one included), so only the two comparisons judge this run")
        return []
    problems = []
    for finding in history_findings(history, current, tolerances):
        if finding.alarm:
            problems.append(f"{finding.alarm}: {finding.describe()}")
        elif finding.points:
            notes.append(f"change point(s) within limits: {finding.describe()}")
    return problems


def _rows(findings: list[Finding]) -> list[tuple[str, ...]]:
    """The header and one row per finding; the paired-difference column only when a finding has one."""
    paired = any(f.significance for f in findings)
    head = ("variant", "figure", "before", "now", "rule", "verdict") + (("paired on the same queries (95% CI)",) if paired else ())
    return [head] + [
        (f.variant, f.figure, f"{f.previous:.4g}", f"{f.current:.4g}", f.rule, f.verdict) + ((f.significance,) if paired else ())
        for f in findings
    ]


def _table(findings: list[Finding]) -> str:
    rows = _rows(findings)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _markdown_table(findings: list[Finding]) -> str:
    rows = [tuple(cell.replace("|", "\\|") for cell in row) for row in _rows(findings)]
    return "\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + ["| " + " | ".join(r) + " |" for r in rows[1:]])
