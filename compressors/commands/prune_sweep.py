"""`compressors prune-sweep`: accuracy, size and paired speed-up of every pruning method.

    compressors prune-sweep --profile full --out reports/pruning
    compressors prune-sweep --methods structured --shapes 6x768,6x512,4x512 --out reports/pruning

Builds (through the same cached steps as the suite's `pruned-*` variants) the profile's pruning
config at each method and sparsity, and its structured pruning at each shape (heads x neurons
kept per layer), evaluates each on the validation and the test split, times each against the
dense reference in paired blocks (as the suite does), and writes `prune_sweep.md` (a Markdown
table) and `prune_sweep.png` (accuracy and size against sparsity, accuracy against speed-up)
into `--out`. The profile's own sparsity and shape are the suite's variants (the same cache
keys), so they are built once. Validation is what a choice among the rows may look at.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from compressors.artifacts import default_cache_dir, write_atomic
from compressors.data import LABEL, TEXT
from compressors.measure.figures import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from compressors.profiles import Profile

NAME = "prune-sweep"
SUMMARY = "accuracy, size and paired speed-up of magnitude, movement and structured pruning (table + plot)"

logger = logging.getLogger(__name__)

DEFAULT_SPARSITIES = (0.5, 0.8, 0.9)
STRUCTURED = "structured"
MARKDOWN, PLOT = "prune_sweep.md", "prune_sweep.png"


@dataclass(frozen=True)
class SweepPoint:
    """One evaluated model: a pruned one, or the dense reference (method "dense").

    Attributes:
        target: what was asked ("90%" of the weights, or "6x768": heads x neurons per layer).
        sparsity: zeros in the pruned weights (unstructured), or parameters removed (structured).
        speedup: paired speed-up against the dense reference, with its interval (low, high).
    """

    method: str
    target: str
    sparsity: float
    validation_accuracy: float
    accuracy: float
    in_scope_accuracy: float
    oos_recall: float
    size_mb: float
    dense_size_mb: float
    speedup: float
    speedup_low: float
    speedup_high: float


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

    known = (*METHODS, STRUCTURED)
    methods = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [m for m in methods if m not in known]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f"methods must be among {known}, got {text!r}")
    return methods


def parse_shapes(text: str) -> tuple[tuple[int | float, int | float], ...]:
    """Structured shapes from "6x768,4x512" (counts) or "0.5x0.5" (fractions): heads x neurons."""
    shapes = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            shapes.append(tuple(float(v) if "." in v else int(v) for v in part.split("x")))
        except ValueError:
            shapes.append(())
        if len(shapes[-1]) != 2 or any(not v > 0 for v in shapes[-1]):
            raise argparse.ArgumentTypeError(
                f"shapes are HEADSxNEURONS kept per layer, counts or fractions, e.g. 6x768,0.5x0.5; got {part!r}"
            )
    if not shapes:
        raise argparse.ArgumentTypeError(f"expected at least one shape such as 6x768, got {text!r}")
    return tuple(shapes)


def shape_label(heads: int | float, neurons: int | float) -> str:
    return f"{heads}x{neurons}"


def run_sweep(
    profile: Profile,
    cache_dir: Path,
    methods: Sequence[str] | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    threads: int | None = None,
    shapes: Sequence[tuple[int | float, int | float]] | None = None,
) -> list[SweepPoint]:
    """Build, evaluate and time the dense reference and every (method, sparsity) and structured
    shape; returns the reference first."""
    # The sweep builds and runs models: the heavy layers load here, not when the CLI starts.
    from compressors.formats.predictors import load_predictor
    from compressors.measure.harness import evaluate
    from compressors.measure.paired import PairedSpeedup, measure_paired, paired_speedup
    from compressors.steps.base import build_chain
    from compressors.steps.prune import METHODS
    from compressors.suite import Suite

    methods = methods or (*METHODS, STRUCTURED)
    shapes = shapes or ((profile.structured.heads, profile.structured.neurons),)
    suite = Suite(profile, cache_dir)
    threads = threads or profile.harness.threads
    harness = profile.harness
    reference_artifact = suite.artifact(sweep_reference(profile))
    reference = load_predictor(reference_artifact, threads)

    def accuracy_on(predictor, split) -> float:
        return evaluate(predictor, split[TEXT], split[LABEL], suite.oos_id, harness.eval_batch_size).accuracy

    def measure(artifact, method: str, target: str, sparsity: float) -> SweepPoint:
        is_reference = artifact is reference_artifact
        predictor = reference if is_reference else load_predictor(artifact, threads)
        metrics = evaluate(predictor, suite.test[TEXT], suite.test[LABEL], suite.oos_id, harness.eval_batch_size)
        if is_reference:
            speedup = PairedSpeedup(1.0, 1.0, 1.0, ())
        else:
            speedup = paired_speedup(measure_paired(reference, predictor, suite.queries, harness.paired), harness.paired.confidence)
        size_mb = artifact.deployed_bytes() / 1e6
        point = SweepPoint(
            method=method, target=target, sparsity=sparsity,
            validation_accuracy=accuracy_on(predictor, suite.data["validation"]),
            accuracy=metrics.accuracy, in_scope_accuracy=metrics.in_scope_accuracy, oos_recall=metrics.oos_recall,
            size_mb=size_mb, dense_size_mb=artifact.meta.get("dense_size_mb", size_mb),
            speedup=speedup.estimate, speedup_low=speedup.low, speedup_high=speedup.high,
        )
        logger.info("prune-sweep: %s %s: validation %.4f, test %.4f, %.1f MB, %.2fx", method, target,
                    point.validation_accuracy, point.accuracy, point.size_mb, point.speedup)
        return point

    source = None if profile.pruning.checkpoint else suite.artifact(profile.pruning_source)
    points = [measure(reference_artifact, "dense", "-", 0.0)]
    for method in (m for m in methods if m != STRUCTURED):
        for sparsity in sparsities:
            config = replace(profile.pruning, method=method, sparsity=sparsity)
            artifact = build_chain(source, (config,), suite.context)
            points.append(measure(artifact, method, f"{sparsity:.0%}", artifact.meta.get("sparsity", sparsity)))
    if STRUCTURED in methods:
        structured_source = suite.artifact(profile.pruning_source)
        for heads, neurons in shapes:
            config = replace(profile.structured, heads=heads, neurons=neurons)
            artifact = build_chain(structured_source, (config,), suite.context)
            removed = 1.0 - artifact.meta["parameters_after"] / artifact.meta["parameters_before"]
            points.append(measure(artifact, STRUCTURED, shape_label(heads, neurons), removed))
    return points


def sweep_reference(profile: Profile) -> str:
    """The dense variant the pruned models compare with: the source pruned, or the baseline when
    pruning starts from the pretrained checkpoint (the baseline is that checkpoint fine-tuned)."""
    return "baseline" if profile.pruning.checkpoint else profile.pruning_source


def format_sweep(points: Sequence[SweepPoint], profile: str, source: str) -> str:
    """The Markdown table of a sweep (the dense reference first)."""
    lines = [
        f"Pruning sweep, `{profile}` profile, against `{source}` (argmax answers, no threshold). Sparsity is the "
        "fraction of zeros in the pruned weights (unstructured) or of parameters removed (structured); the "
        "speed-up is paired against the dense reference at batch size 1, with its 95% interval.",
        "",
        "| method | target | sparsity | validation | test | in-scope | OOS recall | size MB | dense MB | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.method} | {p.target} | {p.sparsity:.4f} | {format_number(p.validation_accuracy)} | {p.accuracy:.4f} | "
            f"{format_number(p.in_scope_accuracy)} | {format_number(p.oos_recall)} | {p.size_mb:.1f} | "
            f"{p.dense_size_mb:.1f} | {p.speedup:.2f}x [{p.speedup_low:.2f}, {p.speedup_high:.2f}] |"
        )
    return "\n".join(lines) + "\n"


def sweep_figure(points: Sequence[SweepPoint], source: str) -> Figure:
    """Accuracy and stored size against sparsity (one line per method), and accuracy against the
    paired speed-up; the dense reference dashed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 4), dpi=120, layout="constrained")
    accuracy_axes, size_axes, speed_axes = figure.subplots(1, 3)
    dense = [p for p in points if p.method == "dense"]
    for method in dict.fromkeys(p.method for p in points if p.method != "dense"):
        line = sorted((p for p in points if p.method == method), key=lambda p: p.sparsity)
        xs = [100 * p.sparsity for p in line]
        accuracy_axes.plot(xs, [100 * p.accuracy for p in line], marker="o", label=method)
        size_axes.plot(xs, [p.size_mb for p in line], marker="o", label=method)
        speed_axes.errorbar([p.speedup for p in line], [100 * p.accuracy for p in line], fmt="o", label=method,
                            xerr=[[p.speedup - p.speedup_low for p in line], [p.speedup_high - p.speedup for p in line]])
    if dense:
        accuracy_axes.axhline(100 * dense[0].accuracy, linestyle="--", color="grey", label=f"{source} (dense)")
        size_axes.axhline(dense[0].size_mb, linestyle="--", color="grey", label=f"{source} (dense)")
        speed_axes.axhline(100 * dense[0].accuracy, linestyle="--", color="grey", label=f"{source} (dense)")
        speed_axes.axvline(1.0, linestyle=":", color="grey")
    accuracy_axes.set(xlabel="sparsity (%)", ylabel="test accuracy (%)", title="accuracy")
    size_axes.set(xlabel="sparsity (%)", ylabel="MB on disk", title="stored size")
    speed_axes.set(xlabel="paired speed-up vs dense (x)", ylabel="test accuracy (%)", title="accuracy vs speed")
    size_axes.set_ylim(bottom=0)
    for axes in (accuracy_axes, size_axes, speed_axes):
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
    parser.add_argument("--methods", type=parse_methods, default=None,
                        help="default: every method (magnitude,movement,structured)")
    parser.add_argument("--shapes", type=parse_shapes, default=None,
                        help="structured shapes, heads x neurons kept per layer (default: the profile's, e.g. 6x768)")
    parser.add_argument("--threads", type=int, default=None, help="inference threads for evaluation (default: the profile's)")


def run(args: argparse.Namespace) -> int:
    from compressors.profiles import get_profile

    try:
        profile = get_profile(args.profile)
    except ValueError as error:
        print(f"compressors prune-sweep: error: {error}", file=sys.stderr)
        return 2
    points = run_sweep(profile, args.cache_dir or default_cache_dir(), args.methods, args.sparsities, args.threads,
                       args.shapes)
    for path in write_sweep(points, args.out, profile.name, sweep_reference(profile)):
        print(path)
    return 0
