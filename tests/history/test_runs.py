"""Saved runs: reading pytest-benchmark's JSON, ordering, choosing the latest passing run, saving."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from saved_runs_support import GROUP, make_run, write_run

from compressors.history.runs import (
    GATE_KEY,
    HistoryError,
    SavedRun,
    default_tag,
    find_run,
    latest_passing,
    load_run,
    load_runs,
    machine_id,
    pin_reference,
    reference_run,
    save_run,
)


def passed(data: dict) -> dict:
    return {**data, GATE_KEY: {"passed": True}}


def test_figures_come_from_extra_info_and_samples_from_stats(tmp_path) -> None:
    data = make_run(1)
    run = load_run(write_run(tmp_path / "run.json", data))
    assert list(run.benchmarks) == ["baseline", "student", "distilled"]
    distilled = run.benchmarks["distilled"]
    info = data["benchmarks"][2]["extra_info"]
    figures = distilled.figures()
    assert (figures.accuracy, figures.size_bytes, figures.speedup) == (info["accuracy"], info["size_bytes"], info["speedup"])
    assert figures.paired_ratios == tuple(info["paired_ratios"]) and len(figures.paired_ratios) == 30
    assert len(distilled.samples_ms) == 60
    assert distilled.samples_ms[0] == pytest.approx(data["benchmarks"][2]["stats"]["data"][0] * 1e3)
    assert run.groups == {GROUP}


def test_runs_saved_without_data_have_no_samples(tmp_path) -> None:
    run = load_run(write_run(tmp_path / "run.json", make_run(1, include_data=False)))
    assert run.benchmarks["student"].samples_ms == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "not a JSON file"), ('{"benchmarks": []}', r"not a pytest-benchmark run \(missing \['datetime', 'machine_info'\]\)"), ("[]", "not a pytest-benchmark run")],
)
def test_unreadable_runs_name_the_file(tmp_path, content, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(HistoryError, match=message) as error:
        load_run(path)
    assert "bad.json" in str(error.value)
    with pytest.raises(HistoryError, match="does not exist"):
        load_run(tmp_path / "missing.json")


def test_machine_id_matches_pytest_benchmark() -> None:
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
    from pytest_benchmark.utils import get_machine_id

    assert machine_id(pytest_benchmark_generate_machine_info()) == get_machine_id()
    assert machine_id(make_run(1)["machine_info"]) == "Linux-CPython-3.11-64bit"


def test_save_numbers_runs_like_pytest_benchmark_and_leaves_no_temporary_files(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    first = save_run(make_run(1), storage, "one")
    second = save_run(make_run(2), storage, "two")
    assert (first.relative_to(storage).as_posix(), second.name) == ("Linux-CPython-3.11-64bit/0001_one.json", "0002_two.json")
    assert sorted(p.name for p in first.parent.iterdir()) == ["0001_one.json", "0002_two.json"]
    assert json.loads(second.read_text())["datetime"] == make_run(2)["datetime"]
    with pytest.raises(HistoryError, match="must be letters"):
        save_run(make_run(3), storage, "a/b")


def test_pytest_benchmark_storage_reads_saved_runs(tmp_path) -> None:
    from pytest_benchmark.storage.file import FileStorage

    storage = tmp_path / ".benchmarks"
    save_run(passed(make_run(1)), storage, "one")
    loaded = list(FileStorage(storage, logger=logging.getLogger("test"), default_machine_id="Linux-CPython-3.11-64bit").load())
    assert [str(path) for path, _ in loaded] == ["Linux-CPython-3.11-64bit/0001_one.json"]
    assert len(loaded[0][1]["benchmarks"]) == 3


def test_load_runs_orders_by_time_and_keeps_the_gated_copy_of_a_run(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    save_run(passed(make_run(3)), storage, "three")
    save_run(passed(make_run(1)), storage, "one")
    current = write_run(tmp_path / "current.json", make_run(3))
    runs = load_runs([current, storage])
    assert [r.name for r in runs] == ["0002_one", "0001_three"]
    assert runs[-1].passed
    with pytest.raises(HistoryError, match="no such run file"):
        load_runs([tmp_path / "nope"])


def test_latest_passing_skips_failed_ungated_newer_and_other_groups(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    save_run(passed(make_run(1)), storage, "old")
    save_run(passed(make_run(2)), storage, "good")
    save_run(make_run(3), storage, "autosaved")  # saved by --benchmark-autosave, never gated
    save_run({**make_run(4), GATE_KEY: {"passed": False}}, storage, "failed")
    other = make_run(5)
    for bench in other["benchmarks"]:
        bench["group"] = "full bs=1 threads=1"
    save_run(passed(other), storage, "full-profile")
    save_run(passed(make_run(9)), storage, "newer")
    current = load_run(write_run(tmp_path / "current.json", make_run(6)))
    assert latest_passing(load_runs([storage]), current) == (load_run(storage / "Linux-CPython-3.11-64bit" / "0002_good.json"), [])
    assert latest_passing([], current) == (None, [])


def test_latest_passing_prefers_the_same_machine_and_libraries_and_says_when_it_cannot(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    save_run(passed(make_run(1)), storage, "same")
    save_run(passed(make_run(2, machine={"cpu_model": "Intel Xeon"})), storage, "other-cpu")
    save_run(passed(make_run(3, machine={"versions": {"torch": "2.14.0"}})), storage, "other-torch")
    current = load_run(write_run(tmp_path / "current.json", make_run(4)))
    run, reasons = latest_passing(load_runs([storage]), current)
    assert run.name == "0001_same" and reasons == []
    elsewhere = load_run(write_run(tmp_path / "elsewhere.json", make_run(5, machine={"cpu_model": "AMD Ryzen"})))
    run, reasons = latest_passing(load_runs([storage]), elsewhere)
    assert run.name == "0003_other-torch"
    assert reasons[0] == "cpu_model 'AMD EPYC' -> 'AMD Ryzen'" and "library versions" in reasons[1]


def test_the_reference_is_the_pinned_run_else_the_oldest_passing_one(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    for index in (1, 2, 3):
        save_run(passed(make_run(index)), storage, f"run{index}")
    current = load_run(write_run(tmp_path / "current.json", make_run(4)))
    runs = load_runs([storage])
    assert reference_run(storage, runs, current).name == "0001_run1"
    pin_reference(storage, runs[1])
    assert reference_run(storage, runs, current).name == "0002_run2"
    (storage / "reference.json").write_text('{"run": "0009_gone"}')
    with pytest.raises(HistoryError, match="pinned reference run '0009_gone' is not in"):
        reference_run(storage, runs, current)


def test_an_unreadable_file_in_a_storage_is_named_and_skipped(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    save_run(passed(make_run(1)), storage, "good")
    (storage / "Linux-CPython-3.11-64bit" / "0002_broken.json").write_text("{ truncated")
    skipped: list[str] = []
    assert [r.name for r in load_runs([storage], skipped)] == ["0001_good"]
    assert len(skipped) == 1 and "0002_broken.json: not a JSON file" in skipped[0]
    with pytest.raises(HistoryError, match="not a JSON file"):
        load_runs([storage / "Linux-CPython-3.11-64bit" / "0002_broken.json"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"datetime": "yesterday"}, "'datetime' 'yesterday' is not an ISO date and time"),
        ({"datetime": "2026-01-01T15:00:00"}, "has no time zone"),
        ({"benchmarks": {"a": 1}}, "'benchmarks' must be a list"),
    ],
)
def test_a_stored_run_with_a_malformed_field_is_skipped_with_its_file_and_reason(tmp_path, change, reason) -> None:
    # Before: a malformed datetime raised while sorting, and every later gate exited 2.
    storage = tmp_path / ".benchmarks"
    save_run(passed(make_run(1)), storage, "good")
    save_run({**passed(make_run(2)), **change}, storage, "bad")
    save_run(passed(make_run(3)), storage, "later")
    skipped: list[str] = []
    assert [r.name for r in load_runs([storage], skipped)] == ["0001_good", "0003_later"]
    assert len(skipped) == 1 and "0002_bad.json" in skipped[0] and reason in skipped[0]


def test_find_run_by_number_name_or_path(tmp_path) -> None:
    storage = tmp_path / ".benchmarks"
    path = save_run(make_run(1), storage, "one")
    save_run(make_run(2), storage, "two")
    assert find_run(storage, "0001").path == path
    assert find_run(storage, "0002_two").name == "0002_two"
    assert find_run(storage, str(path)).path == path
    with pytest.raises(HistoryError, match="'0007': no run matches"):
        find_run(storage, "0007")


def test_default_tag_follows_autosave() -> None:
    data = make_run(2)
    assert default_tag(SavedRun(Path("run.json"), data)) == "unversioned_20260101_140000"
    data["commit_info"] = {"id": "abc123", "dirty": True}
    assert default_tag(SavedRun(Path("run.json"), data)) == "abc123_20260101_140000_uncommitted-changes"
