"""The search loop: cheap candidates first, the floor before the stopwatch, long timings for the best few.

Successive halving over what a candidate costs to judge. Every candidate, in order of the build
work it still needs (cached chains first, new students and pruning shapes last), is built and
scored on validation with its size (stage ASSESSED); one that meets the floor is timed at once
with a short paired timing (stage TIMED), so a usable answer exists early. Then the best share
of those (`refine_fraction`, by the objective) is timed at the profile's full length (REFINED);
last, as time allows, the chains below the floor get their short timing too, for the front.

Every stage is stored as soon as it ends (`TrialStore`): a stopped search resumes at the stage
it stopped, and no new stage starts once the time budget is spent.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from compressors.chains.goal import Goal
from compressors.chains.space import Candidate
from compressors.search.store import ASSESSED, REFINED, TIMED, Trial, TrialStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assessment:
    """A candidate built and served: validation accuracy (served rule), size over the baseline's, artifact key."""

    validation_accuracy: float
    size_ratio: float
    artifact_key: str = ""


@dataclass(frozen=True)
class Speed:
    """A speed-up against the baseline with its interval (a point for a deterministic count)."""

    estimate: float
    low: float
    high: float


class Evaluator(Protocol):
    """What the loop needs of the real thing (`compressors.search.evaluate.ChainEvaluator`) or a fake."""

    baseline_accuracy: float
    refines: bool  # whether the full-length timing tells more than the short one

    def work(self, candidate: Candidate) -> float:
        """Build work the candidate still needs (the order: least first)."""

    def assess(self, candidate: Candidate) -> Assessment:
        """Build and serve the candidate; its validation accuracy and size."""

    def time(self, candidate: Candidate, full: bool) -> Speed:
        """Its speed-up against the baseline, short or at full length."""


@dataclass(frozen=True)
class Outcome:
    """What a search found: every trial, the chosen one (None when no timed chain meets the floor), and why it stopped."""

    trials: tuple[Trial, ...]
    chosen: Trial | None
    baseline_accuracy: float
    stopped: str = ""


def choose(trials: Sequence[Trial], goal: Goal, baseline_accuracy: float) -> Trial | None:
    """The best timed trial that meets the floor, by the objective; refined figures preferred over short ones."""
    meeting = [t for t in trials if t.stage >= TIMED and not t.error and goal.meets_floor(t.validation_accuracy, baseline_accuracy)]
    refined = [t for t in meeting if t.stage >= REFINED]
    pool = refined or meeting
    return max(pool, key=lambda t: goal.score(t.speedup, t.size_ratio)) if pool else None


class _Clock:
    """Seconds left of a time budget (0: none)."""

    def __init__(self, budget: float, clock: Callable[[], float]) -> None:
        self.budget, self.clock, self.start = budget, clock, clock()

    def spent(self) -> bool:
        return bool(self.budget) and self.clock() - self.start >= self.budget


def run_search(evaluator: Evaluator, candidates: Sequence[Candidate], goal: Goal, store: TrialStore, *,
               time_budget: float = 0.0, refine_fraction: float = 1 / 3, clock: Callable[[], float] = time.monotonic,
               report: Callable[[str], None] = lambda line: print(line, flush=True)) -> Outcome:
    """Run (or resume) the search over `candidates`; see the module docstring for the order.

    Args:
        time_budget: seconds after which no new stage starts (0: no limit).
        refine_fraction: share of the chains meeting the floor timed at full length.
        report: receives one progress line per stage of a trial.
    """
    budget = _Clock(time_budget, clock)
    base = evaluator.baseline_accuracy
    order = sorted(candidates, key=evaluator.work)  # stable: the space's order among equals
    total = len(order)

    def run_stage(trial: Trial, what: str, action: Callable[[], dict]) -> Trial:
        started = clock()
        try:
            changes = action()
        except Exception as error:  # noqa: BLE001 - a chain ORT or a step refuses is a result, not the end of the search
            changes = {"error": f"{type(error).__name__}: {error}"[:300]}
            logger.warning("search: %s failed: %s", trial.name, changes["error"])
        trial = store.add_seconds(trial, clock() - started, **changes)
        index = order.index(trial.candidate) + 1
        report(f"search {index}/{total} {what} {trial.name}: {describe_trial(trial, base, goal)} ({clock() - started:.0f} s)")
        return trial

    def assess(trial: Trial) -> dict:
        a = evaluator.assess(trial.candidate)
        return {"stage": ASSESSED, "validation_accuracy": a.validation_accuracy, "size_ratio": a.size_ratio, "artifact_key": a.artifact_key}

    def timing(trial: Trial, full: bool) -> dict:
        s = evaluator.time(trial.candidate, full)
        return {"stage": REFINED if full else TIMED, "speedup": s.estimate, "speedup_low": s.low, "speedup_high": s.high}

    def meets(trial: Trial) -> bool:
        return not trial.error and trial.stage >= ASSESSED and goal.meets_floor(trial.validation_accuracy, base)

    stopped = ""
    for candidate in order:  # assess everything; time at once what meets the floor
        if budget.spent():
            stopped = "time budget"
            break
        trial = store.get(candidate)
        if trial.error:
            continue
        if trial.stage < ASSESSED:
            trial = run_stage(trial, "assess", lambda: assess(trial))
        if meets(trial) and trial.stage < TIMED and not budget.spent():
            trial = run_stage(trial, "time", lambda: timing(trial, False))
    if not stopped and evaluator.refines:
        timed = [store.get(c) for c in order]
        timed = [t for t in timed if meets(t) and t.stage >= TIMED]
        best = sorted(timed, key=lambda t: goal.score(t.speedup, t.size_ratio), reverse=True)
        # Trials refined before a stop count toward the share: a refined speed-up re-ranks its trial,
        # and a resumed search must not refine the next one in its place.
        quota = math.ceil(refine_fraction * len(best)) - sum(t.stage >= REFINED for t in best)
        for trial in [t for t in best if t.stage < REFINED][: max(quota, 0)]:
            if budget.spent():
                stopped = "time budget"
                break
            run_stage(trial, "refine", lambda: timing(trial, True))
    if not stopped:
        for candidate in order:  # the front's other points: chains below the floor, short-timed
            trial = store.get(candidate)
            if trial.error or trial.stage != ASSESSED:
                continue
            if budget.spent():
                stopped = "time budget"
                break
            run_stage(trial, "time", lambda: timing(trial, False))
    trials = tuple(store.get(c) for c in order)
    chosen = choose(trials, goal, base)
    report(f"search: {sum(t.stage >= ASSESSED for t in trials)}/{total} assessed, {sum(t.stage >= TIMED for t in trials)} timed"
           + (f", stopped by the {stopped}" if stopped else "") + "; "
           + (f"chosen {chosen.name}: {describe_trial(chosen, base, goal)}" if chosen else "no timed chain meets the floor"))
    return Outcome(trials, chosen, base, stopped)


def describe_trial(trial: Trial, baseline_accuracy: float, goal: Goal) -> str:
    """One line of a trial's figures so far."""
    if trial.error:
        return f"failed: {trial.error}"
    if trial.stage < ASSESSED:
        return "not assessed"
    drop = baseline_accuracy - trial.validation_accuracy
    floor = "meets the floor" if goal.meets_floor(trial.validation_accuracy, baseline_accuracy) else "below the floor"
    text = f"validation {trial.validation_accuracy:.4f} (drop {drop:+.4f}, {floor}), size {trial.size_ratio:.3f}x"
    if trial.stage >= TIMED:
        text += f", {trial.speedup:.2f}x [{trial.speedup_low:.2f}, {trial.speedup_high:.2f}]" + (" full" if trial.stage >= REFINED else " short")
    return text
