"""`compressors prune-sweep`: accuracy, size and paired speed-up of every pruning method.

    compressors prune-sweep --profile full --out reports/pruning
    compressors prune-sweep --methods structured --shapes 6x768,6x512,4x512 --out reports/pruning

Builds (through the same cached steps as the suite's `pruned-*` variants) the profile's pruning
config at each method and sparsity, and its structured pruning at each shape (heads x neurons
kept per layer), and takes each through the suite's own serve and measure (the profile's serving
steps, the faster attention kernel, test-split quality, plain latency, the paired speed-up
against the dense reference), so a point's figures are those the suite reports for the same
artifact; it also scores the validation split, and writes `prune_sweep.md` (a Markdown
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

from compressors.artifacts import write_atomic
from compressors.data import LABEL, TEXT
from compressors.measure.figures import Figures, format_number
from compressors.suite.settings import add_suite_options

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from compressors.artifacts import Artifact
    from compressors.profiles import Profile
    from compressors.suite.run import Suite

NAME = "prune-sweep"
SUMMARY = "accuracy, size and paired speed-up of magnitude, movement and structured pruning (table + plot)"

logger = logging.getLogger(__name__)

DEFAULT_SPARSITIES = (0.5, 0.8, 0.9)
STRUCTURED = "structured"
MARKDOWN, PLOT = "prune_sweep.md", "prune_sweep.png"


@dataclass(frozen=True)
class SweepPoint:
    """One measured model: a pruned one, or the dense reference (method "dense").

    Attributes:
        target: what was asked ("90%" of the weights, or "6x768": heads x neurons per layer).
        sparsity: zeros in the pruned weights (unstructured), or parameters removed (structured).
        validation_accuracy: served answers on the validation split (what a choice may look at).
        figures: measured as the suite measures a variant, against the dense reference.
        dense_size_mb: the stored size of the dense model it was pruned from.
    """

    method: str
    target: str
    sparsity: float
    validation_accuracy: float
    figures: Figures
    dense_size_mb: float

    @property
    def accuracy(self) -> float:
        return self.figures.accuracy

    @property
    def in_scope_accuracy(self) -> float:
        return self.figures.in_scope_accuracy

    @property
    def oos_recall(self) -> float:
        return self.figures.oos_recall

    @property
    def size_mb(self) -> float:
        return self.figures.size_mb

    @property
    def speedup(self) -> float:
        return self.figures.speedup

    @property
    def speedup_low(self) -> float:
        return self.figures.speedup_low

    @property
    def speedup_high(self) -> float:
        return self.figures.speedup_high


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
    suite: Suite,
    methods: Sequence[str] | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    shapes: Sequence[tuple[int | float, int | float]] | None = None,
) -> list[SweepPoint]:
    """Build, serve, evaluate and measure (as the suite does its variants) the dense reference and
    every (method, sparsity) and structured shape; returns the reference first."""
    from compressors.steps.base import build_chain
    from compressors.steps.prune import METHODS

    profile, builder = suite.profile, suite.builder
    methods = methods or (*METHODS, STRUCTURED)
    shapes = shapes or ((profile.structured.heads, profile.structured.neurons),)
    reference = sweep_reference(profile)
    points = [sweep_point(suite, reference, "dense", "-", 0.0, None)]
    source = None if profile.pruning.checkpoint else builder.artifact(profile.pruning_source)
    for method in (m for m in methods if m != STRUCTURED):
        for sparsity in sparsities:
            artifact = build_chain(source, (replace(profile.pruning, method=method, sparsity=sparsity),), builder.context)
            points.append(sweep_point(suite, reference, method, f"{sparsity:.0%}", artifact.meta.get("sparsity", sparsity), artifact))
    if STRUCTURED in methods:
        structured_source = builder.artifact(profile.pruning_source)
        for heads, neurons in shapes:
            config = replace(profile.structured, heads=heads, neurons=neurons)
            artifact = build_chain(structured_source, (config,), builder.context)
            removed = 1.0 - artifact.meta["parameters_after"] / artifact.meta["parameters_before"]
            points.append(sweep_point(suite, reference, STRUCTURED, shape_label(heads, neurons), removed, artifact))
    return points


def sweep_point(suite: Suite, reference: str, method: str, target: str, sparsity: float, artifact: Artifact | None) -> SweepPoint:
    """One model of the sweep (`artifact` None: the reference variant itself) through the suite's
    serve, evaluate and measure, against the reference variant."""
    from compressors.measure.harness import evaluate

    if artifact is None:
        evaluated, artifact = suite.evaluate(reference), suite.builder.artifact(reference)
    else:
        evaluated = suite.evaluate_served(f"{method} {target}", suite.serve_artifact(suite.builder.serving(artifact)))
    figures = suite.measure(evaluated, reference=reference)
    validation = suite.data["validation"]
    accuracy = evaluate(evaluated.served.predictor, validation[TEXT], validation[LABEL], suite.oos_id,
                        suite.harness.eval_batch_size).accuracy
    point = SweepPoint(method, target, sparsity, accuracy, figures, artifact.meta.get("dense_size_mb", figures.size_mb))
    logger.info("prune-sweep: %s %s: validation %.4f, test %.4f, %.1f MB, %.2fx", method, target,
                point.validation_accuracy, point.accuracy, point.size_mb, point.speedup)
    return point


def sweep_reference(profile: Profile) -> str:
    """The dense variant the pruned models compare with: the source pruned, or the baseline when
    pruning starts from the pretrained checkpoint (the baseline is that checkpoint fine-tuned)."""
    return "baseline" if profile.pruning.checkpoint else profile.pruning_source


def format_sweep(points: Sequence[SweepPoint], profile: str, source: str) -> str:
    """The Markdown table of a sweep (the dense reference first)."""
    lines = [
        f"Pruning sweep, `{profile}` profile, against `{source}` (served as the suite serves its variants). Sparsity is the "
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
    parser.add_argument("--out", type=Path, required=True, help=f"directory for {MARKDOWN} and {PLOT}")
    parser.add_argument("--sparsities", type=parse_fractions, default=DEFAULT_SPARSITIES, help="default: 0.5,0.8,0.9")
    parser.add_argument("--methods", type=parse_methods, default=None,
                        help="default: every method (magnitude,movement,structured)")
    parser.add_argument("--shapes", type=parse_shapes, default=None,
                        help="structured shapes, heads x neurons kept per layer (default: the profile's, e.g. 6x768)")
    add_suite_options(parser)


def run(args: argparse.Namespace) -> int:
    from compressors.suite.run import Suite
    from compressors.suite.settings import resolve_suite

    try:
        settings = resolve_suite(args)
    except ValueError as error:
        print(f"compressors prune-sweep: error: {error}", file=sys.stderr)
        return 2
    points = run_sweep(Suite.open(settings), args.methods, args.sparsities, args.shapes)
    for path in write_sweep(points, args.out, settings.profile.name, sweep_reference(settings.profile)):
        print(path)
    return 0
