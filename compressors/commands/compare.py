"""`compressors compare`: two cached models on the validation split, and whether the second is better beyond chance.

    compressors compare --profile full distill-ca945f4707ea4f5d81f6 distill-d7fb2c5aeb9748e360bf
    compressors compare --profile full --split test FIRST SECOND     # to report, not to choose

Each model is an artifact key in the cache. For both, validation accuracy by argmax and served
through the profile's serving steps (the out-of-scope threshold, itself chosen on validation);
then, per answer mode, the queries only the second model answers right, those only the first
does, and McNemar's exact two-sided p-value. A recipe replaces another only when the second
model is ahead with p < 0.05 on validation. `--split test` reports the same figures on the test
split (the threshold is still chosen on validation), with each served model's in-scope accuracy
and out-of-scope recall. Builds nothing but the serving steps; exits 2 when a key is not
in the cache (or fails its checksums).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from compressors.measure.significance import AnswerComparison, compare_answers
from compressors.suite.settings import add_suite_options

if TYPE_CHECKING:
    import numpy as np

    from compressors.suite.build import Builder

NAME = "compare"
SUMMARY = "two cached models' validation accuracy, and McNemar's test between them"
MODES = ("argmax", "served")


def split_answers(builder: Builder, key: str, split: str = "validation") -> dict[str, np.ndarray]:
    """The model's predictions on `split` by argmax and served (with the profile's serving steps)."""
    from compressors.data import TEXT
    from compressors.formats.predictors import load_predictor
    from compressors.measure.harness import predict_batched

    cache = builder.context.cache
    artifact = cache.load(cache.root / key)
    if artifact is None:
        raise ValueError(f"{key!r} is not a valid artifact in {cache.root}; build it first (or check --cache-dir)")
    texts, threads = list(builder.context.data[split][TEXT]), os.cpu_count() or 1  # answers, not timings: every core
    return {
        mode: predict_batched(load_predictor(model, threads=threads), texts, builder.profile.harness.eval_batch_size)
        for mode, model in zip(MODES, (artifact, builder.serving(artifact)))
    }


def format_comparison(keys: tuple[str, str], accuracy: dict[tuple[str, str], float], results: dict[str, AnswerComparison],
                      queries: int, split: str = "validation") -> str:
    lines = [f"{split}, {queries:,} queries | " + " | ".join(MODES), "|".join(["---"] * (1 + len(MODES)))]
    lines += [f"{key} | " + " | ".join(f"{accuracy[key, mode]:.4f}" for mode in MODES) for key in keys]
    lines.append("")
    for mode, result in results.items():
        verdict = "better beyond chance" if result.p_value < 0.05 and result.gained > result.lost else "not better beyond chance"
        lines.append(f"{mode}: the second right where the first is wrong {result.gained}, the reverse {result.lost}; "
                     f"McNemar exact p = {result.p_value:.3f}: the second is {verdict}")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", help="artifact key of the current model (e.g. distill-...)")
    parser.add_argument("second", help="artifact key of the candidate")
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="where the answers are compared (default: validation, where choices are made)")
    add_suite_options(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from compressors.data import LABEL
    from compressors.measure.metrics import intent_metrics
    from compressors.suite.build import Builder
    from compressors.suite.settings import resolve_suite

    try:
        settings = resolve_suite(args)
        builder = Builder.open(settings.profile, settings.cache_dir, settings.device)
        answers = {key: split_answers(builder, key, args.split) for key in (args.first, args.second)}
    except ValueError as error:
        print(f"compressors compare: error: {error}", file=sys.stderr)
        return 2
    labels = np.asarray(builder.context.data[args.split][LABEL])
    accuracy = {(key, mode): float((answers[key][mode] == labels).mean()) for key in answers for mode in MODES}
    results = {mode: compare_answers(answers[args.first][mode], answers[args.second][mode], labels) for mode in MODES}
    print(format_comparison((args.first, args.second), accuracy, results, len(labels), args.split))
    names, oos = builder.context.data[args.split].features[LABEL].names, settings.profile.data.oos_label
    if args.split == "test" and oos and oos in names:
        for key in answers:
            served = intent_metrics(answers[key]["served"], labels, names.index(oos))
            print(f"{key} served: in-scope accuracy {served.in_scope_accuracy:.4f}, out-of-scope recall {served.oos_recall:.3f}")
    return 0
