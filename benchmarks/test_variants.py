"""One benchmark per registered variant: accuracy, size, latency and the paired speed-up, judged by its budgets."""

from __future__ import annotations

import itertools

from compressors.pytest_plugin import enforce, require_timing


def test_variant(variant: str, suite, budgets, benchmark) -> None:
    require_timing(benchmark)
    predictor = suite.served(variant).predictor  # built, loaded and evaluated outside the timed region
    queries = itertools.cycle(suite.queries)
    harness = suite.harness
    benchmark.group = f"{suite.profile.name} bs=1 threads={harness.threads}"
    benchmark.pedantic(
        predictor,
        setup=lambda: ((next(queries),), {}),
        rounds=harness.rounds,
        warmup_rounds=harness.warmup_rounds,
        iterations=1,
    )
    verdict = suite.record(variant, list(benchmark.stats.stats.data), budgets.get(variant))
    benchmark.extra_info.update(verdict.figures.to_extra_info())
    enforce(verdict.checks)
