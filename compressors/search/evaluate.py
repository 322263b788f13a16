"""The real evaluator of candidate chains: built through the suite's Builder and cache, served, scored, timed.

A candidate's artifact is its source variant's (built or cached by the suite's `Builder`) taken
through its steps and the profile's serving steps (the out-of-scope decision chosen on
validation), so every artifact lands in the same cache as the suite's. Its validation accuracy is
the served decision's on the validation split. Its speed is the paired wall-clock speed-up
against the served baseline on validation queries (`speed="paired"`), short or at the profile's
full length, or the ratio of instructions per query under valgrind (`speed="cost"`, one count:
a count does not get better with longer runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from compressors.artifacts import MANIFEST, Artifact
from compressors.chains.chosen import fp32_source
from compressors.chains.space import Candidate
from compressors.data import LABEL, TEXT
from compressors.environment import cpu_model_and_flags
from compressors.formats.predictors import load_predictor
from compressors.measure.cost import RunCosts
from compressors.measure.figures import BASELINE
from compressors.measure.harness import latency_query_set, predict_single
from compressors.measure.paired import measure_paired, paired_speedup
from compressors.search.runner import Assessment, Speed
from compressors.steps.base import apply_step
from compressors.steps.training import TrainConfig
from compressors.suite.build import Builder
from compressors.suite.serve import serve
from compressors.variants import Variant

# Candidates enter the builder's variants under this prefix and their chain's name.
SEARCHING = "search:"
# Build work of a step still to run: training dwarfs exporting and quantizing.
TRAINING_WORK, OTHER_WORK = 100.0, 1.0


def short_pairs(pairs: int) -> int:
    """Pairs of the short timing: a third of the profile's, at least 6."""
    return max(6, pairs // 3)


def build_work(planner: Builder, candidate: Candidate) -> float:
    """The build work a candidate still needs: the steps of its chain (its source's included) missing from the cache.

    Args:
        planner: a plan-only builder (cache keys, no builds) over the search's cache.
    """
    chain: list = []
    name: str | None = candidate.source
    while name:
        variant = planner.variants[name]
        chain[:0] = variant.steps
        name = variant.source
    chain += candidate.chain(planner.profile)[1]
    artifact, work = None, 0.0
    for step in chain:
        artifact = apply_step(artifact, step, planner.context)
        if not (planner.context.cache.root / artifact.key / MANIFEST).is_file():
            trains = isinstance(getattr(step, "train", None), TrainConfig) or hasattr(step, "base")
            work += TRAINING_WORK if trains else OTHER_WORK
    return work


class ChainEvaluator:
    """Builds, serves, scores and times candidates of one profile against its served baseline."""

    def __init__(self, builder: Builder, speed: str = "paired", work_dir: Path | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.builder, self.profile, self.speed, self.clock = builder, builder.profile, speed, clock
        self.harness = self.profile.harness
        validation = builder.context.data["validation"]
        self.texts, self.labels = list(validation[TEXT]), np.asarray(validation[LABEL])
        self.queries = latency_query_set(self.texts, self.harness.latency_queries)
        self.baseline = builder.build(BASELINE)
        self.baseline_accuracy = self.validation_accuracy(self.baseline)
        self.refines = speed == "paired"
        self._planner = Builder(self.profile, builder.context.cache, builder.context.data, builder.context.device, plan_only=True)
        self._baseline_served = None
        self._costs = (RunCosts(Path(work_dir or builder.context.cache.root / "cost"), self.queries[: self.harness.cost_queries],
                                self.harness.threads, self.harness.max_length, self.harness.ort_spinning)
                       if speed == "cost" else None)

    def study(self) -> dict[str, Any]:
        """What makes this evaluator's figures comparable: profile, data, baseline, speed signal and machine."""
        paired = self.harness.paired
        timing = ({"pairs": paired.pairs, "block_calls": paired.block_calls, "warm_calls": paired.warm_calls,
                   "queries": self.harness.latency_queries} if self.speed == "paired" else {"cost_queries": self.harness.cost_queries})
        # "serving": candidates are served as registered variants (their family's out-of-scope decision).
        return {"profile": self.profile.name, "data": self.builder.context.data_key, "baseline": self.baseline.key, "serving": "as-variant",
                "speed": self.speed, "threads": self.harness.threads, "timing": timing, "cpu": cpu_model_and_flags()[0]}

    def artifact(self, candidate: Candidate) -> Artifact:
        """The candidate's served artifact (built on a cache miss), served as the suite would serve it as a variant.

        The candidate is entered in the builder's variants as the `searched` variant would be
        registered, so its out-of-scope decision follows the same rule (a format of a registered
        model keeps that model's decision unless its own is better on validation).
        """
        source, steps = candidate.chain(self.profile)
        if not steps:
            return self.builder.build(source)
        name = f"{SEARCHING}{candidate.name}"
        self.builder.variants.setdefault(name, Variant(name, steps, source=source, fp32_source=fp32_source(candidate)))
        return self.builder.build(name)

    def validation_accuracy(self, served: Artifact) -> float:
        """The served decision's validation accuracy: recorded by the out-of-scope step, else scored here."""
        if "validation_accuracy" in served.meta:
            return float(served.meta["validation_accuracy"])
        predictor = load_predictor(served, threads=self.harness.threads, max_length=self.harness.max_length)
        return float((predict_single(predictor, self.texts) == self.labels).mean())

    def work(self, candidate: Candidate) -> float:
        """The build work the candidate still needs (`build_work`)."""
        return build_work(self._planner, candidate)

    def assess(self, candidate: Candidate) -> Assessment:
        served = self.artifact(candidate)
        return Assessment(self.validation_accuracy(served), served.deployed_bytes() / self.baseline.deployed_bytes(), served.key)

    def time(self, candidate: Candidate, full: bool) -> Speed:
        served = self.artifact(candidate)
        if self._costs is not None:
            base = self._costs.of(BASELINE, self.baseline.path).instructions_per_query
            ratio = base / self._costs.of(candidate.name, served.path).instructions_per_query
            return Speed(ratio, ratio, ratio)
        if self._baseline_served is None:
            self._baseline_served = serve(self.baseline, self.harness, self.queries, self.clock)
        subject = serve(served, self.harness, self.queries, self.clock)
        config = self.harness.paired if full else replace(self.harness.paired, pairs=short_pairs(self.harness.paired.pairs))
        ratios = measure_paired(self._baseline_served.predictor, subject.predictor, self.queries, config, self.clock)
        speedup = paired_speedup(ratios, config.confidence)
        return Speed(speedup.estimate, speedup.low, speedup.high)

    def close(self) -> None:
        if self._costs is not None:
            self._costs.close()
