"""The cost figure's parts that need no valgrind run: dump parsing, per-query arithmetic, set-up errors."""

from __future__ import annotations

import ctypes
import math
import shutil
from pathlib import Path

import pytest

from compressors.measure import cost
from compressors.measure.cost import CostRequest, CostUnavailable, client_requests_library, cost_of, parse_callgrind_totals

DUMP = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
cmd: python -m compressors.measure.cost_worker
desc: Trigger: Client Request: frontier
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
fn=(1) main
0 5 1 1
summary: 88643700 20000000 9000000 400 1200 300 51 2000 60
totals: 88643700 20000000 9000000 400 1200 300 51 2000 60
"""


def test_totals_pair_the_event_names_with_the_summary_line() -> None:
    totals = parse_callgrind_totals(DUMP)
    assert totals["Ir"] == 88_643_700
    assert totals["DLmr"] == 2000 and totals["ILmr"] == 51 and totals["DLmw"] == 60


def test_cost_per_query_divides_instructions_and_last_level_misses() -> None:
    instructions, misses = cost_of(parse_callgrind_totals(DUMP), 20)
    assert instructions == 4_432_185.0
    assert misses == (51 + 2000 + 60) / 20


def test_without_cache_simulation_misses_are_nan() -> None:
    instructions, misses = cost_of(parse_callgrind_totals("events: Ir\nsummary: 1000\n"), 4)
    assert instructions == 250.0 and math.isnan(misses)


@pytest.mark.parametrize("text", ["", "events: Ir\n", "summary: 12\n"])
def test_a_file_that_is_no_dump_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a callgrind dump"):
        parse_callgrind_totals(text)


def test_no_queries_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one query"):
        cost_of({"Ir": 10}, 0)


def test_without_valgrind_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost.shutil, "which", lambda name: None)
    with pytest.raises(CostUnavailable, match=r"apt-get install valgrind"):
        cost.require_valgrind()


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
@pytest.mark.skipif(not cost.VALGRIND_HEADERS.exists(), reason="valgrind's headers are not installed")
def test_client_requests_compile_once_and_do_nothing_outside_valgrind(tmp_path: Path) -> None:
    library = client_requests_library(tmp_path)
    assert client_requests_library(tmp_path) == library
    requests = ctypes.CDLL(str(library))
    assert requests.compressors_running_on_valgrind() == 0
    requests.compressors_start()  # a no-op outside valgrind
    requests.compressors_dump(b"label")


def test_a_request_travels_as_json() -> None:
    request = CostRequest("frontier", Path("/cache/oos-threshold-1"), ("hello", "book a flight"), attention="eager")
    message = request.to_json()
    assert message["artifact"] == "/cache/oos-threshold-1" and message["queries"] == ["hello", "book a flight"]
    assert message["attention"] == "eager" and message["repeat_factor"] == 1.0
