"""Budgets from a first run: turn a user's measured figures into their own limits, so that their
second run is gated on their data rather than on the reference case's floors.

Each limit is the measured figure moved by a margin in the direction that loosens it: the
speed-up from the low end of its measured 95% interval, shares (accuracy, recall, agreement) and
drops by an absolute `drop_margin`, sizes and instruction counts by a relative `margin`. A
wall-clock p50 is left out: it holds on one host only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compressors.measure.budgets import LIMITS_BY_KEY, Direction
from compressors.measure.figures import BASELINE, Figures

SKIPPED_KEYS = ("max_p50_ms",)


@dataclass(frozen=True)
class Margins:
    """How far below (or above) the measured figure a first run's limits sit."""

    margin: float = 0.1
    drop_margin: float = 0.01

    def __post_init__(self) -> None:
        for name in ("margin", "drop_margin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a number in [0, 1), got {value!r}")


def limits_from_figures(figures: Figures, margins: Margins) -> dict[str, float]:
    """Budget key -> limit for one variant's measured figures (keys with no finite figure are left out)."""
    limits = {}
    for key, kind in LIMITS_BY_KEY.items():
        if key in SKIPPED_KEYS or (kind.relative and figures.variant == BASELINE):
            continue
        value = float(getattr(figures, kind.figure))
        if key == "min_speedup" and math.isfinite(figures.speedup_low):
            value = min(value, figures.speedup_low)  # the low end of the measured interval
        if not math.isfinite(value):
            continue
        absolute = kind.fraction or kind.figure.endswith("_drop") or kind.figure.endswith("drop_vs_source")
        if kind.direction is Direction.MIN:
            limit = value - margins.drop_margin if absolute else value * (1 - margins.margin)
        else:
            limit = value + margins.drop_margin if absolute else value * (1 + margins.margin)
        limit = max(limit, 0.0)
        if kind.fraction:
            limit = min(limit, 1.0)
        limits[key] = float(f"{limit:.6g}")
    return limits


def budgets_toml(profile: str, figures: list[Figures], margins: Margins, source: str) -> str:
    """A budgets file with one `[<profile>.<variant>]` table per variant, each limit's measured value in a comment."""
    lines = [
        f"# Budgets from the measured run {source} (profile {profile}): each limit is the measured figure",
        f"# moved by margin {margins.margin:g} (relative) or drop margin {margins.drop_margin:g} (absolute; the",
        "# speed-up from the low end of its 95% interval). Review them; wall-clock p50 limits are left out.",
    ]
    for f in figures:
        limits = limits_from_figures(f, margins)
        if not limits:
            continue
        lines += ["", f"[{profile}.{f.variant}]"]
        for key, limit in limits.items():
            measured = float(getattr(f, LIMITS_BY_KEY[key].figure))
            lines.append(f"{key} = {limit!r}".ljust(40) + f"# measured {measured:.6g}")
    return "\n".join(lines) + "\n"
