"""What the user asks of a search: the accuracy floor and what to gain (speed, size, or both).

The floor is a largest drop of validation accuracy (served through the out-of-scope decision)
below the baseline's, as a fraction (0.005) or in points ("0.5%"). The objective orders the
chains that meet it: "speed" the fastest (then the smallest), "size" the smallest (then the
fastest), "both" the largest speed-up times compression (speed-up / size ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compressors.names import did_you_mean

OBJECTIVES = ("speed", "size", "both")
DEFAULT_DROP = 0.005


def parse_drop(value: object) -> float:
    """A floor from 0.005, "0.005" or "0.5%" (points); a one-line ValueError otherwise."""
    text = str(value).strip()
    try:
        drop = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        drop = math.nan
    if isinstance(value, bool) or not 0 <= drop < 1:
        raise ValueError(f"max_accuracy_drop must be a fraction in [0, 1) such as 0.005, or points such as '0.5%'; got {value!r}")
    return drop


def parse_objective(value: object) -> str:
    """"speed", "size" or "both"; a one-line ValueError with the nearest name otherwise."""
    if value not in OBJECTIVES:
        hint = did_you_mean(value, OBJECTIVES) if isinstance(value, str) else ""
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {value!r}{hint}")
    return str(value)


@dataclass(frozen=True)
class Goal:
    """The floor and the objective of a search.

    Attributes:
        max_accuracy_drop: largest validation accuracy drop below the baseline's served accuracy.
        objective: "speed", "size" or "both".
    """

    max_accuracy_drop: float = DEFAULT_DROP
    objective: str = "speed"

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_accuracy_drop", parse_drop(self.max_accuracy_drop))
        parse_objective(self.objective)

    def meets_floor(self, accuracy: float, baseline_accuracy: float) -> bool:
        """Whether a validation accuracy is within the floor (a tiny tolerance for float sums)."""
        return baseline_accuracy - accuracy <= self.max_accuracy_drop + 1e-12

    def score(self, speedup: float, size_ratio: float) -> tuple[float, float]:
        """A sort key, larger is better, for chains that meet the floor."""
        if self.objective == "speed":
            return speedup, -size_ratio
        if self.objective == "size":
            return -size_ratio, speedup
        return speedup / size_ratio, speedup
