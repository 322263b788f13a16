"""The step protocol: a frozen dataclass config, a registered build function, and chains of steps.

A step config is a frozen dataclass with a `STEP` name and a `VERSION`. Its build function is
registered for the config's *type* with `register_step`, which also says what the step reads
(source artifact kinds), what it writes (the artifact kind) and what identifies its result
besides the config. `apply_step` turns that into a cache key (a hash of the recipe: step,
version, config, source key, data fingerprint, extra identity) and builds only on a cache miss;
`build_chain` applies a variant's steps in order.

`VERSION` is bumped when a step's code changes what it builds; `tests/steps/test_step_versions.py`
fails when a step's code changes without a conscious decision either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.artifacts import Artifact, ArtifactCache, Built, artifact_key
from compressors.data import LABEL

if TYPE_CHECKING:
    from datasets import DatasetDict

logger = logging.getLogger(__name__)

# Field metadata of an option added to a step after artifacts were cached: left out of the
# recipe while it has its default, so those artifacts keep their keys.
OMIT_WHEN_DEFAULT = {"omit_when_default": True}
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class BuildContext:
    """What every step may use: the cache, the data and its fingerprint, the training device.

    Attributes:
        resolver: builds another variant's artifact (a distillation teacher), by name.
        reseeder: builds a variant's chain again with another training seed (an ensemble
            teacher's members), by name and seed.
        device: where training runs ("cpu" or "cuda"); not part of any cache key.
        plan_only: compute cache keys without building anything (what `compressors lock` records).
    """

    cache: ArtifactCache
    data: DatasetDict
    data_key: str
    oos_label: str = "oos"
    resolver: Callable[[str], Artifact] | None = None
    reseeder: Callable[[str, int], Artifact] | None = None
    device: str = "cpu"
    plan_only: bool = False

    def resolve(self, variant: str) -> Artifact:
        """Another variant's artifact (e.g. a distillation teacher), built if needed."""
        if self.resolver is None:
            raise ValueError(f"this build context cannot resolve variant {variant!r}: no resolver was given")
        return self.resolver(variant)

    def reseeded(self, variant: str, seed: int) -> Artifact:
        """Another variant's artifact with every training step of its chain run with `seed`."""
        if self.reseeder is None:
            raise ValueError(f"this build context cannot re-seed variant {variant!r}: no reseeder was given")
        return self.reseeder(variant, seed)

    @property
    def label_names(self) -> list[str]:
        return list(self.data["train"].features[LABEL].names)


BuildFn = Callable[[Any, Any, BuildContext, Path], Built]
IdentityFn = Callable[[Any, Any, BuildContext], dict]


@dataclass(frozen=True)
class StepRule:
    """What the framework knows of a registered step.

    Attributes:
        build: writes the artifact: `build(source, config, context, out_dir) -> Built`.
        produces: the kind of artifact it writes (None: the source's kind).
        accepts: the source kinds it reads.
        needs_source: whether a source artifact is required (a step that starts from a
            checkpoint takes none); a function of the config when that decides.
        uses_data: whether the data's fingerprint is part of the key.
        identity: extra recipe entries that identify the result (e.g. the teacher's key).
        code: modules besides the build function's own whose code decides what it builds.
    """

    build: BuildFn
    produces: str | None
    accepts: tuple[str, ...]
    needs_source: bool | Callable[[Any], bool] = True
    uses_data: bool = True
    identity: IdentityFn | None = None
    code: tuple[str, ...] = field(default_factory=tuple)

    def source_required(self, config: Any) -> bool:
        return self.needs_source(config) if callable(self.needs_source) else self.needs_source


_STEPS: dict[type, StepRule] = {}


def register_step(
    config_type: type,
    *,
    produces: str | None,
    accepts: tuple[str, ...] = (),
    needs_source: bool | Callable[[Any], bool] = True,
    uses_data: bool = True,
    identity: IdentityFn | None = None,
    code: tuple[str, ...] = (),
) -> Callable[[BuildFn], BuildFn]:
    """Register the decorated function as the build function of `config_type`'s step."""
    if not (is_dataclass(config_type) and isinstance(getattr(config_type, "STEP", None), str)
            and isinstance(getattr(config_type, "VERSION", None), str)):
        raise TypeError(f"{config_type.__name__} must be a dataclass with STEP and VERSION class attributes")

    def decorator(build: BuildFn) -> BuildFn:
        if config_type in _STEPS:
            raise ValueError(f"a build function is already registered for {config_type.__name__}")
        _STEPS[config_type] = StepRule(build, produces, accepts, needs_source, uses_data, identity, code)
        return build

    return decorator


def step_rule(config: Any) -> StepRule:
    """The registered rule of a step config's type."""
    rule = _STEPS.get(type(config))
    if rule is None:
        known = sorted(t.__name__ for t in _STEPS)
        raise ValueError(f"no step is registered for config type {type(config).__name__}; known: {known}")
    return rule


def registered_steps() -> dict[type, StepRule]:
    """Every registered step, by config type (for tests and the lock)."""
    return dict(_STEPS)


def recipe_of(config: Any, source: Artifact | None, context: BuildContext) -> dict:
    """Everything that determines a step's result; its hash is the cache key."""
    rule = step_rule(config)
    return {
        "step": config.STEP,
        "version": config.VERSION,
        "config": describe(config),
        "source": source.key if source else None,
        "data": context.data_key if rule.uses_data else None,
        **(rule.identity(source, config, context) if rule.identity else {}),
    }


def apply_step(source: Artifact | None, config: Any, context: BuildContext) -> Artifact:
    """Get or build the artifact of `config` applied to `source`."""
    rule = step_rule(config)
    if source is None and rule.source_required(config):
        raise ValueError(f"{config.STEP} needs a source artifact, one of {list(rule.accepts)}; put a step before it")
    if source is not None and source.kind not in rule.accepts:
        raise ValueError(f"{config.STEP} reads {list(rule.accepts)} artifacts, got {source.kind!r} ({source.path})")
    recipe = recipe_of(config, source, context)
    if context.plan_only:
        key = artifact_key(config.STEP, recipe)
        kind = rule.produces or (source.kind if source else "")
        return Artifact(context.cache.root / key, key, kind, digest="", meta={})
    return context.cache.get_or_build(config.STEP, recipe, lambda out_dir: rule.build(source, config, context, out_dir))


def build_chain(source: Artifact | None, steps: Sequence[Any], context: BuildContext) -> Artifact:
    """Apply `steps` in order, starting from `source` (None for a chain that starts from a checkpoint)."""
    if not steps:
        raise ValueError("a chain needs at least one step")
    artifact = source
    for config in steps:
        artifact = apply_step(artifact, config, context)
    return artifact


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


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; "cuda" without a GPU is an error."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise ValueError("--device cuda: torch sees no CUDA device here; use --device auto or cpu")
    return "cuda" if available else "cpu"
