"""`compressors search`: the fastest (or smallest) compression chain that meets your accuracy floor.

    compressors search --profile small --out reports/search --time-budget 20m
    compressors search --profile full --max-accuracy-drop 0.5% --speed cost --time-budget 2h --out reports/search
    compressors search --suite-config mine.toml --objective both --out reports/search --register

Explores chains of the existing steps (which model: the baseline, the distilled student, the
structured-pruned model, new students and shapes; vocabulary trimming; PyTorch or ONNX Runtime;
dynamic or static int8 with per-channel scales, reduce_range, U8S8 or U8U8 weights, the
operators quantized; the graph level), cheap ones first. Each chain is judged on validation
(accuracy through the served out-of-scope decision, against the baseline's) and by its
speed-up (paired wall clock on a quiet machine, or `--speed cost`: instructions under valgrind,
for a busy one). Every artifact lands in the suite's cache; the trials are kept in
`<cache>/chains/`, so a stopped search resumes. Writes front.json, front.md and front.png
into `--out`, prints the front and the chosen chain; `--register` records the chosen chain as
the profile's `searched` variant (compressors/chains/chosen.json), which the suite then
measures on test like any other. The suite config's [search] table sets the defaults of these
options and the space explored.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from typing import TYPE_CHECKING

from compressors.suite.settings import add_suite_options

if TYPE_CHECKING:
    from compressors.chains.config import SearchConfig

NAME = "search"
SUMMARY = "search compression chains for the fastest that meets a validation accuracy floor (front table + plot)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for front.json, front.md and front.png")
    parser.add_argument("--max-accuracy-drop", default=None,
                        help="largest validation accuracy drop below the baseline, 0.005 or '0.5%%' (default: [search] or 0.005)")
    parser.add_argument("--objective", default=None, help="speed, size or both (default: [search] or speed)")
    parser.add_argument("--speed", default=None, help="paired (wall clock, quiet machine) or cost (valgrind counts) (default: paired)")
    parser.add_argument("--time-budget", default=None, help="no new trial stage after this long: seconds, 90m, 2h (default: no limit)")
    parser.add_argument("--register", action="store_true", help="record the chosen chain as the profile's `searched` variant")
    add_suite_options(parser)


def search_config(args: argparse.Namespace, base: SearchConfig) -> SearchConfig:
    """The [search] settings with the command line's values over them; a ValueError naming the option."""
    options = (
        ("--max-accuracy-drop", args.max_accuracy_drop, lambda c, v: replace(c, goal=replace(c.goal, max_accuracy_drop=v))),
        ("--objective", args.objective, lambda c, v: replace(c, goal=replace(c.goal, objective=v))),
        ("--speed", args.speed, lambda c, v: replace(c, speed=v)),
        ("--time-budget", args.time_budget, lambda c, v: replace(c, time_budget=v)),
    )
    config = base
    for option, value, apply in options:
        if value is not None:
            try:
                config = apply(config, value)
            except ValueError as error:
                raise ValueError(f"{option}: {error}") from None
    return config


def run(args: argparse.Namespace) -> int:
    from compressors.chains.config import SearchConfig
    from compressors.suite.settings import resolve_suite

    try:
        settings = resolve_suite(args)
        config = search_config(args, settings.selection.search if settings.selection else SearchConfig())
    except ValueError as error:
        print(f"compressors search: error: {error}", file=sys.stderr)
        return 2
    from compressors.chains import chosen as chosen_file
    from compressors.chains.space import candidates
    from compressors.search.evaluate import ChainEvaluator
    from compressors.search.front import format_front, write_front
    from compressors.search.runner import run_search
    from compressors.search.store import TrialStore, study_path
    from compressors.suite.build import Builder

    builder = Builder.open(settings.profile, settings.cache_dir, settings.device)
    evaluator = ChainEvaluator(builder, config.speed)
    try:
        study = evaluator.study()
        store = TrialStore(study_path(settings.cache_dir / "chains", study), study)
        outcome = run_search(evaluator, candidates(config.space), config.goal, store, time_budget=config.time_budget,
                             refine_fraction=config.refine_fraction)
    finally:
        evaluator.close()
    paths = write_front(outcome, config.goal, study, args.out)
    print(format_front(outcome, config.goal))
    for path in (*paths, store.path):
        print(path)
    if outcome.chosen is None:
        print("no timed chain meets the floor: see the front for the nearest", file=sys.stderr)
        return 1
    if args.register:
        chosen = outcome.chosen
        figures = {"validation_accuracy": chosen.validation_accuracy, "baseline_accuracy": outcome.baseline_accuracy,
                   "speedup": chosen.speedup, "speed": config.speed, "size_ratio": chosen.size_ratio,
                   "max_accuracy_drop": config.goal.max_accuracy_drop, "objective": config.goal.objective}
        try:
            path = chosen_file.record_choice(settings.profile, chosen.candidate, figures, chosen_file.CHOSEN)
            print(f"registered {chosen.name} as the `searched` variant of the {settings.profile.name} profile: {path}")
        except ValueError as error:
            print(f"compressors search: {error}", file=sys.stderr)
            return 1
    return 0
