"""Synthetic saved runs in pytest-benchmark's real JSON format, for the history, gate and report tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from pytest_benchmark.stats import Stats

from compressors.measure.figures import Figures
from compressors.measure.harness import latency_summary
from compressors.measure.paired import paired_speedup

GROUP = "small bs=1 threads=1"
START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
MACHINE = {
    "node": "ci",
    "processor": "",
    "machine": "x86_64",
    "python_implementation": "CPython",
    "python_version": "3.11.7",
    "release": "6.1.0",
    "system": "Linux",
    "cpu": {"arch": "X86_64", "bits": 64, "count": 2, "brand_raw": "AMD EPYC"},
    "cpu_model": "AMD EPYC",
    "cpu_count": 2,
    "int8_flags": {"avx2": True, "avx512f": True, "avx512_vnni": True},
    "threads": 1,
    "versions": {"torch": "2.13.0+cpu", "onnxruntime": "1.32.0", "transformers": "5.24.0", "numpy": "2.4.6"},
}
# variant -> (p50 ms, accuracy, size MB): a teacher, and a student twice as fast and 4x smaller.
VARIANTS = {"baseline": (6.0, 0.90, 63.4), "student": (3.0, 0.85, 15.9), "distilled": (3.0, 0.88, 15.9)}


def make_run(
    index: int,
    *,
    slowdown: dict[str, float] | None = None,
    machine_scale: float = 1.0,
    load: dict[str, float] | None = None,
    accuracy_delta: dict[str, float] | None = None,
    size_scale: dict[str, float] | None = None,
    rounds: int = 60,
    pairs: int = 30,
    include_data: bool = True,
    variants: dict[str, tuple[float, float, float]] | None = None,
    machine: dict | None = None,
    knob: bool = False,
    violations: dict[str, list[str]] | None = None,
    others: float = 0.02,
) -> dict:
    """The JSON of one suite run, as `pytest benchmarks --benchmark-json` writes it.

    Args:
        index: seeds the noise and sets the run's time (one hour per index after START).
        slowdown: variant -> factor on its per-call times.
        machine_scale: factor on every variant's times (a slower or busier machine).
        load: variant -> factor on its benchmark samples only: the machine was busier while that
            variant was measured, which the interleaved control ratios do not see.
        accuracy_delta: variant -> change of its accuracy figures.
        size_scale: variant -> factor on its size.
        knob: record the slow-down as the suite's test-only knob does (`meta_test_slowdown`).
        violations: variant -> broken budgets recorded in the run.
        pairs: block pairs of the paired speed-up (ratios of block medians).
        others: share of the machine's CPU time other processes used while pairs were measured.
    """
    rng = np.random.default_rng(index)
    slowdown, accuracy_delta, size_scale, load = slowdown or {}, accuracy_delta or {}, size_scale or {}, load or {}
    variants = variants or VARIANTS

    def contention() -> np.ndarray:
        return np.exp(rng.normal(0.0, 0.05, rounds)) * np.where(rng.random(rounds) < 0.05, 2.0, 1.0)

    def seconds(name: str) -> np.ndarray:
        return variants[name][0] / 1e3 * machine_scale * slowdown.get(name, 1.0)

    samples, ratios = {}, {}
    for name in variants:
        samples[name] = list(seconds(name) * load.get(name, 1.0) * contention())
        if name != "baseline":
            # A pair of blocks sees the same machine state; a block median smooths single calls.
            shared = np.exp(rng.normal(0.0, 0.05, pairs))
            pair_noise = np.exp(rng.normal(0.0, 0.02, (2, pairs)))
            ratios[name] = list((seconds(name) * shared * pair_noise[0]) / (seconds("baseline") * shared * pair_noise[1]))
    baseline_p50 = latency_summary(samples["baseline"])["p50_ms"] if "baseline" in samples else None
    benchmarks = []
    for name, (_, accuracy, size_mb) in variants.items():
        stats = Stats()
        for value in samples[name]:
            stats.update(value)
        stats_json = {**stats.as_dict(), "data": samples[name], "iterations": 1} if include_data else {**stats.as_dict(), "iterations": 1}
        latency = latency_summary(samples[name])
        size = size_mb * 1e6 * size_scale.get(name, 1.0)
        accuracy = accuracy + accuracy_delta.get(name, 0.0)
        speedup = paired_speedup(ratios[name]) if name in ratios else paired_speedup([1.0, 1.0])
        figures = Figures(
            name, accuracy=accuracy, in_scope_accuracy=accuracy + 0.01, oos_recall=0.5, batch_agreement=1.0,
            size_bytes=int(size), **latency, speedup=speedup.estimate, speedup_low=speedup.low, speedup_high=speedup.high,
            p50_ratio=baseline_p50 / latency["p50_ms"] if baseline_p50 else 1.0, paired_ratios=tuple(ratios.get(name, ())),
            machine_load=others if name in ratios else float("nan"),
            size_ratio=size / (variants["baseline"][2] * 1e6), throughput_qps=300.0, throughput_batch_size=32, threads=1,
            serving="onnxruntime", artifact=f"{name}-artifact", artifact_key=f"key-{name}",
            violations=tuple((violations or {}).get(name, [])),
            meta={"layers": 2, **({"test_slowdown": slowdown[name]} if knob and name in slowdown else {})},
        )
        benchmarks.append(
            {
                "group": GROUP,
                "name": f"test_variant[{name}]",
                "fullname": f"benchmarks/test_variants.py::test_variant[{name}]",
                "params": {"variant": name},
                "param": name,
                "extra_info": figures.to_extra_info(),
                "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5, "max_time": 1.0,
                            "min_time": 5e-06, "precision": None, "confidence": None, "warmup": False},
                "stats": stats_json,
            }
        )
    return {
        "machine_info": {**MACHINE, **(machine or {})},
        "commit_info": {"id": "unknown", "time": None, "author_time": None, "dirty": False, "project": "main", "branch": "(unknown)"},
        "benchmarks": benchmarks,
        "datetime": (START + timedelta(hours=index)).isoformat(),
        "version": "5.3.1",
    }


def write_run(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4))
    return path
