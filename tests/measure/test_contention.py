"""The share of the machine other processes used while something was timed."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from compressors.measure.contention import CpuSnapshot, others_share, parse_cpu_line, snapshot, while_measuring

HZ = 100.0


def test_the_aggregate_line_gives_busy_and_total_seconds_idle_and_iowait_excluded_steal_counted() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy, total = parse_cpu_line("cpu  100 5 20 800 50 1 2 22 7 0", HZ)
    assert busy == pytest.approx((100 + 5 + 20 + 1 + 2 + 22) / HZ)
    assert total == pytest.approx((100 + 5 + 20 + 800 + 50 + 1 + 2 + 22) / HZ)  # guest time is inside user


@pytest.mark.parametrize("line", ["cpu0 1 2 3 4 5", "intr 1 2 3", "", "cpu 1 2"])
def test_a_line_that_is_not_the_aggregate_one_is_refused(line) -> None:
    with pytest.raises(ValueError, match="not the aggregate cpu line"):
        parse_cpu_line(line, HZ)


def test_others_share_is_the_machine_busy_time_minus_our_own_over_the_total() -> None:
    before, after = CpuSnapshot(busy=10.0, total=100.0, own=2.0), CpuSnapshot(busy=15.0, total=110.0, own=4.0)
    assert others_share(before, after) == pytest.approx((5.0 - 2.0) / 10.0)
    # Our own time counted beyond the machine's busy time (tick rounding) is no negative load.
    assert others_share(before, CpuSnapshot(busy=11.0, total=110.0, own=4.0)) == 0.0


def test_others_share_is_unknown_without_both_snapshots_or_elapsed_time() -> None:
    sample = CpuSnapshot(1.0, 2.0, 0.5)
    assert math.isnan(others_share(None, sample)) and math.isnan(others_share(sample, None))
    assert math.isnan(others_share(sample, sample))


def test_while_measuring_returns_the_result_and_an_unknown_share_without_proc_stat(tmp_path: Path) -> None:
    result, share = while_measuring(lambda: 42, stat_path=tmp_path / "missing")
    assert result == 42 and math.isnan(share)
    assert snapshot(tmp_path / "missing") is None


def test_while_measuring_reads_the_stat_file_before_and_after(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    ticks = os.sysconf("SC_CLK_TCK")
    stat.write_text(f"cpu  {10 * ticks} 0 0 {90 * ticks} 0 0 0 0 0 0\n")

    def busy_neighbour() -> str:
        stat.write_text(f"cpu  {18 * ticks} 0 0 {92 * ticks} 0 0 0 0 0 0\n")  # 8 of 10 s busy, ours ~0
        return "done"

    result, share = while_measuring(busy_neighbour, stat_path=stat)
    assert result == "done" and share == pytest.approx(0.8, abs=0.01)
