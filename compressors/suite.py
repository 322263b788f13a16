"""What the benchmark suite does for each variant, outside pytest: build, load, measure, compare.

`benchmarks/` wires this into pytest-benchmark; the report and the CLI reuse it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from compressors.artifacts import Artifact, ArtifactCache
from compressors.budgets import Budget, Violation, check_budget
from compressors.data import LABEL, TEXT, fingerprint, load_data
from compressors.harness import (
    batch_agreement,
    evaluate,
    latency_query_set,
    latency_summary,
    measure_interleaved,
    measure_latency,
    measure_throughput,
)
from compressors.metrics import IntentMetrics
from compressors.predictors import Predictor, load_predictor
from compressors.profiles import Profile
from compressors.recipes import BuildContext, build_chain
from compressors.variants import BASELINE, Variant, check_variant_name, registry

logger = logging.getLogger(__name__)

# Test-only knob, off by default: "distilled=1.5,student=2" makes those variants' predictors take
# 1.5x / 2x as long, to check that the regression gate catches a slower variant. A run measured
# with it records `meta_test_slowdown` in extra_info, and the gate never saves such a run.
TEST_SLOWDOWN_ENV = "COMPRESSORS_TEST_SLOWDOWN"


@dataclass(frozen=True)
class Quality:
    """Accuracy figures of one variant on the test split, and its batching agreement."""

    metrics: IntentMetrics
    agreement: float


@dataclass
class Figures:
    """Everything measured for one variant; `as_extra_info` gives the saved JSON's keys."""

    variant: str
    quality: Quality
    size_bytes: int
    latency: dict[str, float]
    throughput_qps: float
    artifact: Artifact
    speedup: float = float("nan")
    size_ratio: float = float("nan")
    accuracy_drop: float = float("nan")
    accuracy_drop_vs_source: float = float("nan")
    control_ratios: list[float] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def as_extra_info(self, threads: int, throughput_batch_size: int) -> dict:
        m = self.quality.metrics
        return {
            "accuracy": m.accuracy,
            "in_scope_accuracy": m.in_scope_accuracy,
            "oos_recall": m.oos_recall,
            "size_mb": self.size_bytes / 1e6,
            "size_bytes": self.size_bytes,
            "speedup": self.speedup,
            "size_ratio": self.size_ratio,
            "threads": threads,
            "artifact": self.artifact.digest,
            "artifact_key": self.artifact.key,
            "batch_agreement": self.quality.agreement,
            **self.latency,
            "throughput_qps": self.throughput_qps,
            "throughput_batch_size": throughput_batch_size,
            **({"control_ratios": self.control_ratios} if self.control_ratios else {}),
            **{f"meta_{k}": v for k, v in self.meta.items()},
        }

    def budget_figures(self) -> dict[str, float]:
        m = self.quality.metrics
        return {
            "accuracy": m.accuracy,
            "in_scope_accuracy": m.in_scope_accuracy,
            "oos_recall": m.oos_recall,
            "accuracy_drop": self.accuracy_drop,
            "accuracy_drop_vs_source": self.accuracy_drop_vs_source,
            "size_mb": self.size_bytes / 1e6,
            "size_ratio": self.size_ratio,
            "speedup": self.speedup,
            "p50_ms": self.latency["p50_ms"],
            "batch_agreement": self.quality.agreement,
        }


class Suite:
    """Builds and measures the variants of one profile, remembering what it measured."""

    def __init__(self, profile: Profile, cache_dir: Path, rebuild: bool = False) -> None:
        self.profile = profile
        self.harness = profile.harness
        self.data = load_data(profile.data)
        self.context = BuildContext(
            cache=ArtifactCache(cache_dir, rebuild=rebuild),
            data=self.data,
            data_key=fingerprint(self.data),
            oos_label=profile.data.oos_label,
            resolver=self.artifact,
        )
        self.variants: dict[str, Variant] = registry(profile)
        self.test = self.data["test"]
        names = self.test.features[LABEL].names
        oos = profile.data.oos_label
        self.oos_id = names.index(oos) if oos and oos in names else None
        self.queries = latency_query_set(self.test[TEXT], self.harness.latency_queries)
        self._artifacts: dict[str, Artifact] = {}
        self._predictors: dict[str, Predictor] = {}
        self._quality: dict[str, Quality] = {}
        self.figures: dict[str, Figures] = {}
        self.slowdown = parse_slowdown(os.environ.get(TEST_SLOWDOWN_ENV, ""))
        if self.slowdown:
            logger.warning("%s is set: test-only slow-down of %s", TEST_SLOWDOWN_ENV, self.slowdown)

    def artifact(self, name: str) -> Artifact:
        """The variant's artifact, building its source chain first (cached on disk and in memory)."""
        if name not in self._artifacts:
            variant = self.variants[name]
            source = self.artifact(variant.source) if variant.source else None
            self._artifacts[name] = build_chain(source, variant.steps, self.context)
        return self._artifacts[name]

    def predictor(self, name: str) -> Predictor:
        if name not in self._predictors:
            predictor = load_predictor(self.artifact(name), self.harness.threads)
            if name in self.slowdown:
                predictor = _SlowedPredictor(predictor, self.slowdown[name])
            self._predictors[name] = predictor
        return self._predictors[name]

    def quality(self, name: str) -> Quality:
        """Test-split metrics (batched) and batched vs batch-size-1 agreement on a sample."""
        if name not in self._quality:
            predictor = self.predictor(name)
            metrics = evaluate(predictor, self.test[TEXT], self.test[LABEL], self.oos_id, self.harness.eval_batch_size)
            sample = latency_query_set(self.test[TEXT], self.harness.agreement_sample)
            agreement = batch_agreement(predictor, sample, self.harness.eval_batch_size)
            self._quality[name] = Quality(metrics, agreement)
        return self._quality[name]

    def reference_p50(self, name: str) -> float:
        """The p50 of a variant measured in this run, measuring it now if it was not yet."""
        if name in self.figures:
            return self.figures[name].latency["p50_ms"]
        samples = measure_latency(self.predictor(name), self.queries, self.harness.rounds, self.harness.warmup_rounds)
        return latency_summary(samples)["p50_ms"]

    def record(self, name: str, latency_seconds: list[float]) -> Figures:
        """Combine a variant's latency samples with its quality, size and throughput."""
        artifact = self.artifact(name)
        variant = self.variants[name]
        predictor = self.predictor(name)
        figures = Figures(
            variant=name,
            quality=self.quality(name),
            size_bytes=artifact.deployed_bytes(),
            latency=latency_summary(latency_seconds),
            throughput_qps=measure_throughput(predictor, self.queries, self.harness.throughput_batch_size),
            artifact=artifact,
            meta={k: v for k, v in artifact.meta.items() if isinstance(v, (int, float, str))},
        )
        if name in self.slowdown:
            figures.meta["test_slowdown"] = self.slowdown[name]
        self.figures[name] = figures
        baseline_p50 = self.reference_p50(BASELINE)
        figures.speedup = baseline_p50 / figures.latency["p50_ms"]
        figures.size_ratio = figures.size_bytes / self.artifact(BASELINE).deployed_bytes()
        if name != BASELINE:
            # The regression gate's latency evidence (compressors.regression): interleaved with the
            # baseline, so it holds on a machine whose load changes between variants.
            figures.control_ratios = measure_interleaved(
                self.predictor(BASELINE), predictor, self.queries, self.harness.rounds, self.harness.warmup_rounds
            )
        figures.accuracy_drop = self.quality(BASELINE).metrics.accuracy - figures.quality.metrics.accuracy
        if variant.fp32_source:
            source_accuracy = self.quality(variant.fp32_source).metrics.accuracy
            figures.accuracy_drop_vs_source = source_accuracy - figures.quality.metrics.accuracy
        return figures

    def violations(self, name: str, budget: Budget | None) -> list[Violation]:
        if budget is None:
            return []
        return check_budget(name, budget, self.figures[name].budget_figures())


def parse_slowdown(value: str) -> dict[str, float]:
    """Parse `$COMPRESSORS_TEST_SLOWDOWN` ("variant=factor,..."); empty means off."""
    slowdown = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, text = item.partition("=")
        try:
            variant, factor = check_variant_name(name.strip()), float(text)
        except ValueError as error:
            raise ValueError(f"{TEST_SLOWDOWN_ENV}: {item!r}: {error}; expected e.g. 'distilled=1.5'") from None
        if not 1 <= factor < 100:
            raise ValueError(f"{TEST_SLOWDOWN_ENV}: {item!r}: the factor must be in [1, 100), e.g. 1.5")
        slowdown[variant] = factor
    return slowdown


class _SlowedPredictor:
    """Test-only: every call takes `factor` times as long, by busy-waiting (sleep is too coarse)."""

    def __init__(self, inner: Predictor, factor: float) -> None:
        self.inner, self.factor = inner, factor

    def _stretch(self, start: float) -> None:
        end = start + (time.perf_counter() - start) * self.factor
        while time.perf_counter() < end:
            pass

    def logits(self, texts):
        start = time.perf_counter()
        result = self.inner.logits(texts)
        self._stretch(start)
        return result

    def __call__(self, text: str) -> int:
        start = time.perf_counter()
        result = self.inner(text)
        self._stretch(start)
        return result


def format_table(figures: list[Figures]) -> str:
    """A Markdown table of measured variants, like the book's `perf_metrics`."""
    header = "| variant | accuracy | in-scope | OOS recall | size MB | p50 ms | p90 ms | p99 ms | speedup | size ratio |"
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for f in figures:
        m = f.quality.metrics
        lines.append(
            f"| {f.variant} | {m.accuracy:.4f} | {_fmt(m.in_scope_accuracy)} | {_fmt(m.oos_recall)} | "
            f"{f.size_bytes / 1e6:.1f} | {f.latency['p50_ms']:.2f} | {f.latency['p90_ms']:.2f} | "
            f"{f.latency['p99_ms']:.2f} | {f.speedup:.2f} | {f.size_ratio:.3f} |"
        )
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"
