"""The candidate chains: which model a chain starts from, and how it is trimmed, exported and quantized.

A `Candidate` names one chain in terms of the existing steps; `Candidate.chain` turns it into the
source variant and the step configs, so that its artifacts share the cache with the registered
variants (the frontier chain of the distilled student is `Candidate("distilled", trim=True)`, with
the same cache keys). `ChainSpace` says which values each choice takes; `candidates` enumerates
the valid combinations.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from compressors.measure.figures import BASELINE
from compressors.steps.cut_layers import CutLayers
from compressors.steps.onnx_export import OnnxExport
from compressors.steps.ort_optimize import GRAPH_LEVELS, OrtOptimize
from compressors.steps.ort_quantize import DYNAMIC_OPERATORS, WEIGHT_TYPES, OrtDynamicInt8, OrtStaticInt8
from compressors.steps.torch_int8 import TorchDynamicInt8
from compressors.steps.trim_vocabulary import TrimVocabulary

if TYPE_CHECKING:
    from compressors.profiles import Profile

# How the model runs: PyTorch fp32 or dynamic int8; ONNX Runtime fp32 (optimized), dynamic or static int8.
QUANTIZATIONS = ("torch-fp32", "torch-dynamic", "ort-fp32", "ort-dynamic", "ort-static")


@dataclass(frozen=True)
class Candidate:
    """One chain: a model, an optional vocabulary trim, a runtime and its int8 options.

    Attributes:
        source: the registered variant the chain starts from (e.g. "distilled", "pruned-structured").
        layers: when set, a new student: these teacher layers kept and distilled with the
            profile's recipe (the source must be the baseline).
        shape: when set, the baseline's heads x neurons per layer kept (structured pruning with
            the profile's recipe); counts or fractions.
        trim: trim the vocabulary (dropped pieces read their nearest kept row).
        quantization: one of `QUANTIZATIONS`.
        per_channel: per-channel weight scales (ORT int8).
        reduce_range: 7-bit weights (ORT dynamic int8).
        weight_type: "int8" (U8S8) or "uint8" (U8U8) weights (ORT dynamic int8).
        operators: operator types ORT dynamic int8 quantizes; () all it can.
        graph_level: ONNX Runtime's graph optimization level (ORT fp32 and dynamic int8).
    """

    source: str = BASELINE
    layers: tuple[int, ...] = ()
    shape: tuple[int | float, ...] = ()
    trim: bool = False
    quantization: str = "ort-dynamic"
    per_channel: bool = False
    reduce_range: bool = False
    weight_type: str = "int8"
    operators: tuple[str, ...] = ()
    graph_level: str = "all"

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}")
        if (self.layers or self.shape) and self.source != BASELINE:
            raise ValueError(f"a new student or pruning shape starts from {BASELINE!r}, not {self.source!r}")
        if self.layers and self.shape:
            raise ValueError("a candidate is a new student (layers) or a pruning shape (shape), not both")
        if self.shape and (len(self.shape) != 2 or any(not v > 0 for v in self.shape)):
            raise ValueError(f"shape must be (heads, neurons) kept per layer, counts or fractions > 0, got {self.shape}")
        if self.graph_level not in GRAPH_LEVELS:
            raise ValueError(f"graph_level must be one of {GRAPH_LEVELS}, got {self.graph_level!r}")
        if self.weight_type not in WEIGHT_TYPES:
            raise ValueError(f"weight_type must be one of {WEIGHT_TYPES}, got {self.weight_type!r}")
        if any(op not in DYNAMIC_OPERATORS for op in self.operators):
            raise ValueError(f"operators must be among {DYNAMIC_OPERATORS}, got {self.operators}")
        dynamic_only = self.reduce_range or self.weight_type != "int8" or self.operators
        if dynamic_only and self.quantization != "ort-dynamic":
            raise ValueError(f"reduce_range, weight_type and operators apply to ort-dynamic, not {self.quantization}")
        if self.per_channel and self.quantization not in ("ort-dynamic", "ort-static"):
            raise ValueError(f"per_channel applies to ORT int8, not {self.quantization}")
        if self.graph_level != "all" and self.quantization not in ("ort-fp32", "ort-dynamic"):
            raise ValueError(f"graph_level applies to ort-fp32 and ort-dynamic, not {self.quantization}")

    @property
    def name(self) -> str:
        """A readable id naming every choice that differs from the plain chain, e.g. "distilled+trim/ort-dynamic-u8u8"."""
        model = (f"student{''.join(map(str, self.layers))}" if self.layers
                 else f"shape{self.shape[0]}x{self.shape[1]}" if self.shape else self.source)
        options = [
            *(["pc"] if self.per_channel else []), *(["rr"] if self.reduce_range else []),
            *(["u8u8"] if self.weight_type == "uint8" else []), *([".".join(self.operators)] if self.operators else []),
            *([self.graph_level] if self.graph_level != "all" else []),
        ]
        return f"{model}{'+trim' if self.trim else ''}/{'-'.join([self.quantization, *options])}"

    @property
    def trains(self) -> bool:
        """Whether the chain trains a model of its own (a new student or pruning shape)."""
        return bool(self.layers or self.shape)

    def chain(self, profile: Profile) -> tuple[str, tuple[Any, ...]]:
        """The source variant and the steps of this chain under `profile`."""
        steps: list[Any] = []
        if self.layers:
            steps += [CutLayers(self.layers), replace(profile.distill, teacher=BASELINE)]
        if self.shape:
            steps.append(replace(profile.structured, heads=self.shape[0], neurons=self.shape[1]))
        if self.trim:
            steps.append(TrimVocabulary(dropped="nearest"))
        if self.quantization == "torch-dynamic":
            steps.append(TorchDynamicInt8())
        elif self.quantization == "ort-static":
            steps += [OnnxExport(), OrtStaticInt8(calibration_size=profile.calibration_size, per_channel=self.per_channel)]
        elif self.quantization.startswith("ort-"):
            steps += [OnnxExport(), OrtOptimize(graph_level=self.graph_level)]
            if self.quantization == "ort-dynamic":
                steps.append(OrtDynamicInt8(per_channel=self.per_channel, reduce_range=self.reduce_range,
                                            weight_type=self.weight_type, operators=self.operators))
        return self.source, tuple(steps)

    def to_json(self) -> dict[str, Any]:
        """Its fields as JSON values (the trial store and chosen.json)."""
        return {**self.__dict__, "layers": list(self.layers), "shape": list(self.shape), "operators": list(self.operators)}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Candidate:
        """The candidate `to_json` wrote (checked again)."""
        tuples = {key: tuple(values[key]) for key in ("layers", "shape", "operators") if key in values}
        return cls(**{**values, **tuples})


@dataclass(frozen=True)
class ChainSpace:
    """The values each choice of a candidate takes; every valid combination is a candidate.

    Attributes:
        sources: registered variants chains start from (their artifacts are cached by the suite).
        students: new students, each the teacher layers it keeps (trained: explored after the cached models).
        shapes: new structured-pruning shapes, heads x neurons per layer (trained likewise).
        trim: with and/or without the vocabulary trimmed.
        quantizations: of `QUANTIZATIONS`.
        per_channel, reduce_range, weight_types, operators, graph_levels: the ORT int8 options tried.
    """

    sources: tuple[str, ...] = (BASELINE, "distilled", "pruned-structured")
    students: tuple[tuple[int, ...], ...] = ()
    shapes: tuple[tuple[int | float, int | float], ...] = ()
    trim: tuple[bool, ...] = (False, True)
    quantizations: tuple[str, ...] = QUANTIZATIONS
    per_channel: tuple[bool, ...] = (False, True)
    reduce_range: tuple[bool, ...] = (False, True)
    weight_types: tuple[str, ...] = WEIGHT_TYPES
    operators: tuple[tuple[str, ...], ...] = ((),)
    graph_levels: tuple[str, ...] = ("all",)

    def __post_init__(self) -> None:
        for name in ("trim", "quantizations", "per_channel", "reduce_range", "weight_types", "operators", "graph_levels"):
            if not getattr(self, name):
                raise ValueError(f"the search space's {name} is empty: give it at least one value")
        if not (self.sources or self.students or self.shapes):
            raise ValueError("the search space has no model: give sources, students or shapes")
        for values, known, what in ((self.quantizations, QUANTIZATIONS, "quantizations"), (self.weight_types, WEIGHT_TYPES, "weight_types"),
                                    (self.graph_levels, GRAPH_LEVELS, "graph_levels")):
            unknown = [v for v in values if v not in known]
            if unknown:
                raise ValueError(f"the search space's {what} {unknown} are not among {list(known)}")
        for ops in self.operators:
            Candidate(operators=tuple(ops))  # the candidate's own check, one message
        for shape in self.shapes:
            Candidate(shape=tuple(shape))
        for layers in self.students:
            CutLayers(tuple(layers))


def _backends(space: ChainSpace) -> Iterator[dict[str, Any]]:
    """Every valid runtime/int8 option set of the space."""
    for quantization in space.quantizations:
        if quantization in ("torch-fp32", "torch-dynamic"):
            yield {"quantization": quantization}
        elif quantization == "ort-static":
            yield from ({"quantization": quantization, "per_channel": pc} for pc in space.per_channel)
        elif quantization == "ort-fp32":
            yield from ({"quantization": quantization, "graph_level": level} for level in space.graph_levels)
        else:
            for level, pc, rr, weight, ops in itertools.product(space.graph_levels, space.per_channel, space.reduce_range,
                                                                space.weight_types, space.operators):
                yield {"quantization": quantization, "graph_level": level, "per_channel": pc, "reduce_range": rr,
                       "weight_type": weight, "operators": tuple(ops)}


def candidates(space: ChainSpace) -> list[Candidate]:
    """Every candidate of the space (the baseline itself unquantized left out: it is the reference)."""
    models = [{"source": s} for s in space.sources]
    models += [{"layers": tuple(layers)} for layers in space.students]
    models += [{"shape": tuple(shape)} for shape in space.shapes]
    found = []
    for model, trim, backend in itertools.product(models, space.trim, list(_backends(space))):
        candidate = Candidate(**model, trim=trim, **backend)
        if candidate != Candidate(source=BASELINE, quantization="torch-fp32"):
            found.append(candidate)
    return found
