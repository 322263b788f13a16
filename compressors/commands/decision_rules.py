"""`compressors decision-rules`: which out-of-scope rule to serve, decided on validation by cross-validation.

    compressors decision-rules --profile full --variants baseline distilled

The suite serves every model with a threshold on its top softmax probability, chosen on the
validation split (`OosThreshold`). Which objective it maximises and how many parameters it
fits (a threshold alone, or a temperature too) are choices of their own, and the test split
must not make them. This command makes them on validation alone: the split is cut into
stratified folds; each rule is fitted on all folds but one and answers the held-out one, so
every validation query is answered once by a rule that never saw it. It prints, per variant and
rule, the held-out accuracy, in-scope accuracy, out-of-scope recall and their balanced mean, and
McNemar's exact p of each rule's held-out answers against the default's.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from compressors.suite.settings import add_suite_options

NAME = "decision-rules"
SUMMARY = "cross-validate the out-of-scope rule (objective, temperature) on the validation split"
DEFAULT_TEMPERATURES = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class Rule:
    """A way to choose the out-of-scope decision: the objective, the temperatures tried (None: argmax, no threshold)."""

    name: str
    objective: str
    temperatures: tuple[float, ...] | None


RULES = (
    Rule("argmax (no threshold)", "accuracy", None),
    Rule("threshold, T = 1 (accuracy)", "accuracy", (1.0,)),
    Rule("threshold and T (accuracy), the default", "accuracy", DEFAULT_TEMPERATURES),
    Rule("threshold, T = 1 (balanced)", "balanced", (1.0,)),
    Rule("threshold and T (balanced)", "balanced", DEFAULT_TEMPERATURES),
)
DEFAULT_RULE = RULES[2]


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """A fold index per row: each class's rows shuffled (seeded) and dealt round-robin over the folds."""
    if folds < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}")
    rng, fold = np.random.default_rng(seed), np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        fold[rows] = np.arange(len(rows)) % folds
    return fold


def held_out_answers(logits: np.ndarray, labels: np.ndarray, oos_id: int, rule: Rule, fold: np.ndarray) -> np.ndarray:
    """Each row's answer from the rule fitted on the other folds."""
    from compressors.steps.oos_threshold import best_decision

    if rule.temperatures is None:
        return logits.argmax(-1)
    answers = np.empty(len(labels), dtype=np.int64)
    for k in np.unique(fold):
        train, held = fold != k, fold == k
        decision, _ = best_decision(logits[train], labels[train], oos_id, rule.temperatures, rule.objective)
        answers[held] = decision.apply(logits[held])
    return answers


def rule_table(logits: np.ndarray, labels: np.ndarray, oos_id: int, folds: int = 5, seed: int = 0) -> list[dict]:
    """Every rule's held-out figures on one model's validation logits, with McNemar's p against the default rule."""
    from compressors.measure.metrics import intent_metrics
    from compressors.stats import mcnemar_exact

    fold = stratified_folds(labels, folds, seed)
    answers = {rule: held_out_answers(logits, labels, oos_id, rule, fold) for rule in RULES}
    default_right = answers[DEFAULT_RULE] == labels
    rows = []
    for rule, predicted in answers.items():
        metrics, right = intent_metrics(predicted, labels, oos_id), predicted == labels
        rows.append({
            "rule": rule.name, "accuracy": metrics.accuracy, "in_scope_accuracy": metrics.in_scope_accuracy,
            "oos_recall": metrics.oos_recall, "balanced": (metrics.in_scope_accuracy + metrics.oos_recall) / 2,
            "p_vs_default": mcnemar_exact(int((right & ~default_right).sum()), int((default_right & ~right).sum())),
        })
    return rows


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variants", nargs="+", default=["baseline", "distilled"], help="variants to study (default: baseline distilled)")
    parser.add_argument("--folds", type=int, default=5, help="stratified folds of the validation split (default 5)")
    add_suite_options(parser)


def run(args: argparse.Namespace) -> int:
    try:
        tables = {name: rule_table(*validation_logits(args, name), folds=args.folds) for name in args.variants}
    except ValueError as error:
        print(f"compressors decision-rules: error: {error}", file=sys.stderr)
        return 2
    print(f"held out of {args.folds} stratified folds of the validation split")
    print("| variant | rule | accuracy | in-scope | OOS recall | balanced | McNemar p vs default |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in tables.items():
        for row in rows:
            print(f"| {name} | {row['rule']} | {row['accuracy']:.4f} | {row['in_scope_accuracy']:.4f} | {row['oos_recall']:.3f} "
                  f"| {row['balanced']:.4f} | {row['p_vs_default']:.2g} |")
    return 0


def validation_logits(args: argparse.Namespace, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The variant's validation logits one query at a time (the served path), its labels and the out-of-scope id."""
    from compressors.data import LABEL, TEXT
    from compressors.formats.predictors import load_predictor
    from compressors.suite.build import Builder
    from compressors.suite.settings import resolve_suite

    settings = resolve_suite(args)
    builder = Builder.open(settings.profile, settings.cache_dir, settings.device)
    if name not in builder.variants:
        raise ValueError(f"unknown variant {name!r}; known: {sorted(builder.variants)}")
    validation, oos = builder.context.data["validation"], settings.profile.data.oos_label
    names = validation.features[LABEL].names
    if not oos or oos not in names:
        raise ValueError("the data has no out-of-scope class: there is no out-of-scope rule to choose")
    predictor = load_predictor(builder.artifact(name), threads=settings.profile.harness.threads)
    logits = np.concatenate([predictor.logits([text]) for text in validation[TEXT]])
    return logits, np.asarray(validation[LABEL]), names.index(oos)
