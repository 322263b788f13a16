"""The one record of a variant's figures: written to extra_info and read back unchanged; the book's table."""

from __future__ import annotations

import json
import math

from compressors.measure.figures import TABLE_COLUMNS, CheckRecord, Figures, figures_table, format_number

FULL = Figures(
    "frontier", accuracy=0.84, in_scope_accuracy=0.94, oos_recall=0.40, accuracy_batched=0.839, accuracy_path="batch size 1",
    batch_agreement=0.998, size_bytes=9_000_000, p50_ms=0.7, p90_ms=1.1, p99_ms=1.6, mean_ms=0.8, std_ms=0.2,
    speedup=9.7, speedup_low=9.5, speedup_high=9.9, p50_ratio=18.4, paired_ratios=(0.1, 0.11), machine_load=0.04, size_ratio=0.098,
    instructions_per_query=4.27e6, cost_ratio=4.42, cost_isa="AVX2",
    accuracy_drop=0.036, oos_recall_drop=0.11, accuracy_drop_vs_source=0.017, throughput_qps=748.0,
    throughput_batch_size=32, threads=1, serving="onnxruntime", artifact="abc", artifact_key="ort-int8-dynamic-1",
    checks=(CheckRecord("min_cost_ratio", "cost_ratio", 3.64, 4.42, "ok"),),
    violations=("broken",), shortfalls=("short",), meta={"kept": "fused", "vocab_size": 7863},
)


def test_the_record_survives_the_saved_json() -> None:
    info = json.loads(json.dumps(FULL.to_extra_info()))
    assert info["size_mb"] == 9.0 and info["meta_kept"] == "fused" and info["paired_ratios"] == [0.1, 0.11]
    assert info["checks"] == [{"key": "min_cost_ratio", "figure": "cost_ratio", "limit": 3.64, "value": 4.42, "status": "ok"}]
    assert Figures.from_extra_info("frontier", info).checks == FULL.checks
    assert Figures.from_extra_info("frontier", info) == FULL


def test_an_older_or_partial_record_reads_as_nan_not_as_a_number() -> None:
    figures = Figures.from_extra_info("old", {"accuracy": 0.9, "size_mb": 12.0, "speedup": "fast", "paired_ratios": None})
    assert figures.accuracy == 0.9 and figures.size_bytes == 12e6
    assert math.isnan(figures.speedup) and math.isnan(figures.oos_recall) and figures.paired_ratios == ()


def test_the_table_has_the_books_columns_and_shows_missing_figures_as_na() -> None:
    lines = figures_table([FULL, Figures("empty")]).splitlines()
    assert lines[0] == "| " + " | ".join(TABLE_COLUMNS) + " |"
    assert lines[2].startswith("| frontier | 0.8400 | 3.60 | 0.9400 | 0.4000 | 9.0 | 0.70 | 1.10 | 1.60 | 9.70 [9.50, 9.90] | 4.42 | 18.40 | 0.098 | 748 |")
    assert lines[3] == "| empty | " + " | ".join(["n/a"] * (len(TABLE_COLUMNS) - 1)) + " |"
    assert format_number(float("nan")) == "n/a" and format_number(True) == "n/a" and format_number(0.5, ".1f") == "0.5"


def test_stored_infinities_and_malformed_checks_read_back_as_missing() -> None:
    info = FULL.to_extra_info() | {"speedup": float("inf"), "checks": [{"key": "min_cost_ratio"}, "junk"]}
    figures = Figures.from_extra_info("frontier", info)
    assert figures.speedup != figures.speedup and figures.checks == ()
