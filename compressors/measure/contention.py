"""How busy the rest of the machine was while something was timed.

Pairing cancels load that slows the baseline's and a variant's blocks alike, not load that slows
them unequally (a memory-bound fp32 model and a compute-bound int8 one answer differently to a
neighbour on the same cores). The gate therefore needs to know whether a run was timed on a quiet
machine: `others_share` is the share of the machine's CPU time that went to other processes (and
to the hypervisor, as steal time) over an interval, from `/proc/stat` minus this process's own
CPU time. Where `/proc/stat` cannot be read it is NaN: unknown, which the gate treats as busy.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

PROC_STAT = Path("/proc/stat")
# /proc/stat's aggregate "cpu" line: user nice system idle iowait irq softirq steal [guest guest_nice];
# guest time is already counted in user and nice.
_IDLE_FIELDS = (3, 4)
_COUNTED_FIELDS = 8

T = TypeVar("T")


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU times, in seconds: the machine's busy and total time, and this process's own."""

    busy: float
    total: float
    own: float


def parse_cpu_line(line: str, ticks_per_second: float) -> tuple[float, float]:
    """(busy, total) seconds of all CPUs from the aggregate `cpu` line of /proc/stat."""
    parts = line.split()
    if not parts or parts[0] != "cpu" or len(parts) < 5:
        raise ValueError(f"not the aggregate cpu line of /proc/stat: {line[:60]!r}")
    ticks = [int(value) for value in parts[1 : 1 + _COUNTED_FIELDS]]
    total = sum(ticks)
    idle = sum(ticks[i] for i in _IDLE_FIELDS if i < len(ticks))
    return (total - idle) / ticks_per_second, total / ticks_per_second


def snapshot(stat_path: Path = PROC_STAT) -> CpuSnapshot | None:
    """The machine's and this process's CPU times now; None where /proc/stat is unreadable."""
    try:
        with open(stat_path) as handle:
            line = handle.readline()
        busy, total = parse_cpu_line(line, os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None
    return CpuSnapshot(busy, total, time.process_time())


def others_share(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float:
    """The share (0 to 1) of the machine's CPU time between two snapshots that other processes used; NaN if unknown."""
    if before is None or after is None or after.total <= before.total:
        return math.nan
    others = (after.busy - before.busy) - (after.own - before.own)
    return min(1.0, max(0.0, others / (after.total - before.total)))


def while_measuring(measure: Callable[[], T], stat_path: Path = PROC_STAT) -> tuple[T, float]:
    """`measure()`'s result and the share of the machine other processes used while it ran."""
    before = snapshot(stat_path)
    result = measure()
    return result, others_share(before, snapshot(stat_path))
