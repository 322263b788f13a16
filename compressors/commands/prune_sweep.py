"""`compressors prune-sweep`: test accuracy against sparsity for both pruning methods.

    compressors prune-sweep --profile full --out reports/pruning

Builds (through the same cached steps as the suite's `pruned-*` variants) the profile's pruning
config at each method and sparsity, evaluates each on the test split, and writes
`prune_sweep.md` (a Markdown table) and `prune_sweep.png` (accuracy and size against sparsity)
into `--out`. The profile's own sparsity is the suite's variant (the same cache key), so it is built once.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from compressors.artifacts import default_cache_dir
from compressors.data import LABEL, TEXT
from compressors.history.runs import write_atomic
from compressors.measure.figures import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from compressors.profiles import Profile

NAME = "prune-sweep"
SUMMARY = "accuracy vs sparsity of magnitude and movement pruning (table + plot)"

logger = logging.getLogger(__name__)

DEFAULT_SPARSITIES = (0.5, 0.8, 0.9)
MARKDOWN, PLOT = "prune_sweep.md", "prune_sweep.png"


@dataclass(frozen=True)
class SweepPoint:
    """One evaluated model: a pruned variant, or the dense source (method "dense", sparsity 0)."""

    method: str
    target: float
    sparsity: float
    accuracy: float
    in_scope_accuracy: float
    oos_recall: float
    size_mb: float
    dense_size_mb: float


def parse_fractions(text: str) -> tuple[float, ...]:
    """Sparsities from "0.5,0.8,0.9", each in (0, 1)."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions such as 0.5,0.8,0.9, got {text!r}") from None
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"sparsities must be fractions in (0, 1), got {text!r}")
    return values


def parse_methods(text: str) -> tuple[str, ...]:
    from compressors.steps.prune import METHODS

    methods = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f"methods must be among {METHODS}, got {text!r}")
    return methods


def run_sweep(
    profile: Profile,
    cache_dir: Path,
    methods: Sequence[str] | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    threads: int | None = None,
) -> list[SweepPoint]:
    """Build and evaluate the dense source and every (method, sparsity); returns the source first."""
    # The sweep builds and runs models: the heavy layers load here, not when the CLI starts.
    from compressors.measure.harness import evaluate
    from compressors.formats.predictors import load_predictor
    from compressors.steps.base import build_chain
    from compressors.steps.prune import METHODS
    from compressors.suite import Suite

    methods = methods or METHODS
    suite = Suite(profile, cache_dir)
    threads = threads or profile.harness.threads
    texts, labels = suite.test[TEXT], suite.test[LABEL]

    def measure(artifact, method: str, target: float) -> SweepPoint:
        metrics = evaluate(load_predictor(artifact, threads), texts, labels, suite.oos_id, profile.harness.eval_batch_size)
        meta = artifact.meta
        size_mb = artifact.deployed_bytes() / 1e6
        point = SweepPoint(
            method=method,
            target=target,
            sparsity=meta.get("sparsity", 0.0),
            accuracy=metrics.accuracy,
            in_scope_accuracy=metrics.in_scope_accuracy,
            oos_recall=metrics.oos_recall,
            size_mb=size_mb,
            dense_size_mb=meta.get("dense_size_mb", size_mb),
        )
        logger.info("prune-sweep: %s at %.2f: accuracy %.4f, %.1f MB", method, target, point.accuracy, point.size_mb)
        return point

    source = None if profile.pruning.checkpoint else suite.artifact(profile.pruning_source)
    points = [measure(suite.artifact(sweep_reference(profile)), "dense", 0.0)]
    for method in methods:
        for sparsity in sparsities:
            config = replace(profile.pruning, method=method, sparsity=sparsity)
            points.append(measure(build_chain(source, (config,), suite.context), method, sparsity))
    return points


def sweep_reference(profile: Profile) -> str:
    """The dense variant the pruned models compare with: the source pruned, or the baseline when
    pruning starts from the pretrained checkpoint (the baseline is that checkpoint fine-tuned)."""
    return "baseline" if profile.pruning.checkpoint else profile.pruning_source


def format_sweep(points: Sequence[SweepPoint], profile: str, source: str) -> str:
    """The Markdown table of a sweep (the dense source first)."""
    lines = [
        f"Pruning sweep, `{profile}` profile, pruned from `{source}` (test split).",
        "",
        "| method | target sparsity | measured sparsity | accuracy | in-scope | OOS recall | size MB (sparse file) | size MB (dense) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.method} | {p.target:.0%} | {p.sparsity:.4f} | {p.accuracy:.4f} | {format_number(p.in_scope_accuracy)} | "
            f"{format_number(p.oos_recall)} | {p.size_mb:.1f} | {p.dense_size_mb:.1f} |"
        )
    return "\n".join(lines) + "\n"


def sweep_figure(points: Sequence[SweepPoint], source: str) -> Figure:
    """Accuracy and stored size against target sparsity, one line per method, the dense source dashed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4), dpi=120, layout="constrained")
    accuracy_axes, size_axes = figure.subplots(1, 2)
    dense = [p for p in points if p.method == "dense"]
    for method in dict.fromkeys(p.method for p in points if p.method != "dense"):
        line = sorted((p for p in points if p.method == method), key=lambda p: p.target)
        xs = [100 * p.target for p in line]
        accuracy_axes.plot(xs, [100 * p.accuracy for p in line], marker="o", label=method)
        size_axes.plot(xs, [p.size_mb for p in line], marker="o", label=f"{method} (sparse file)")
    if dense:
        accuracy_axes.axhline(100 * dense[0].accuracy, linestyle="--", color="grey", label=f"{source} (dense)")
        size_axes.axhline(dense[0].size_mb, linestyle="--", color="grey", label=f"{source} (dense)")
    accuracy_axes.set(xlabel="sparsity of the pruned weights (%)", ylabel="test accuracy (%)", title="accuracy")
    size_axes.set(xlabel="sparsity of the pruned weights (%)", ylabel="MB on disk", title="stored size")
    size_axes.set_ylim(bottom=0)
    for axes in (accuracy_axes, size_axes):
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def write_sweep(points: Sequence[SweepPoint], out: Path, profile: str, source: str) -> tuple[Path, Path]:
    """Write the table and the plot into `out`; returns their paths."""
    import io

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    markdown, plot = out / MARKDOWN, out / PLOT
    buffer = io.BytesIO()
    sweep_figure(points, source).savefig(buffer, format="png")
    write_atomic(plot, buffer.getvalue())
    write_atomic(markdown, format_sweep(points, profile, source).encode())
    return markdown, plot


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="full", help="suite profile (default: full; 'small' for a quick check)")
    parser.add_argument("--out", type=Path, required=True, help=f"directory for {MARKDOWN} and {PLOT}")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"artifact cache (default: {default_cache_dir()})")
    parser.add_argument("--sparsities", type=parse_fractions, default=DEFAULT_SPARSITIES, help="default: 0.5,0.8,0.9")
    parser.add_argument("--methods", type=parse_methods, default=None, help="default: every method (magnitude,movement)")
    parser.add_argument("--threads", type=int, default=None, help="inference threads for evaluation (default: the profile's)")


def run(args: argparse.Namespace) -> int:
    from compressors.profiles import get_profile

    try:
        profile = get_profile(args.profile)
    except ValueError as error:
        print(f"compressors prune-sweep: error: {error}", file=sys.stderr)
        return 2
    points = run_sweep(profile, args.cache_dir or default_cache_dir(), args.methods, args.sparsities, args.threads)
    for path in write_sweep(points, args.out, profile.name, sweep_reference(profile)):
        print(path)
    return 0
