"""The search loop on planted figures: cheap first, the floor respected, the best chain found, resumable, within its budget."""

from __future__ import annotations

import pytest
from tests_support import FakeClock

from compressors.chains.goal import Goal
from compressors.chains.space import Candidate
from compressors.search.runner import Assessment, Speed, choose, run_search
from compressors.search.store import ASSESSED, REFINED, TIMED, TrialStore

BASE = 0.90
# name -> (validation accuracy, size ratio, speed-up, build work, seconds a stage takes)
PLANTED = {
    Candidate("baseline"): (0.899, 0.26, 4.0, 0, 10),
    Candidate("distilled"): (0.880, 0.20, 9.0, 0, 10),  # fastest, but 2 points under: below the floor
    Candidate("baseline", reduce_range=True): (0.898, 0.26, 4.5, 0, 10),
    Candidate("baseline", trim=True, weight_type="uint8"): (0.897, 0.09, 6.0, 1, 10),  # the planted best
    Candidate("baseline", trim=True): (0.890, 0.09, 6.5, 1, 10),  # faster still, 1 point under
    Candidate(layers=(0, 2, 4, 5)): (0.899, 0.60, 5.0, 100, 10),  # trains: explored last
}
BEST = Candidate("baseline", trim=True, weight_type="uint8")


class FakeEvaluator:
    """Planted figures; each stage advances the fake clock; counts what it was asked."""

    baseline_accuracy = BASE
    refines = True

    def __init__(self, clock: FakeClock, fail: Candidate | None = None, stop_after: int | None = None) -> None:
        self.clock, self.fail, self.stop_after = clock, fail, stop_after
        self.assessed: list[Candidate] = []
        self.timed: list[tuple[Candidate, bool]] = []

    def work(self, candidate: Candidate) -> float:
        return PLANTED[candidate][3]

    def assess(self, candidate: Candidate) -> Assessment:
        if self.stop_after is not None and len(self.assessed) == self.stop_after:
            raise KeyboardInterrupt  # the user stops the search
        self.assessed.append(candidate)
        self.clock.now += PLANTED[candidate][4]
        if candidate == self.fail:
            raise RuntimeError("ORT cannot quantize this graph")
        accuracy, size, *_ = PLANTED[candidate]
        return Assessment(accuracy, size, f"key-{candidate.name}")

    def time(self, candidate: Candidate, full: bool) -> Speed:
        self.timed.append((candidate, full))
        self.clock.now += PLANTED[candidate][4] * (3 if full else 1)
        speed = PLANTED[candidate][2] * (0.98 if full else 1)
        return Speed(speed, speed * 0.9, speed * 1.1)


def _search(tmp_path, evaluator, goal=Goal(), **options):
    store = TrialStore(tmp_path / "trials.json", {"study": "test"})
    return run_search(evaluator, list(PLANTED), goal, store, clock=evaluator.clock, report=options.pop("report", lambda line: None), **options)


def test_finds_the_planted_best_chain_and_respects_the_floor(tmp_path) -> None:
    evaluator = FakeEvaluator(FakeClock())
    outcome = _search(tmp_path, evaluator)
    assert outcome.chosen is not None and outcome.chosen.candidate == BEST
    assert outcome.chosen.stage == REFINED and outcome.chosen.speedup == pytest.approx(6.0 * 0.98)
    below = {Candidate("distilled"), Candidate("baseline", trim=True)}
    assert all(t.stage == TIMED for t in outcome.trials if t.candidate in below)  # on the front, never chosen
    assert not any(full for c, full in evaluator.timed if c in below)


def test_a_looser_floor_picks_the_faster_chain_below_the_tight_one(tmp_path) -> None:
    outcome = _search(tmp_path, FakeEvaluator(FakeClock()), Goal(max_accuracy_drop=0.02))
    assert outcome.chosen.candidate == Candidate("distilled")


def test_the_size_objective_picks_the_smallest_chain_meeting_the_floor(tmp_path) -> None:
    outcome = _search(tmp_path, FakeEvaluator(FakeClock()), Goal(objective="size"))
    assert outcome.chosen.candidate == BEST  # 0.09x; the faster trimmed one is below the floor


def test_cached_chains_are_assessed_before_chains_that_train(tmp_path) -> None:
    evaluator = FakeEvaluator(FakeClock())
    _search(tmp_path, evaluator)
    works = [PLANTED[c][3] for c in evaluator.assessed]
    assert works == sorted(works) and evaluator.assessed[-1] == Candidate(layers=(0, 2, 4, 5))


def test_only_the_best_share_meeting_the_floor_is_timed_at_full_length(tmp_path) -> None:
    evaluator = FakeEvaluator(FakeClock())
    _search(tmp_path, evaluator, refine_fraction=0.25)
    # four chains meet the floor; a quarter of them, the fastest by the short timing, is refined
    assert [c for c, full in evaluator.timed if full] == [BEST]


def test_a_chain_that_fails_is_recorded_and_the_search_goes_on(tmp_path) -> None:
    evaluator = FakeEvaluator(FakeClock(), fail=BEST)
    lines: list[str] = []
    outcome = _search(tmp_path, evaluator, report=lines.append)
    assert outcome.chosen.candidate == Candidate(layers=(0, 2, 4, 5))  # 5x: the best left meeting the floor
    failed = {t.candidate: t.error for t in outcome.trials if t.error}
    assert failed == {BEST: "RuntimeError: ORT cannot quantize this graph"}
    assert any("failed: RuntimeError" in line for line in lines)


def test_a_stopped_search_resumes_without_redoing_a_finished_stage(tmp_path) -> None:
    first = FakeEvaluator(FakeClock(), stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        _search(tmp_path, first)
    resumed = FakeEvaluator(FakeClock())
    outcome = _search(tmp_path, resumed)
    assert not set(first.assessed) & set(resumed.assessed)
    assert len(first.assessed) + len(resumed.assessed) == len(PLANTED)
    assert outcome.chosen.candidate == BEST
    again = FakeEvaluator(FakeClock())
    assert _search(tmp_path, again).chosen.candidate == BEST and again.assessed == [] and again.timed == []


def test_no_stage_starts_once_the_time_budget_is_spent(tmp_path) -> None:
    evaluator = FakeEvaluator(FakeClock())
    outcome = _search(tmp_path, evaluator, time_budget=25)
    # assess (10) and time (10) the first chain, assess the second (10): 30 s, over 25, then stop
    assert len(evaluator.assessed) == 2 and outcome.stopped == "time budget"
    assert sum(t.stage >= ASSESSED for t in outcome.trials) == 2


def test_one_progress_line_per_stage_of_each_trial(tmp_path) -> None:
    lines: list[str] = []
    _search(tmp_path, FakeEvaluator(FakeClock()), report=lines.append)
    assert lines[0].startswith(f"search 1/{len(PLANTED)} assess ") and "validation 0.8990" in lines[0]
    assert sum(" assess " in line for line in lines) == len(PLANTED)
    assert lines[-1].startswith("search: 6/6 assessed, 6 timed; chosen " + BEST.name)


def test_no_chain_is_chosen_when_none_meets_the_floor(tmp_path) -> None:
    evaluator = FakeEvaluator(FakeClock())
    evaluator.baseline_accuracy = 0.95
    outcome = _search(tmp_path, evaluator)
    assert outcome.chosen is None and all(t.stage == TIMED for t in outcome.trials)
    assert choose(outcome.trials, Goal(max_accuracy_drop=0.07), 0.95).candidate == Candidate("distilled")


def test_a_refined_speed_up_that_ranks_lower_is_not_refined_again_on_resume(tmp_path) -> None:
    class Slower(FakeEvaluator):
        def time(self, candidate: Candidate, full: bool) -> Speed:
            speed = super().time(candidate, full)  # the full-length timing finds the best chain slower
            return Speed(speed.estimate / 2, speed.low / 2, speed.high / 2) if full else speed

    first = Slower(FakeClock())
    _search(tmp_path, first, refine_fraction=0.25)
    assert [c for c, full in first.timed if full] == [BEST]
    again = Slower(FakeClock())
    _search(tmp_path, again, refine_fraction=0.25)
    assert again.timed == [] and again.assessed == []
