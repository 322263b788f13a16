"""`compressors seeds`: the baseline and `distilled` trained with several seeds, and how far each figure moves.

    compressors seeds --profile full --seeds 3 --out docs/results/DIR/seeds.json

Seed s (42, 43, ...) re-runs every training step of the variant's own chain with s; its source
stays as it is (`distilled` keeps the baseline trained with seed 42 as its teacher). Seed 42 is
the variant the suite measures. Each model is served as the suite serves it (its out-of-scope
decision chosen on validation) and scored on the test split; the command prints, per variant and
figure, the mean, the sample standard deviation and the range, and writes them with every seed's
figures to `--out`. Models are built once and cached like any other artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compressors.suite.settings import add_suite_options

NAME = "seeds"
SUMMARY = "train the baseline and distilled with N seeds; the spread of each figure"
FIRST_SEED = 42
DEFAULT_VARIANTS = ("baseline", "distilled")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds, from 42 up (default 3)")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                        help=f"variants whose own training is re-seeded (default: {' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for every seed's figures and the spread")
    add_suite_options(parser)


def run(args: argparse.Namespace) -> int:
    try:
        if args.seeds < 2:
            raise ValueError(f"--seeds must be at least 2 for a spread, got {args.seeds}")
        study = seed_study(args)
    except ValueError as error:
        print(f"compressors seeds: error: {error}", file=sys.stderr)
        return 2
    print(format_study(study))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(study, indent=1, sort_keys=True) + "\n")
        print(f"written: {args.out}")
    return 0


def seed_study(args: argparse.Namespace) -> dict:
    """Every seed's figures and each variant's spread, as JSON-able data."""
    from dataclasses import asdict
    from datetime import date

    from compressors.environment import cpu_model_and_flags, library_versions
    from compressors.measure.spread import seed_spread
    from compressors.suite.run import Suite
    from compressors.suite.settings import resolve_suite

    settings = resolve_suite(args)
    suite = Suite.open(settings)
    unknown = [name for name in args.variants if name not in suite.variants]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {sorted(suite.variants)}")
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    variants = {}
    for name in args.variants:
        per_seed = {seed: seed_figures(suite, name, seed) for seed in seeds}
        spread = seed_spread({seed: figures for seed, figures in per_seed.items()})
        variants[name] = {"seeds": {str(seed): figures for seed, figures in per_seed.items()},
                          "spread": {figure: asdict(value) for figure, value in spread.items()}}
    machine = {"cpu": cpu_model_and_flags()[0], "libraries": library_versions()}
    return {"profile": settings.profile.name, "date": date.today().isoformat(), "machine": machine, "variants": variants}


def seed_figures(suite, name: str, seed: int) -> dict:
    """One seed's model of the variant, served and scored on the test split."""
    builder = suite.builder
    trained = builder.artifact(name) if seed == FIRST_SEED else builder.reseeded(name, seed)
    served_artifact = builder.serving(trained)
    quality = suite.evaluate_served(f"{name}@{seed}", suite.serve_artifact(served_artifact)).quality
    metrics = quality.metrics
    return {"artifact_key": trained.key, "accuracy": metrics.accuracy, "in_scope_accuracy": metrics.in_scope_accuracy,
            "oos_recall": metrics.oos_recall,
            "validation_accuracy": float(served_artifact.meta.get("validation_accuracy", float("nan")))}


def format_study(study: dict) -> str:
    """The spread as a Markdown table: one row per variant and figure, in points."""
    from compressors.measure.spread import Spread

    lines = ["| variant | figure | mean ± sd (range) |", "|---|---|---|"]
    for name, entry in study["variants"].items():
        for figure, raw in entry["spread"].items():
            lines.append(f"| {name} | {figure} | {Spread(**raw).describe()} |")
    return "\n".join(lines)
