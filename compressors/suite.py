"""What the benchmark suite does for each variant, outside pytest: build, load, measure, judge.

`compressors.pytest_plugin` wires this into pytest-benchmark; the prune sweep and the lock reuse it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from compressors.artifacts import Artifact, ArtifactCache
from compressors.data import LABEL, TEXT, fingerprint, load_data
from compressors.measure.budgets import Budget, Check, judge
from compressors.measure.contention import while_measuring
from compressors.measure.figures import BASELINE, Figures
from compressors.measure.harness import (
    batch_agreement,
    latency_query_set,
    latency_summary,
    measure_latency,
    measure_throughput,
    predict_batched,
    predict_single,
)
from compressors.measure.metrics import IntentMetrics, intent_metrics
from compressors.measure.paired import PairedConfig, measure_paired, paired_speedup
from compressors.formats.predictors import TORCH_SERVED_KINDS, Predictor, load_predictor
from compressors.profiles import Profile
from compressors.steps.base import BuildContext, build_chain, resolve_device
from compressors.steps.training import with_seed
from compressors.variants import Variant, check_variant_name, registry

logger = logging.getLogger(__name__)

# Test-only knob, off by default: "distilled=1.5,student=2" makes those variants' predictors take
# 1.5x / 2x as long, to check that the regression gate catches a slower variant. A run measured
# with it records `meta_test_slowdown` in extra_info, and the gate never saves such a run.
TEST_SLOWDOWN_ENV = "COMPRESSORS_TEST_SLOWDOWN"


@dataclass(frozen=True)
class Quality:
    """Accuracy figures of one variant on the test split, on its timed path.

    Attributes:
        metrics: accuracy, in-scope accuracy, OOS recall on the timed path.
        path: "batch size 1" (int8 variants: the path a server runs and the suite times) or "batched".
        batched_accuracy: accuracy of batched predictions when the path is batch size 1, else NaN.
        agreement: share of queries whose batched prediction equals the batch-size-1 one (the
            whole split for int8 variants, a sample for float ones).
    """

    metrics: IntentMetrics
    path: str
    batched_accuracy: float
    agreement: float


class Suite:
    """Builds and measures the variants of one profile, remembering what it measured."""

    def __init__(self, profile: Profile, cache_dir: Path, rebuild: bool = False, device: str = "auto",
                 plan_only: bool = False, clock: Callable[[], float] = time.perf_counter) -> None:
        self.profile = profile
        self.clock = clock
        self.harness = profile.harness
        self.data = load_data(profile.data)
        self.context = BuildContext(
            cache=ArtifactCache(cache_dir, rebuild=rebuild),
            data=self.data,
            data_key=fingerprint(self.data),
            oos_label=profile.data.oos_label,
            resolver=self.artifact,
            reseeder=self.reseeded,
            device=resolve_device(device),
            plan_only=plan_only,
        )
        self.variants: dict[str, Variant] = registry(profile)
        self.test = self.data["test"]
        names = self.test.features[LABEL].names
        oos = profile.data.oos_label
        self.oos_id = names.index(oos) if oos and oos in names else None
        self.queries = latency_query_set(self.test[TEXT], self.harness.latency_queries)
        self._artifacts: dict[str, Artifact] = {}
        self._reseeded: dict[tuple[str, int], Artifact] = {}
        self._served: dict[str, Artifact] = {}
        self._predictors: dict[str, Predictor] = {}
        self._serving: dict[str, dict] = {}
        self._quality: dict[str, Quality] = {}
        self.figures: dict[str, Figures] = {}
        self.slowdown = parse_slowdown(os.environ.get(TEST_SLOWDOWN_ENV, ""), self.variants)
        if self.slowdown:
            logger.warning("%s is set: test-only slow-down of %s", TEST_SLOWDOWN_ENV, self.slowdown)

    def artifact(self, name: str) -> Artifact:
        """The variant's artifact, building its source chain first (cached on disk and in memory)."""
        if name not in self._artifacts:
            variant = self.variants[name]
            source = self.artifact(variant.source) if variant.source else None
            self._artifacts[name] = build_chain(source, variant.steps, self.context)
        return self._artifacts[name]

    def reseeded(self, name: str, seed: int) -> Artifact:
        """The variant's chain trained again with `seed` (from the same source artifact; cached like `artifact`)."""
        if (name, seed) not in self._reseeded:
            variant = self.variants[name]
            source = self.artifact(variant.source) if variant.source else None
            self._reseeded[name, seed] = build_chain(source, with_seed(variant.steps, seed), self.context)
        return self._reseeded[name, seed]

    def served(self, name: str) -> Artifact:
        """The variant's artifact as it is served and measured: its chain's, through the profile's serving steps."""
        if name not in self._served:
            artifact = self.artifact(name)
            self._served[name] = build_chain(artifact, self.profile.serving, self.context) if self.profile.serving else artifact
        return self._served[name]

    def predictor(self, name: str) -> Predictor:
        """The variant's predictor as a server would hold it (torch: the faster attention kernel)."""
        if name not in self._predictors:
            artifact = self.served(name)
            load = dict(threads=self.harness.threads, max_length=self.harness.max_length, ort_spinning=self.harness.ort_spinning)
            if artifact.kind in TORCH_SERVED_KINDS:
                predictor, serving = self._faster_attention(artifact, load)
            else:
                predictor, serving = load_predictor(artifact, **load), {"serving": "onnxruntime"}
            if name in self.slowdown:
                predictor = _SlowedPredictor(predictor, self.slowdown[name], self.clock)
            self._predictors[name], self._serving[name] = predictor, serving
        return self._predictors[name]

    def _faster_attention(self, artifact: Artifact, load: dict) -> tuple[Predictor, dict]:
        """Load a torch artifact with sdpa and with eager attention, time both (paired), keep the faster.

        sdpa is what a user gets by default; eager serves only when it is faster beyond the noise
        (the whole confidence interval of its speed-up above 1).
        """
        sdpa = load_predictor(artifact, attention="sdpa", **load)
        eager = load_predictor(artifact, attention="eager", **load)
        config = PairedConfig(pairs=self.harness.attention_pairs, block_calls=self.harness.paired.block_calls,
                              warm_calls=self.harness.paired.warm_calls)
        eager_vs_sdpa = paired_speedup(measure_paired(sdpa, eager, self.queries, config, self.clock))
        chosen = "eager" if eager_vs_sdpa.low > 1 else "sdpa"
        logger.info("%s: eager attention runs %.2fx as fast as sdpa [%.2f, %.2f]; serving with %s", artifact.key,
                    eager_vs_sdpa.estimate, eager_vs_sdpa.low, eager_vs_sdpa.high, chosen)
        return (eager if chosen == "eager" else sdpa), {"serving": f"torch {chosen}", "eager_speedup_over_sdpa": eager_vs_sdpa.estimate}

    def quality(self, name: str) -> Quality:
        """Test-split metrics on the variant's timed path, and batched vs batch-size-1 agreement."""
        if name not in self._quality:
            predictor = self.predictor(name)
            texts, labels = self.test[TEXT], np.asarray(self.test[LABEL])
            batched = predict_batched(predictor, texts, self.harness.eval_batch_size)
            if self.variants[name].quantizes:
                single = predict_single(predictor, texts)
                metrics = intent_metrics(single, labels, self.oos_id)
                quality = Quality(metrics, "batch size 1", float((batched == labels).mean()), float((batched == single).mean()))
            else:
                sample = latency_query_set(texts, self.harness.agreement_sample)
                agreement = batch_agreement(predictor, sample, self.harness.eval_batch_size)
                quality = Quality(intent_metrics(batched, labels, self.oos_id), "batched", math.nan, agreement)
            self._quality[name] = quality
        return self._quality[name]

    def baseline_p50(self) -> float:
        """The baseline's plain p50 in this run, measuring it now if its test has not run."""
        if BASELINE in self.figures:
            return self.figures[BASELINE].p50_ms
        samples = measure_latency(self.predictor(BASELINE), self.queries, self.harness.rounds, self.harness.warmup_rounds, self.clock)
        return latency_summary(samples)["p50_ms"]

    def record(self, name: str, latency_seconds: list[float], budget: Budget | None = None) -> tuple[Figures, list[Check]]:
        """A variant's figures (its plain latency samples, quality, size, paired speed-up, ratios), judged by its budget."""
        artifact, variant, predictor = self.served(name), self.variants[name], self.predictor(name)
        quality, baseline_quality = self.quality(name), self.quality(BASELINE)
        latency = latency_summary(latency_seconds)
        if name == BASELINE:
            speedup, ratios, load = paired_speedup([1.0, 1.0]), (), math.nan
        else:
            measured, load = while_measuring(
                lambda: measure_paired(self.predictor(BASELINE), predictor, self.queries, self.harness.paired, self.clock)
            )
            ratios = tuple(measured)
            speedup = paired_speedup(ratios, self.harness.paired.confidence)
        size = artifact.deployed_bytes()
        m, b = quality.metrics, baseline_quality.metrics
        meta = {k: v for k, v in artifact.meta.items() if isinstance(v, (int, float, str))}
        meta |= {k: v for k, v in self._serving[name].items() if k != "serving"}
        if name in self.slowdown:
            meta["test_slowdown"] = self.slowdown[name]
        figures = Figures(
            variant=name,
            accuracy=m.accuracy,
            in_scope_accuracy=m.in_scope_accuracy,
            oos_recall=m.oos_recall,
            accuracy_batched=quality.batched_accuracy,
            accuracy_path=quality.path,
            batch_agreement=quality.agreement,
            size_bytes=size,
            **latency,
            speedup=speedup.estimate,
            speedup_low=speedup.low,
            speedup_high=speedup.high,
            p50_ratio=1.0 if name == BASELINE else self.baseline_p50() / latency["p50_ms"],
            paired_ratios=ratios,
            machine_load=load,
            size_ratio=size / self.served(BASELINE).deployed_bytes(),
            accuracy_drop=b.accuracy - m.accuracy,
            oos_recall_drop=b.oos_recall - m.oos_recall,
            accuracy_drop_vs_source=(
                self.quality(variant.fp32_source).metrics.accuracy - m.accuracy if variant.fp32_source else math.nan
            ),
            throughput_qps=measure_throughput(predictor, self.queries, self.harness.throughput_batch_size, clock=self.clock),
            throughput_batch_size=self.harness.throughput_batch_size,
            threads=self.harness.threads,
            serving=self._serving[name]["serving"],
            artifact=artifact.digest,
            artifact_key=artifact.key,
            meta=meta,
        )
        checks = judge(name, budget, figures) if budget is not None else []
        figures = replace(
            figures,
            violations=tuple(str(c) for c in checks if c.failed),
            shortfalls=tuple(str(c) for c in checks if c.status == "short"),
        )
        self.figures[name] = figures
        return figures, checks


def parse_slowdown(value: str, variants) -> dict[str, float]:
    """Parse `$COMPRESSORS_TEST_SLOWDOWN` ("variant=factor,..."); empty means off."""
    slowdown = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, text = item.partition("=")
        try:
            variant, factor = check_variant_name(name.strip(), variants), float(text)
        except ValueError as error:
            raise ValueError(f"{TEST_SLOWDOWN_ENV}: {item!r}: {error}; expected e.g. 'distilled=1.5'") from None
        if not 1 <= factor < 100:
            raise ValueError(f"{TEST_SLOWDOWN_ENV}: {item!r}: the factor must be in [1, 100), e.g. 1.5")
        slowdown[variant] = factor
    return slowdown


def busy_wait(seconds: float) -> None:
    """Spin for `seconds` of wall time (sleep is too coarse for sub-millisecond calls)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _SlowedPredictor:
    """Test-only: every call takes `factor` times as long as the inner predictor's call."""

    def __init__(self, inner: Predictor, factor: float, clock: Callable[[], float] = time.perf_counter,
                 wait: Callable[[float], None] = busy_wait) -> None:
        self.inner, self.factor, self.clock, self.wait = inner, factor, clock, wait

    def _stretch(self, start: float) -> None:
        self.wait((self.clock() - start) * (self.factor - 1))

    def logits(self, texts):
        start = self.clock()
        result = self.inner.logits(texts)
        self._stretch(start)
        return result

    def __call__(self, text: str) -> int:
        start = self.clock()
        result = self.inner(text)
        self._stretch(start)
        return result
