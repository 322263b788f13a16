"""Variants as chains of steps: each step turns an artifact into a new, cached artifact.

A step is a frozen dataclass config with a `STEP` name and a `VERSION` (bumped when the step's
code changes what it produces) and a module-level function registered for its type:
`fn(source, config, context) -> Artifact`. `build_chain` applies a variant's steps in order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from compressors.artifacts import Artifact, ArtifactCache, Built

if TYPE_CHECKING:
    from datasets import DatasetDict

# Field metadata of an option added to a step after artifacts were cached: left out of the
# recipe while it has its default, so those artifacts keep their keys.
OMIT_WHEN_DEFAULT = {"omit_when_default": True}

# Step config class name -> "module:function", imported only when the step runs, so that
# `import compressors` stays light.
_STEP_FUNCTIONS: dict[str, str] = {
    "FineTune": "compressors.finetune:fine_tune",
    "CutLayers": "compressors.finetune:cut_layers",
    "Distill": "compressors.distillation:distill",
    "SearchDistill": "compressors.search:search_and_distill",
    "TorchDynamicInt8": "compressors.quantization:quantize_torch_dynamic",
    "OnnxExport": "compressors.onnx_export:export_onnx",
    "OrtOptimize": "compressors.ort:optimize_onnx",
    "OrtDynamicInt8": "compressors.ort:quantize_onnx_dynamic",
    "OrtStaticInt8": "compressors.ort:quantize_onnx_static",
    "Prune": "compressors.pruning:prune",
    "TrimVocabulary": "compressors.vocabulary:trim_vocabulary",
}


@dataclass
class BuildContext:
    """What every step may use: the cache, the data and its fingerprint."""

    cache: ArtifactCache
    data: DatasetDict
    data_key: str
    oos_label: str = "oos"
    resolver: Callable[[str], Artifact] | None = None

    def resolve(self, variant: str) -> Artifact:
        """Another variant's artifact (e.g. a distillation teacher), built if needed."""
        if self.resolver is None:
            raise ValueError(f"this build context cannot resolve variant {variant!r}: no resolver was given")
        return self.resolver(variant)

    @property
    def label_names(self) -> list[str]:
        return list(self.data["train"].features["intent"].names)

    def artifact(
        self,
        config: Any,
        source: Artifact | None,
        build: Callable[[Any], Built],
        uses_data: bool = True,
        extra: dict | None = None,
    ) -> Artifact:
        """Get or build the artifact of `config` applied to `source`."""
        recipe = {
            "step": config.STEP,
            "version": config.VERSION,
            "config": describe(config),
            "source": source.key if source else None,
            "data": self.data_key if uses_data else None,
            **(extra or {}),
        }
        return self.cache.get_or_build(config.STEP, recipe, build)


def describe(config: Any) -> Any:
    """A JSON-able form of a (nested) dataclass config; the top level names its type."""
    if is_dataclass(config):
        return {"type": type(config).__name__, **_plain(config)}
    return _plain(config)


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)
            if not (f.metadata.get("omit_when_default") and getattr(value, f.name) == f.default)
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def step_function(config: Any) -> Callable[[Artifact | None, Any, BuildContext], Artifact]:
    """The function registered for a step config's type."""
    name = type(config).__name__
    if name not in _STEP_FUNCTIONS:
        raise ValueError(f"no step function for config type {name}; known: {sorted(_STEP_FUNCTIONS)}")
    module, function = _STEP_FUNCTIONS[name].split(":")
    return getattr(importlib.import_module(module), function)


def build_chain(source: Artifact | None, steps: Sequence[Any], context: BuildContext) -> Artifact:
    """Apply `steps` in order, starting from `source` (None for a step that starts from a checkpoint)."""
    artifact = source
    for config in steps:
        artifact = step_function(config)(artifact, config, context)
    if artifact is None:
        raise ValueError("a chain needs at least one step")
    return artifact
