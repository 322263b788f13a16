"""Build: a variant's artifact from its chain of steps, and as it is served (through the profile's serving steps)."""

from __future__ import annotations

from pathlib import Path

from compressors.artifacts import Artifact, ArtifactCache
from compressors.data import fingerprint, load_data
from compressors.profiles import Profile
from compressors.steps.base import BuildContext, build_chain, resolve_device
from compressors.steps.training import with_seed
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
        """The variant's artifact as it is served and measured: through the profile's serving steps."""
        return self.serving(self.artifact(name))

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
