"""The one registry of variants: name, source variant, chain of steps.

The suite, the report and the CLI read this list; adding a variant is one entry here plus its
budgets in `benchmarks/budgets.toml`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

from compressors.finetune import CutLayers, FineTune
from compressors.onnx_export import OnnxExport
from compressors.ort import OrtDynamicInt8, OrtOptimize, OrtStaticInt8
from compressors.profiles import Profile
from compressors.quantization import TorchDynamicInt8
from compressors.vocabulary import TrimVocabulary

BASELINE = "baseline"
_MOVEMENT_SHORTFALL = (
    "accuracy: movement scores learned over 2 epochs from an already fine-tuned model carry no ranking "
    "(its weights barely move), so the masks are close to random and the model collapses (0.18 at 80%)"
)


@dataclass(frozen=True)
class Variant:
    """A named chain of steps applied to a source variant's artifact (or to a checkpoint).

    Attributes:
        name: the stable name used in test ids, budgets and saved runs.
        steps: step configs applied in order.
        source: the variant whose artifact the chain starts from; None starts from nothing.
        fp32_source: the variant whose accuracy an int8 variant is compared with.
        description: one line for reports.
        known_shortfall: why the variant is expected to break a budget of the full profile
            (its test is a strict xfail there: it fails the suite the day it starts passing,
            so the budget can be tightened); "" when it meets its budgets.
    """

    name: str
    steps: tuple[Any, ...]
    source: str | None = None
    fp32_source: str | None = None
    description: str = ""
    known_shortfall: str = ""


def registry(profile: Profile) -> dict[str, Variant]:
    """All variants of a profile, in build order (sources before the variants built on them)."""
    cut = CutLayers(profile.student_layers)
    teacher = FineTune(checkpoint=profile.checkpoint, layers=profile.teacher_layers, train=profile.teacher_train)
    ort_int8 = (OnnxExport(), OrtOptimize(), OrtDynamicInt8())  # torch model -> optimized ONNX Runtime int8
    variants = [
        Variant(BASELINE, (teacher,), description="fine-tuned checkpoint (the teacher)"),
        Variant(
            "student",
            (cut, replace(profile.search.base, teacher=BASELINE, alpha=1.0, train=profile.student_train)),
            source=BASELINE,
            description=f"{len(profile.student_layers)} teacher layers, fine-tuned on labels alone",
        ),
        Variant(
            "distilled",
            (cut, replace(profile.search, base=replace(profile.search.base, teacher=BASELINE))),
            source=BASELINE,
            description="the student trained with the KD loss, alpha/T/epochs from the Optuna search",
        ),
        Variant(
            "distilled-layers",
            (cut, replace(profile.search.base, teacher=BASELINE, alpha=0.5, temperature=4.0,
                          train=profile.student_train, layers=profile.layer_loss)),
            source=BASELINE,
            description="the student trained with the KD loss plus hidden-state and attention losses "
            "on mapped layers (TinyBERT-style)",
        ),
        Variant(
            "quantized", (TorchDynamicInt8(),), source="distilled", fp32_source="distilled",
            description="distilled + PyTorch dynamic int8 (nn.Linear)",
        ),
        Variant(
            "ort", (OnnxExport(), OrtOptimize()), source="distilled", fp32_source="distilled",
            description="distilled, exported to ONNX, ORT transformer optimizer (kept only if faster)",
        ),
        Variant(
            "ort-quantized", (OrtDynamicInt8(),), source="ort", fp32_source="distilled",
            description="ort + ONNX Runtime dynamic int8",
        ),
        Variant(
            "ort-static", (OnnxExport(), OrtStaticInt8(calibration_size=profile.calibration_size)),
            source="distilled", fp32_source="distilled",
            description="distilled, ONNX Runtime static int8 (QDQ, calibrated on training queries)",
            known_shortfall="accuracy: static QDQ int8 loses 4.5 points against its fp32 source (dynamic: 0.3)",
        ),
        Variant(
            "baseline-quantized", (TorchDynamicInt8(),), source=BASELINE, fp32_source=BASELINE,
            description="baseline + PyTorch dynamic int8",
            known_shortfall="accuracy: torch dynamic int8 of the 6-layer teacher loses 0.67 points (limit 0.5)",
        ),
        Variant(
            "baseline-ort-quantized", ort_int8, source=BASELINE,
            fp32_source=BASELINE, description="baseline through ONNX, ORT optimizer and ORT dynamic int8",
        ),
        Variant(
            "baseline-trimmed", (TrimVocabulary(),), source=BASELINE, fp32_source=BASELINE,
            description="baseline with the vocabulary trimmed to the training ids + spelling pieces, "
            "no retraining (what trimming alone costs)",
        ),
        Variant(
            "frontier",
            # 5,000 frequent pieces: about 2,500 ids beyond the training ones, what the size budget
            # (0.10 of the baseline) leaves room for at one int8 byte per weight.
            (TrimVocabulary(keep_frequent=5000), *ort_int8),
            source="distilled",
            fp32_source="distilled",
            description="distilled, vocabulary trimmed to the training ids + spelling pieces + 5,000 frequent "
            "pieces, ORT optimized, ORT int8",
            known_shortfall="accuracy: the trimmed 3-layer int8 student is 3.6 points below the baseline "
            "(limit 0.5); its size (0.098) and speed-up (15-18x) meet their budgets",
        ),
        Variant(
            "frontier-training-ids",
            (TrimVocabulary(), *ort_int8),
            source="distilled",
            fp32_source="distilled",
            description="frontier keeping only the training ids + spelling pieces (no frequent pieces)",
        ),
        Variant(
            "frontier-redistilled",
            (
                TrimVocabulary(),
                # Re-train on the trimmed vocabulary against the cached teacher logits (which are per
                # text, so the student's tokenizer may differ from the teacher's).
                replace(profile.search.base, teacher=BASELINE, alpha=0.5, temperature=4.0,
                        train=profile.frontier_train, same_tokenizer=False),
                *ort_int8,
            ),
            source="distilled",
            fp32_source="distilled",
            description="frontier with a re-distillation after trimming (the training split has no "
            "dropped ids, so it cannot teach the re-spelled words)",
        ),
        *(
            Variant(
                f"pruned-{method}",
                (replace(profile.pruning, method=method),),
                source=profile.pruning_source,
                description=f"{profile.pruning_source} with {profile.pruning.sparsity:.0%} of its "
                f"{'/'.join(profile.pruning.targets)} weights {method}-pruned while fine-tuning, stored sparse",
                known_shortfall=_MOVEMENT_SHORTFALL if method == "movement" else "",
            )
            for method in ("magnitude", "movement")
        ),
        Variant(
            "pruned-quantized",
            (TorchDynamicInt8(),),
            source="pruned-magnitude",
            fp32_source="pruned-magnitude",
            description="pruned-magnitude with torch dynamic int8 linears (int8 weights stored dense)",
        ),
    ]
    names = [v.name for v in variants]
    earlier = names[: names.index("pruned-magnitude")]
    if profile.pruning_source not in earlier:
        raise ValueError(
            f"profile {profile.name!r}: pruning_source must be a variant built before the pruned ones, "
            f"one of {earlier}; got {profile.pruning_source!r}"
        )
    return {v.name: v for v in variants}


VARIANT_NAMES: tuple[str, ...] = tuple(registry(Profile(name="names")))


def check_variant_name(name: str) -> str:
    """`name` if it is a registered variant, else a ValueError with the nearest name."""
    if name not in VARIANT_NAMES:
        close = difflib.get_close_matches(name, VARIANT_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown variant {name!r}{hint}; known variants: {list(VARIANT_NAMES)}")
    return name
