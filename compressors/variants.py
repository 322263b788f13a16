"""The one registry of variants: name, source variant, chain of steps.

The suite, the report and the CLI read this registry; adding a variant is one entry in one of
the builders below, its name in `VARIANT_NAMES`, and its budgets in `compressors/budgets.toml`.
`registry` checks the whole list: unique names, the names of `VARIANT_NAMES` in its order, sources
and teachers defined before the variants that use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from compressors.chains.chosen import fp32_source, searched_chain
from compressors.measure.figures import BASELINE
from compressors.names import did_you_mean
from compressors.profiles import Profile
from compressors.steps.cut_layers import CutLayers
from compressors.steps.distill import Distill
from compressors.steps.finetune import FineTune
from compressors.steps.onnx_export import OnnxExport
from compressors.steps.ort_optimize import OrtOptimize
from compressors.steps.ort_quantize import OrtDynamicInt8, OrtStaticInt8
from compressors.steps.search import SearchDistill
from compressors.steps.torch_int8 import TorchDynamicInt8
from compressors.steps.trim_vocabulary import TrimVocabulary
from compressors.steps.use_classifier import UseClassifier


@dataclass(frozen=True)
class Variant:
    """A named chain of steps applied to a source variant's artifact (or to a checkpoint).

    Attributes:
        name: the stable name used in test ids, budgets and saved runs.
        steps: step configs applied in order.
        source: the variant whose artifact the chain starts from; None starts from nothing.
        fp32_source: the variant whose accuracy an int8 variant is compared with.
        description: one line for reports.
        fast: meant to be faster than the baseline (it then carries a paired speed-up budget).
    """

    name: str
    steps: tuple[Any, ...]
    source: str | None = None
    fp32_source: str | None = None
    description: str = ""
    fast: bool = True

    @property
    def quantizes(self) -> bool:
        """Whether a step of its own chain quantizes to int8 (batched and batch-size-1 answers may differ)."""
        return any(getattr(step, "QUANTIZES", False) for step in self.steps)

    def teachers(self) -> list[str]:
        """Variants its steps learn from (distillation teachers)."""
        found = []
        for step in self.steps:
            teacher = getattr(getattr(step, "base", step), "teacher", None)
            if isinstance(teacher, str) and teacher:
                found.append(teacher)
        return found


def ort_chain(quantize: bool = True) -> tuple[Any, ...]:
    """Torch model -> ONNX -> ORT transformer optimizer (-> ORT dynamic int8)."""
    return (OnnxExport(), OrtOptimize(), *((OrtDynamicInt8(),) if quantize else ()))


def teacher_variants(profile: Profile) -> list[Variant]:
    """The baseline: the checkpoint fine-tuned on the data, or the user's own fine-tuned classifier
    (the teacher, the reference of every ratio)."""
    if profile.baseline_model:
        return [Variant(BASELINE, (UseClassifier(profile.baseline_model),), fast=False,
                        description=f"your fine-tuned classifier {profile.baseline_model} (the teacher)")]
    teacher = FineTune(checkpoint=profile.checkpoint, layers=profile.teacher_layers, train=profile.teacher_train)
    return [Variant(BASELINE, (teacher,), description="fine-tuned checkpoint (the teacher)", fast=False)]


def student_cut(profile: Profile) -> CutLayers:
    """The teacher layers a student keeps: the profile's, or one in two of the teacher's depth."""
    return CutLayers(profile.student_layers) if profile.student_layers else CutLayers(layers=(), every=2)


def student_variants(profile: Profile) -> list[Variant]:
    """Students cut from the teacher: on labels alone, distilled with the chosen recipe, and the
    book's chain (an Optuna search over alpha, T and epochs)."""
    cut = student_cut(profile)
    base = replace(profile.search.base, teacher=BASELINE)
    return [
        Variant(
            "student", (cut, replace(base, alpha=1.0, train=profile.student_train)), source=BASELINE,
            description="teacher layers cut to a student, fine-tuned on labels alone",
        ),
        Variant(
            "distilled", (cut, replace(profile.distill, teacher=BASELINE)), source=BASELINE,
            description="the student distilled with the recipe chosen on validation",
        ),
        Variant(
            "distilled-searched", (cut, replace(profile.search, base=base)), source=BASELINE,
            description="the student trained with the KD loss, alpha/T/epochs from the Optuna search",
        ),
    ]


def int8_variants(profile: Profile) -> list[Variant]:
    """PyTorch dynamic int8 of the distilled student and of the baseline."""
    return [
        Variant("quantized", (TorchDynamicInt8(),), source="distilled", fp32_source="distilled",
                description="distilled + PyTorch dynamic int8 (nn.Linear)"),
        Variant("baseline-quantized", (TorchDynamicInt8(),), source=BASELINE, fp32_source=BASELINE,
                description="baseline + PyTorch dynamic int8"),
    ]


def onnx_runtime_variants(profile: Profile) -> list[Variant]:
    """ONNX Runtime: fp32 graphs with its optimizer, dynamic and static int8."""
    return [
        Variant("baseline-ort", ort_chain(quantize=False), source=BASELINE, fp32_source=BASELINE,
                description="baseline exported to ONNX with the ORT transformer optimizer (what the runtime alone buys)"),
        Variant("ort", ort_chain(quantize=False), source="distilled", fp32_source="distilled",
                description="distilled, exported to ONNX, ORT transformer optimizer"),
        Variant("ort-quantized", (OrtDynamicInt8(),), source="ort", fp32_source="distilled",
                description="ort + ONNX Runtime dynamic int8"),
        Variant("ort-static", (OnnxExport(), OrtStaticInt8(calibration_size=profile.calibration_size)),
                source="distilled", fp32_source="distilled",
                description="distilled, ONNX Runtime static int8 (QDQ, calibrated on training queries)"),
        Variant("baseline-ort-quantized", ort_chain(), source=BASELINE, fp32_source=BASELINE,
                description="baseline through ONNX, ORT optimizer and ORT dynamic int8"),
    ]


def vocabulary_variants(profile: Profile) -> list[Variant]:
    """Trimmed vocabularies: alone on the baseline, and the frontier chains on the distilled student."""
    nearest = TrimVocabulary(dropped="nearest")
    return [
        Variant("baseline-trimmed", (nearest,), source=BASELINE, fp32_source=BASELINE, fast=False,
                description="baseline with the vocabulary trimmed to the training ids + spelling pieces, dropped "
                "pieces reading their nearest kept row, no retraining (what trimming alone costs)"),
        Variant("frontier", (nearest, *ort_chain()), source="distilled", fp32_source="distilled",
                description="distilled, vocabulary trimmed (dropped pieces read their nearest kept row), ORT "
                "optimized, ORT int8"),
        Variant(
            "frontier-respelled", (TrimVocabulary(keep_frequent=5000), *ort_chain()), source="distilled",
            fp32_source="distilled",
            description="frontier with dropped words re-spelled from kept pieces, and 5,000 frequent pieces kept",
        ),
    ]


def pruned_variants(profile: Profile) -> list[Variant]:
    """Unstructured pruning while fine-tuning, stored sparse, and its int8 form."""
    pruning = profile.pruning
    source = None if pruning.checkpoint else profile.pruning_source
    origin = "the pretrained checkpoint" if pruning.checkpoint else profile.pruning_source
    return [
        *(
            Variant(
                f"pruned-{method}", (replace(pruning, method=method),), source=source, fast=False,
                description=f"{origin} fine-tuned with {pruning.sparsity:.0%} of its {'/'.join(pruning.targets)} "
                f"weights {method}-pruned" + (f", distilling from {pruning.teacher}" if pruning.teacher else "") + ", stored sparse",
            )
            for method in ("magnitude", "movement")
        ),
        Variant("pruned-quantized", (TorchDynamicInt8(),), source="pruned-magnitude", fp32_source="pruned-magnitude",
                description="pruned-magnitude with torch dynamic int8 linears (int8 weights stored dense)"),
    ]


def structured_variants(profile: Profile) -> list[Variant]:
    """Whole heads and feed-forward neurons removed from the baseline (smaller matrices), and its ORT int8 form."""
    shape = profile.structured
    return [
        Variant("pruned-structured", (shape,), source=BASELINE, fp32_source=BASELINE,
                description=f"baseline keeping {shape.heads} heads and {shape.neurons} feed-forward neurons a layer "
                "(most important on training data), then KD fine-tuned"),
        Variant("pruned-structured-ort-quantized", ort_chain(), source="pruned-structured", fp32_source="pruned-structured",
                description="pruned-structured through ONNX, ORT optimizer and ORT dynamic int8"),
    ]


def searched_variants(profile: Profile) -> list[Variant]:
    """The chain `compressors search` chose and recorded for the profile (the frontier chain until one is)."""
    candidate, description = searched_chain(profile)
    source, steps = candidate.chain(profile)
    return [Variant("searched", steps, source=source, fp32_source=fp32_source(candidate), description=description)]


# Every profile registers these variants, in this order. Spelled out rather than read from a
# registry built for a throw-away profile, so that importing the names (the suite config, the
# budgets and the pytest plugin check names against them) builds nothing; `registry` refuses a
# list that disagrees with them.
VARIANT_NAMES: tuple[str, ...] = (
    BASELINE, "student", "distilled", "distilled-searched", "quantized", "baseline-quantized", "baseline-ort", "ort",
    "ort-quantized", "ort-static", "baseline-ort-quantized", "baseline-trimmed", "frontier", "frontier-respelled",
    "pruned-magnitude", "pruned-movement", "pruned-quantized", "pruned-structured", "pruned-structured-ort-quantized",
    "searched",
)

BUILDERS = (teacher_variants, student_variants, int8_variants, onnx_runtime_variants, vocabulary_variants, pruned_variants,
            structured_variants, searched_variants)


def registry(profile: Profile) -> dict[str, Variant]:
    """All variants of a profile, in build order (sources before the variants built on them)."""
    variants = check_registry([variant for build in BUILDERS for variant in build(profile)])
    if tuple(variants) != VARIANT_NAMES:
        missing = [name for name in variants if name not in VARIANT_NAMES]
        stale = [name for name in VARIANT_NAMES if name not in variants]
        raise ValueError(
            f"the variants of profile {profile.name!r} disagree with VARIANT_NAMES in compressors/variants.py: "
            f"not listed there {missing}, listed but not built {stale}; the registry builds, in order: {list(variants)}"
        )
    return variants


def check_registry(variants: Iterable[Variant]) -> dict[str, Variant]:
    """The variants by name, after checking that names are unique and that every source, fp32
    source and teacher is a variant defined before the one that uses it."""
    result: dict[str, Variant] = {}
    for variant in variants:
        if variant.name in result:
            raise ValueError(f"variant {variant.name!r} is defined twice")
        if not variant.steps:
            raise ValueError(f"variant {variant.name!r} has no steps")
        for role, name in (("source", variant.source), ("fp32_source", variant.fp32_source),
                           *(("teacher", t) for t in variant.teachers())):
            if name is not None and name not in result:
                raise ValueError(
                    f"variant {variant.name!r}: its {role} {name!r} must be a variant defined before it; "
                    f"defined so far: {list(result)}"
                )
        result[variant.name] = variant
    if BASELINE not in result:
        raise ValueError(f"the registry needs a {BASELINE!r} variant: every ratio divides by it")
    return result


def check_variant_name(name: str, names: Iterable[str] = VARIANT_NAMES) -> str:
    """`name` if it is a registered variant, else a ValueError with the nearest name."""
    names = list(names)
    if name not in names:
        raise ValueError(f"unknown variant {name!r}{did_you_mean(name, names)}; known variants: {names}")
    return name
