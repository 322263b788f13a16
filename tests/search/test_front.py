"""The front: which chains no other beats on accuracy, speed and size at once; its table, JSON and plot."""

from __future__ import annotations

import json

from compressors.chains.goal import Goal
from compressors.chains.space import Candidate
from compressors.search.front import format_front, front_names, write_front
from compressors.search.runner import Outcome
from compressors.search.store import ASSESSED, REFINED, TIMED, Trial


def _trial(candidate: Candidate, accuracy: float, size: float, speedup: float, stage: int = TIMED) -> Trial:
    return Trial(candidate, stage, accuracy, size, speedup, speedup * 0.9, speedup * 1.1)


FAST = _trial(Candidate("distilled", trim=True), 0.88, 0.09, 9.0)
CHOSEN = _trial(Candidate("baseline", trim=True), 0.899, 0.2, 5.0, REFINED)
DOMINATED = _trial(Candidate("baseline", quantization="ort-static"), 0.895, 0.26, 4.0)  # CHOSEN beats it on all three
SLOW_TORCH = _trial(Candidate("baseline", quantization="torch-dynamic"), 0.90, 1.2, 0.9)  # slower and larger than the baseline
UNTIMED = _trial(Candidate("distilled"), 0.87, 0.2, float("nan"), ASSESSED)
OUTCOME = Outcome((FAST, CHOSEN, DOMINATED, SLOW_TORCH, UNTIMED), CHOSEN, 0.90)


def test_the_front_holds_the_chains_nothing_beats_on_every_figure() -> None:
    # SLOW_TORCH is as accurate as the baseline but slower and larger than it: the baseline dominates it
    assert front_names(OUTCOME) == {FAST.name, CHOSEN.name}


def test_the_table_lists_timed_chains_fastest_first_with_the_front_and_the_choice() -> None:
    table = format_front(OUTCOME, Goal())
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[0] for row in rows] == [f"| **{FAST.name}**", f"| **{CHOSEN.name}**", f"| {DOMINATED.name}",
                                                     f"| {SLOW_TORCH.name}"]
    assert "| below |" in rows[0] and rows[1].endswith("| full | chosen |")
    assert f"- {UNTIMED.name}: validation 0.8700" in table


def test_the_front_is_written_as_strict_json_a_table_and_a_plot(tmp_path) -> None:
    paths = write_front(OUTCOME, Goal(), {"profile": "small"}, tmp_path / "out")
    saved = json.loads(paths[0].read_text(), parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert saved["chosen"] == CHOSEN.name and saved["goal"] == {"max_accuracy_drop": 0.005, "objective": "speed"}
    by_name = {t["name"]: t for t in saved["trials"]}
    assert by_name[FAST.name]["on_front"] and not by_name[FAST.name]["meets_floor"]
    assert by_name[UNTIMED.name]["speedup"] is None
    assert paths[1].read_text() == format_front(OUTCOME, Goal())
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
