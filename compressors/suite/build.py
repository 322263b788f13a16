"""Build: a variant's artifact from its chain of steps, and as it is served (through the profile's serving steps)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from compressors.artifacts import Artifact, ArtifactCache
from compressors.data import fingerprint, load_data
from compressors.profiles import Profile
from compressors.formats.decision import read_decision
from compressors.steps.base import BuildContext, build_chain, resolve_device
from compressors.steps.oos_threshold import InheritedDecision, OosThreshold
from compressors.steps.training import TrainConfig, with_seed
from compressors.variants import Variant, registry


class Builder:
    """Builds the variants of one profile over one artifact cache, each chain once per process.

    Artifacts are cached on disk by their keys (a recipe hash); the builder also keeps the ones
    it returned, so a teacher resolved by several students is looked up once.
    """

    def __init__(self, profile: Profile, cache: ArtifactCache, data, device: str = "cpu", plan_only: bool = False) -> None:
        self.profile = profile
        self.variants: dict[str, Variant] = registry(profile)
        self.context = BuildContext(
            cache=cache,
            data=data,
            data_key=fingerprint(data),
            oos_label=profile.data.oos_label,
            resolver=self.artifact,
            reseeder=self.reseeded,
            device=device,
            plan_only=plan_only,
        )
        self._built: dict[tuple[str, int | None], Artifact] = {}

    @classmethod
    def open(cls, profile: Profile, cache_dir: Path, device: str = "auto", rebuild: bool = False,
             plan_only: bool = False) -> Builder:
        """A builder over `cache_dir`, the profile's data loaded (`plan_only`: cache keys, no builds)."""
        return cls(profile, ArtifactCache(cache_dir, rebuild=rebuild), load_data(profile.data), resolve_device(device), plan_only)

    def artifact(self, name: str) -> Artifact:
        """The variant's artifact: its source's first, then its own steps."""
        return self._chain(name, None)

    def reseeded(self, name: str, seed: int) -> Artifact:
        """The variant's chain trained again with `seed`, from the same source artifact."""
        return self._chain(name, seed)

    def build(self, name: str) -> Artifact:
        """The variant's artifact as it is served and measured: through its serving steps (`serving_steps`)."""
        steps = self.serving_steps(name)
        return build_chain(self.artifact(name), steps, self.context) if steps else self.artifact(name)

    def serving_steps(self, name: str) -> tuple:
        """The profile's serving steps for the variant. One that is its fp32 source in another format or
        precision (`family_source`) is given that source's out-of-scope decision, which it keeps unless
        its own is better on validation."""
        family = family_source(self.variants, name)
        if family is None or not self.profile.serving:
            return tuple(self.profile.serving)
        decision = read_decision(self.build(family).path)
        return tuple(
            replace(step, inherited=InheritedDecision(family, decision.temperature, decision.threshold))
            if isinstance(step, OosThreshold) and decision is not None else step
            for step in self.profile.serving
        )

    def serving(self, artifact: Artifact) -> Artifact:
        """Any artifact through the profile's serving steps (e.g. the out-of-scope threshold)."""
        return build_chain(artifact, self.profile.serving, self.context) if self.profile.serving else artifact

    def _chain(self, name: str, seed: int | None) -> Artifact:
        if (name, seed) not in self._built:
            variant = self.variants[name]
            source = self.artifact(variant.source) if variant.source else None
            steps = variant.steps if seed is None else with_seed(variant.steps, seed)
            self._built[name, seed] = build_chain(source, steps, self.context)
        return self._built[name, seed]


def family_source(variants: dict[str, Variant], name: str) -> str | None:
    """The fp32 variant that `name` is the same model as (another format or precision), or None.

    That is its `fp32_source` when no step between the two trains (int8, ONNX, a trimmed
    vocabulary); a variant trained again (e.g. pruned and fine-tuned) is a model of its own.
    """
    variant = variants[name]
    target = variant.fp32_source
    while target:
        if any(isinstance(getattr(step, "train", None), TrainConfig) for step in variant.steps):
            return None
        if variant.source == target:
            return target
        if variant.source is None:
            return None
        variant = variants[variant.source]
    return None
