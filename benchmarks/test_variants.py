"""One benchmark per registered variant: accuracy, size and latency, checked against the budgets."""

from __future__ import annotations

import itertools

from compressors.budgets import BudgetBroken


def test_variant(variant: str, suite, budgets, benchmark) -> None:
    suite.quality(variant)  # builds, loads and evaluates the artifact outside the timed region
    predictor = suite.predictor(variant)
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
    figures = suite.record(variant, list(benchmark.stats.stats.data))
    violations = suite.violations(variant, budgets.get(variant))
    benchmark.extra_info.update(figures.as_extra_info(harness.threads, harness.throughput_batch_size))
    benchmark.extra_info["budget_violations"] = [str(v) for v in violations]

    if violations:
        raise BudgetBroken("budget broken:\n" + "\n".join(str(v) for v in violations))
