"""Progress of long builds as log lines: what runs, how far it is, time elapsed and left.

Progress bars on stderr vanish under pytest's capture and in CI logs. These log records, on the
`compressors.progress` logger, reach the pytest terminal through the benchmark plugin (and any
logging handler elsewhere), at most one every `interval` seconds per task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from compressors.artifacts import format_duration

logger = logging.getLogger("compressors.progress")

DEFAULT_INTERVAL = 30.0


class Progress:
    """Counts the steps of one task and logs where it is, throttled.

    Args:
        task: what runs, e.g. "fine-tune" or "distill a=0.55 T=14.9".
        total: number of steps.
        unit: what a step is, for the message ("step", "trial", ...).
        interval: least seconds between two log lines (the first and last are always logged).
        clock: the time source (a fake one in tests).
    """

    def __init__(
        self,
        task: str,
        total: int,
        unit: str = "step",
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 1:
            raise ValueError(f"a task needs at least one {unit}, got total={total}")
        self.task, self.total, self.unit, self.interval, self.clock = task, total, unit, interval, clock
        self.done = 0
        self.started = clock()
        self._last_logged: float | None = None
        logger.info("%s: started, %d %ss", task, total, unit)

    def advance(self, steps: int = 1, **facts: object) -> None:
        """Count `steps` more; log if the interval has passed or the task is done."""
        self.done = min(self.total, self.done + steps)
        now = self.clock()
        if self.done == self.total or self._last_logged is None or now - self._last_logged >= self.interval:
            self._last_logged = now
            logger.info("%s", self.message(now, facts))

    def message(self, now: float, facts: dict[str, object] | None = None) -> str:
        """`task: 40/120 steps (33%), 2 min 00 s elapsed, ETA 4 min 00 s, loss=0.53`."""
        elapsed = now - self.started
        text = f"{self.task}: {self.done}/{self.total} {self.unit}s ({self.done / self.total:.0%}), {format_duration(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", ETA {format_duration(elapsed / self.done * (self.total - self.done))}"
        if facts:
            text += ", " + ", ".join(f"{k}={v}" for k, v in facts.items())
        return text
