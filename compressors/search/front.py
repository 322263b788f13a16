"""The Pareto front of a search (validation accuracy vs speed-up vs size) as JSON, a Markdown table and a plot.

A timed chain is on the front when no other timed chain (the baseline included, at 1x speed
and 1x size) is at least as accurate on validation, as fast and as small, and better on one.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.artifacts import write_atomic
from compressors.chains.goal import Goal
from compressors.history.pareto import Point, pareto_front
from compressors.measure.figures import BASELINE
from compressors.search.runner import Outcome, describe_trial
from compressors.search.store import REFINED, TIMED, Trial

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FRONT_JSON, FRONT_TABLE, FRONT_PLOT = "front.json", "front.md", "front.png"


def front_names(outcome: Outcome) -> set[str]:
    """Names of the timed chains on the front (the baseline competes as a point but is not named)."""
    points = [Point(BASELINE, outcome.baseline_accuracy, 1.0, 1.0)]
    points += [Point(t.name, t.validation_accuracy, 1 / t.speedup, t.size_ratio) for t in _timed(outcome.trials)]
    return {p.name for p in pareto_front(points)} - {BASELINE}


def _timed(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.stage >= TIMED and not t.error and t.speedup > 0]


def front_json(outcome: Outcome, goal: Goal, study: dict[str, Any]) -> dict[str, Any]:
    """Everything the search found, with the front and the choice marked: what a later search starts from."""
    front = front_names(outcome)
    return {
        "study": study,
        "goal": {"max_accuracy_drop": goal.max_accuracy_drop, "objective": goal.objective},
        "baseline_validation_accuracy": outcome.baseline_accuracy,
        "chosen": outcome.chosen.name if outcome.chosen else None,
        "stopped": outcome.stopped,
        "trials": [{**t.to_json(), "name": t.name, "on_front": t.name in front,
                    "meets_floor": t.stage > 0 and not t.error and goal.meets_floor(t.validation_accuracy, outcome.baseline_accuracy)}
                   for t in outcome.trials],
    }


def format_front(outcome: Outcome, goal: Goal) -> str:
    """The timed chains as a Markdown table, fastest first; the front and the choice marked."""
    front, base = front_names(outcome), outcome.baseline_accuracy
    lines = [
        f"Chain search: validation accuracy (served), size and speed-up against the baseline (validation "
        f"{base:.4f}); floor {goal.max_accuracy_drop:.4f} below it, objective {goal.objective}. "
        "**bold**: on the Pareto front; chosen: the chain that meets the floor, best by the objective.",
        "",
        "| chain | validation | drop | floor | size | speed-up | timing | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in sorted(_timed(outcome.trials), key=lambda t: -t.speedup):
        name = f"**{t.name}**" if t.name in front else t.name
        meets = "meets" if goal.meets_floor(t.validation_accuracy, base) else "below"
        mark = "chosen" if outcome.chosen is not None and t.name == outcome.chosen.name else ""
        lines.append(f"| {name} | {t.validation_accuracy:.4f} | {base - t.validation_accuracy:+.4f} | {meets} | {t.size_ratio:.3f}x | "
                     f"{t.speedup:.2f}x [{t.speedup_low:.2f}, {t.speedup_high:.2f}] | {'full' if t.stage >= REFINED else 'short'} | {mark} |")
    untimed = [t for t in outcome.trials if t not in _timed(outcome.trials)]
    if untimed:
        lines += ["", "Not timed:", ""] + [f"- {t.name}: {describe_trial(t, base, goal)}" for t in untimed]
    return "\n".join(lines) + "\n"


def front_figure(outcome: Outcome, goal: Goal) -> Figure:
    """Validation accuracy against speed-up (log scale), marker area and colour by size; the front ringed, the floor dashed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=120, layout="constrained")
    axes = figure.subplots()
    timed, front = _timed(outcome.trials), front_names(outcome)
    base = outcome.baseline_accuracy
    scatter = axes.scatter([t.speedup for t in timed], [100 * t.validation_accuracy for t in timed],
                           s=[20 + 200 * t.size_ratio for t in timed], c=[t.size_ratio for t in timed], cmap="viridis",
                           alpha=0.7, edgecolors="none")
    figure.colorbar(scatter, ax=axes, label="size / baseline size")
    # The front is three-dimensional (size too): ringed, not joined, since a line over two axes would mislead.
    on_front = [t for t in timed if t.name in front]
    axes.scatter([t.speedup for t in on_front], [100 * t.validation_accuracy for t in on_front],
                 s=[20 + 200 * t.size_ratio for t in on_front], facecolors="none", edgecolors="black", linewidths=1.2,
                 label="on the Pareto front (accuracy, speed, size)")
    axes.scatter([1.0], [100 * base], marker="s", color="black", label=f"{BASELINE} (1x)")
    axes.axhline(100 * (base - goal.max_accuracy_drop), linestyle="--", color="grey", label=f"floor (-{100 * goal.max_accuracy_drop:g} points)")
    if outcome.chosen is not None:
        c = outcome.chosen
        axes.scatter([c.speedup], [100 * c.validation_accuracy], marker="*", s=300, color="red", label=f"chosen: {c.name}")
    axes.set_xscale("log")
    axes.set(xlabel="speed-up vs baseline (x, log scale)", ylabel="validation accuracy (%)", title="chains explored")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small", loc="best")
    return figure


def write_front(outcome: Outcome, goal: Goal, study: dict[str, Any], out: Path) -> tuple[Path, Path, Path]:
    """Write front.json, front.md and front.png into `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / FRONT_JSON, out / FRONT_TABLE, out / FRONT_PLOT
    write_atomic(paths[0], (json.dumps(_finite(front_json(outcome, goal, study)), indent=1) + "\n").encode())
    write_atomic(paths[1], format_front(outcome, goal).encode())
    buffer = io.BytesIO()
    front_figure(outcome, goal).savefig(buffer, format="png")
    write_atomic(paths[2], buffer.getvalue())
    return paths


def _finite(value: Any) -> Any:
    """NaN (a figure not measured) as null: strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value
