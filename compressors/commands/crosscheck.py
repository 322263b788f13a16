"""`compressors crosscheck`: time cached variants in separate processes, one model each, and
compare with the paired speed-ups of a saved run.

    compressors crosscheck --run full.json --variants pruned-structured,ort-quantized

Each process loads one served model as the suite serves it (torch: the faster attention),
makes `--warm` untimed calls, then times `--calls` batch-size-1 calls over the suite's latency
queries; its figure is the median call time. Processes alternate baseline and variant in ABBA
order (B V | V B | B V ...) for `--pairs` pairs, so a drift of the machine cancels in each
pair's ratio; the speed-up is the Hodges-Lehmann estimate over the pairs with its 95% interval,
as in the suite. The profile is the run's unless --profile names one; the artifacts must be
cached (run the suite first). A variant whose speed-up differs from the run's paired one by
more than `--tolerance` is named. Exits 0 when every variant agrees, 1 when one does not, 2 on
a usage error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compressors.commands.lock import parse_names
from compressors.measure.figures import BASELINE
from compressors.measure.paired import PairedSpeedup, paired_speedup
from compressors.suite.settings import add_suite_options

NAME = "crosscheck"
SUMMARY = "time variants in separate processes (ABBA) and compare with a saved run's paired speed-ups"

@dataclass(frozen=True)
class Crosscheck:
    """One variant's speed-up from separate processes beside the saved run's paired one."""

    variant: str
    separate: PairedSpeedup
    suite: float

    @property
    def difference(self) -> float:
        """Relative difference of the separate-process figure from the suite's."""
        return self.separate.estimate / self.suite - 1

    def line(self) -> str:
        s = self.separate
        return (f"{self.variant}: separate processes {s.estimate:.2f}x [{s.low:.2f}, {s.high:.2f}], "
                f"suite paired {self.suite:.2f}x, difference {100 * self.difference:+.1f}%")


def crosscheck(variant: str, suite_speedups: dict[str, float], time_in_process: Callable[[str], float],
               pairs: int) -> Crosscheck:
    """`pairs` ABBA pairs of processes timed by `time_in_process(name) -> median seconds`."""
    if pairs < 2:
        raise ValueError(f"--pairs must be at least 2, got {pairs}")
    if variant not in suite_speedups:
        raise ValueError(f"variant {variant!r} has no paired speed-up in the run (it has: {', '.join(sorted(suite_speedups))})")
    ratios = []
    for pair in range(pairs):
        order = (BASELINE, variant) if pair % 2 == 0 else (variant, BASELINE)
        medians = {name: time_in_process(name) for name in order}
        ratios.append(medians[variant] / medians[BASELINE])
    return Crosscheck(variant, paired_speedup(ratios), suite_speedups[variant])


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, help="a saved run (pytest --benchmark-json) with the paired speed-ups")
    parser.add_argument("--variants", type=parse_names, default=None,
                        help="comma-separated variants (default: every variant of the run but the baseline)")
    parser.add_argument("--pairs", type=int, default=6, help="ABBA pairs of processes per variant (default: 6)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per process (default: 200)")
    parser.add_argument("--warm", type=int, default=20, help="untimed calls before timing (default: 20)")
    parser.add_argument("--tolerance", type=float, default=0.15, help="largest relative difference accepted (default: 0.15)")
    parser.add_argument("--time-one", default=None, help=argparse.SUPPRESS)
    add_suite_options(parser)


def run(args: argparse.Namespace) -> int:
    from compressors.history.runs import HistoryError, load_run

    if args.time_one:
        return _time_one(args)
    try:
        if args.run is None:
            raise ValueError("--run is required: a saved run of the suite (pytest benchmarks --benchmark-json FILE)")
        saved = load_run(args.run)
        profile = args.profile or saved.profile
        if profile is None:
            raise ValueError(f"{args.run} mixes profiles or names none: pass --profile")
        speedups = {name: float(b.extra_info["speedup"]) for name, b in saved.benchmarks.items()
                    if name != BASELINE and isinstance(b.extra_info.get("speedup"), (int, float))}
        variants = args.variants or list(speedups)
        results = []
        for variant in variants:
            result = crosscheck(variant, speedups, lambda name: _time_in_child(name, profile, args), args.pairs)
            print(result.line(), flush=True)
            results.append(result)
    except (ValueError, HistoryError) as error:
        print(f"compressors crosscheck: error: {error}", file=sys.stderr)
        return 2
    apart = [r for r in results if abs(r.difference) > args.tolerance]
    if apart:
        print(f"{len(apart)} variant(s) differ from the suite by more than {args.tolerance:.0%}: {', '.join(r.variant for r in apart)}")
        return 1
    print(f"every variant agrees with the suite's paired speed-up within {args.tolerance:.0%}")
    return 0


def _time_in_child(name: str, profile: str, args: argparse.Namespace) -> float:
    command = [sys.executable, "-m", "compressors.cli", "crosscheck", "--time-one", name, "--profile", profile,
               "--calls", str(args.calls), "--warm", str(args.warm), "--device", args.device]
    for option, value in (("--cache-dir", args.cache_dir), ("--suite-config", args.suite_config), ("--threads", args.threads)):
        if value is not None:
            command += [option, str(value)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"timing {name} in a separate process failed:\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["median_seconds"])


def _time_one(args: argparse.Namespace) -> int:
    """Child process: load one served variant as the suite serves it, warm it, print the median of `--calls` timed calls."""
    import numpy as np

    from compressors.measure.harness import measure_latency
    from compressors.suite.build import Builder
    from compressors.suite.run import Suite
    from compressors.suite.settings import resolve_suite

    settings = resolve_suite(args)
    planned = Builder.open(settings.profile, settings.cache_dir, settings.device, plan_only=True).build(args.time_one)
    if not planned.path.is_dir():
        print(f"{args.time_one} is not cached ({planned.path} is missing): run the suite on the {settings.profile.name} profile first",
              file=sys.stderr)
        return 2
    suite = Suite.open(settings)
    seconds = measure_latency(suite.served(args.time_one).predictor, suite.queries, args.calls, args.warm)
    print(json.dumps({"variant": args.time_one, "median_seconds": float(np.median(seconds))}))
    return 0
