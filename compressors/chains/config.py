"""The search's settings, and the suite config's [search] table that sets them.

    [search]
    max_accuracy_drop = 0.005        # or "0.5%": validation accuracy below the baseline's, at most
    objective = "speed"              # "size", or "both" (speed-up / size ratio)
    speed = "paired"                 # or "cost": instructions under valgrind, for a busy machine
    time_budget = "2h"               # seconds, or "90m", "2h"; "0" runs every candidate
    sources = ["baseline", "distilled", "pruned-structured"]
    students = [[0, 5], [0, 2, 5]]   # new students (teacher layers kept), trained
    shapes = [[6, 512]]              # new structured-pruning shapes (heads, neurons), trained
    trim = [false, true]
    quantizations = ["ort-dynamic", "ort-static"]
    per_channel = [false, true]
    reduce_range = [false, true]
    weight_types = ["int8", "uint8"]
    operators = [[], ["MatMul"]]
    graph_levels = ["all", "extended"]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from compressors.chains.goal import Goal
from compressors.chains.space import ChainSpace
from compressors.names import did_you_mean

SPEED_SIGNALS = ("paired", "cost")
GOAL_KEYS = ("max_accuracy_drop", "objective")
RUN_KEYS = ("speed", "time_budget", "refine_fraction")
SPACE_KEYS = tuple(f.name for f in fields(ChainSpace))
SEARCH_KEYS = (*GOAL_KEYS, *RUN_KEYS, *SPACE_KEYS)
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(value: object) -> float:
    """Seconds from 5400, "5400", "90m" or "1.5h"; 0 is no limit; a one-line ValueError otherwise."""
    text = str(value).strip().lower()
    unit = _UNITS.get(text[-1:], 0) if text else 0
    try:
        seconds = float(text[:-1] if unit else text) * (unit or 1)
    except ValueError:
        seconds = math.nan
    if isinstance(value, bool) or not 0 <= seconds < math.inf:
        raise ValueError(f"time budget must be seconds or a duration such as 90m or 2h (0: no limit); got {value!r}")
    return seconds


@dataclass(frozen=True)
class SearchConfig:
    """What a search explores and asks.

    Attributes:
        goal: the accuracy floor and the objective.
        space: the candidate chains.
        speed: "paired" (wall-clock speed-up against the baseline; a quiet machine) or "cost"
            (instructions per query under valgrind; any load).
        time_budget: seconds of searching before no new trial starts; 0 is no limit.
        refine_fraction: share of the chains that meet the floor (the best by the short timing)
            timed again at the profile's full paired length.
    """

    goal: Goal = field(default_factory=Goal)
    space: ChainSpace = field(default_factory=ChainSpace)
    speed: str = "paired"
    time_budget: float = 0.0
    refine_fraction: float = 1 / 3

    def __post_init__(self) -> None:
        if self.speed not in SPEED_SIGNALS:
            raise ValueError(f"speed must be {' or '.join(SPEED_SIGNALS)}; got {self.speed!r}{did_you_mean(str(self.speed), SPEED_SIGNALS)}")
        object.__setattr__(self, "time_budget", parse_duration(self.time_budget))
        if not 0 < self.refine_fraction <= 1:
            raise ValueError(f"refine_fraction must be in (0, 1], got {self.refine_fraction!r}")


def _tuples(value: object) -> object:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def parse_search_table(path: Path, values: object, base: SearchConfig | None = None) -> SearchConfig:
    """The [search] table of a suite config applied to `base`; one-line ValueErrors naming the file and key."""
    base = base or SearchConfig()
    if not isinstance(values, dict):
        raise ValueError(f"{path}: [search] must be a table of keys, got {values!r}")
    for key in values:
        if key not in SEARCH_KEYS:
            raise ValueError(f"{path}: [search] unknown key {key!r}{did_you_mean(key, SEARCH_KEYS)}; known keys: {list(SEARCH_KEYS)}")
    try:
        goal = replace(base.goal, **{k: values[k] for k in GOAL_KEYS if k in values})
        space = replace(base.space, **{k: _tuples(values[k]) for k in SPACE_KEYS if k in values})
        return replace(base, goal=goal, space=space, **{k: values[k] for k in RUN_KEYS if k in values})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: [search] {error}") from None
