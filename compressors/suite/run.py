"""One run of the suite: each variant built, served, evaluated, measured and judged once, its figures kept.

`Suite` only remembers what the four parts returned (`Builder.build`, `serve`, `measure`,
`judge`); the pytest plugin and the commands (the sweep's points included) go through it, so a
figure means the same wherever it was measured.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from collections.abc import Callable, Mapping

from compressors.artifacts import Artifact
from compressors.data import LABEL, TEXT
from compressors.formats.predictors import load_predictor
from compressors.measure.budgets import Budget
from compressors.measure.contention import while_measuring
from compressors.measure.cost import RunCosts
from compressors.measure.figures import BASELINE, Figures
from compressors.measure.harness import latency_query_set, measure_latency
from compressors.suite.build import Builder
from compressors.suite.evaluate import Evaluated, evaluate
from compressors.suite.measure import Latency, Monitor, Reference, measure
from compressors.suite.serve import Loader, Served, inject, serve
from compressors.suite.settings import SuiteSettings
from compressors.suite.verdict import Verdict, judge

logger = logging.getLogger(__name__)


class Suite:
    """The variants of one profile, each taken once through build, serve, measure and judge.

    Args:
        builder: builds artifacts by variant name (`Builder`, or a stand-in in tests).
        data: the profile's data set (test split scored, latency queries drawn from it).
        injected: test-only regressions, variant -> `RepeatedWork` factor, chosen by the plugin.
        clock, monitor, load: the timer, the machine-load monitor and the predictor loader.
    """

    def __init__(self, builder: Builder, data, *, injected: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.perf_counter, monitor: Monitor = while_measuring,
                 load: Loader = load_predictor) -> None:
        self.builder, self.data, self.profile = builder, data, builder.profile
        self.variants, self.harness = builder.variants, builder.profile.harness
        self.test = data["test"]
        names, oos = self.test.features[LABEL].names, self.profile.data.oos_label
        self.oos_id = names.index(oos) if oos and oos in names else None
        self.queries = latency_query_set(self.test[TEXT], self.harness.latency_queries)
        self.injected = dict(injected or {})
        self.clock, self.monitor, self.load = clock, monitor, load
        self.evaluated: dict[str, Evaluated] = {}
        self.figures: dict[str, Figures] = {}
        # The cost figure's worker (`--cost`); None leaves the cost figures NaN.
        self.costs: RunCosts | None = None
        if self.injected:
            logger.warning("test-only injected regression: %s", self.injected)

    @classmethod
    def open(cls, settings: SuiteSettings, **options) -> Suite:
        """The suite of `settings`: data loaded, artifacts built on demand in its cache."""
        builder = Builder.open(settings.profile, settings.cache_dir, settings.device, settings.rebuild)
        return cls(builder, builder.context.data, **options)

    def served(self, name: str) -> Served:
        """The variant as a server holds it (built first if needed)."""
        return self.evaluate(name).served

    def evaluate(self, name: str) -> Evaluated:
        """The variant built, served (with its injected regression, if any) and scored on the test split."""
        if name not in self.evaluated:
            served = inject(self.serve_artifact(self.builder.build(name)), self.injected.get(name, 1.0))
            self.evaluated[name] = self.evaluate_served(name, served, self.variants[name].quantizes)
        return self.evaluated[name]

    def serve_artifact(self, artifact: Artifact) -> Served:
        """Any served artifact loaded as the suite serves variants."""
        return serve(artifact, self.harness, self.queries, self.clock, self.load)

    def evaluate_served(self, name: str, served: Served, single_path: bool = False) -> Evaluated:
        """A served model scored on the test split, under `name`."""
        quality = evaluate(served, self.test[TEXT], self.test[LABEL], self.oos_id, self.harness, single_path)
        return Evaluated(name, served, quality)

    def reference(self, name: str = BASELINE) -> Reference:
        """What figures compare with: the variant's quality, size and plain p50 (measured now if its test has not run)."""
        evaluated = self.evaluate(name)
        if name in self.figures:
            return Reference(evaluated, self.figures[name].p50_ms)
        seconds = measure_latency(evaluated.served.predictor, self.queries, self.harness.rounds, self.harness.warmup_rounds, self.clock)
        return Reference(evaluated, Latency.of(seconds).p50_ms)

    def measure(self, subject: Evaluated, latency_seconds=None, reference: str = BASELINE) -> Figures:
        """`subject`'s figures against the reference variant (plain latency measured when not given)."""
        variant = self.variants.get(subject.name)
        source = self.evaluate(variant.fp32_source).quality if variant is not None and variant.fp32_source else None
        against = None if subject.name == reference else self.reference(reference)
        figures = measure(subject, against, self.queries, self.harness, latency_seconds, source=source, clock=self.clock,
                          monitor=self.monitor)
        if self.costs is None:
            return figures
        own, base = (self.costs.of(e.name, e.served.artifact.path, e.served.injected)
                     for e in (subject, self.evaluate(reference)))
        return replace(figures, instructions_per_query=own.instructions_per_query, ll_misses_per_query=own.ll_misses_per_query,
                       cost_ratio=base.instructions_per_query / own.instructions_per_query, cost_isa=own.isa)

    def record(self, name: str, latency_seconds=None, budget: Budget | None = None) -> Verdict:
        """The variant measured against the baseline and judged by `budget`; its figures kept in `figures`."""
        verdict = judge(self.measure(self.evaluate(name), latency_seconds), budget)
        self.figures[name] = verdict.figures
        return verdict
