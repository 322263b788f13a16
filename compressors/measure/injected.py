"""A test-only regression that adds real work: a predictor that runs its model again on a share of calls.

A sleeping or spinning wrapper slows the wall clock but not the instruction count, so only a
regression that does more inference shows in every figure the gate reads (wall clock and cost
alike). `RepeatedWork(inner, factor)` answers as `inner` does and, on a deterministic share
`factor - 1` of its calls, runs `inner` once more (more than once per call when the factor
exceeds 2). No torch here: the cost worker wraps its predictor with it in its own process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Largest factor accepted: a regression of 100x is a broken run, not a test of the gate.
MAX_FACTOR = 100.0


def check_factor(factor: float) -> float:
    """`factor` when it is in [1, MAX_FACTOR); ValueError otherwise."""
    if not 1.0 <= factor < MAX_FACTOR:
        raise ValueError(f"the factor must be in [1, {MAX_FACTOR:g}), e.g. 1.25, got {factor!r}")
    return factor


class RepeatedWork:
    """Runs the inner predictor `factor` times per call on average, every extra run a real inference.

    The extra runs are spread evenly and deterministically: factor 1.25 runs one extra inference
    on every 4th call, factor 2 on every call, factor 2.5 two extra on every other call.
    """

    def __init__(self, inner: Any, factor: float) -> None:
        self.inner, self.factor = inner, check_factor(factor)
        self._owed = 0.0

    def _extra_runs(self) -> int:
        # Accumulate the share owed; the tolerance keeps 4 x 0.25 from landing just under 1.
        self._owed += self.factor - 1.0
        runs = int(self._owed + 1e-9)
        self._owed -= runs
        return runs

    def logits(self, texts: Sequence[str]):
        result = self.inner.logits(texts)
        for _ in range(self._extra_runs()):
            self.inner.logits(texts)
        return result

    def __call__(self, text: str) -> int:
        result = self.inner(text)
        for _ in range(self._extra_runs()):
            self.inner(text)
        return result
