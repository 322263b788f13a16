"""Locks of what a profile builds: every artifact's cache key and file checksums, and where two builds diverge.

`write_lock` records, for one build of a profile, every artifact the build used (variants, the
intermediate steps of their chains, cached teacher logits) with the SHA-256 of each file, and
each variant's chain of artifacts. `verify_lock` compares another build with it: an artifact
whose files differ is named, and so is, for each variant, the first step of its chain where the
two builds diverge (the later ones differ because their source does).

Training, export and quantization here are bit-exact from one build to the next on the same
machine, library versions and thread count (seeded, single-process, deterministic kernels for
these models on the CPU); a different CPU or library version may change float results, so
locks name the machine and versions they were made on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from compressors.artifacts import MANIFEST, Artifact, build_environment
from compressors.steps.base import apply_step
from compressors.suite.build import Builder

LOCK_VERSION = 1


def variant_chain(builder: Builder, name: str, served: bool = True) -> list[Artifact]:
    """Every artifact of a variant's chain, from the first step of its first source to the variant
    itself, and (`served`) through the profile's serving steps."""
    variant = builder.variants[name]
    chain = variant_chain(builder, variant.source, served=False) if variant.source else []
    artifact = chain[-1] if chain else None
    for step in (*variant.steps, *(builder.serving_steps(name) if served else ())):
        artifact = apply_step(artifact, step, builder.context)
        chain.append(artifact)
    return chain


def write_lock(builder: Builder, out: Path, variants: Sequence[str] | None = None) -> dict:
    """Build (or read from the cache) every variant of the builder's profile (or those named) and lock what
    was built into `out`."""
    names = list(variants) if variants else list(builder.variants)
    unknown = [name for name in names if name not in builder.variants]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {sorted(builder.variants)}")
    chains = {name: [a.key for a in variant_chain(builder, name)] for name in names}
    artifacts = {}
    for event in builder.context.cache.events:
        manifest = json.loads((builder.context.cache.root / event.key / MANIFEST).read_text())
        artifacts[event.key] = {"step": event.step, "kind": manifest["kind"], "files": manifest["files"]}
    lock = {
        "version": LOCK_VERSION,
        "profile": builder.profile.name,
        "data": builder.context.data_key,
        "built_with": build_environment(),
        "artifacts": dict(sorted(artifacts.items())),
        "variants": chains,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(lock, indent=1) + "\n")
    return lock


@dataclass(frozen=True)
class Divergence:
    """Where a build differs from its lock."""

    key: str
    what: str

    def __str__(self) -> str:
        return f"{self.key}: {self.what}"


def environment_differences(locked: dict, current: dict, prefix: str = "") -> list[str]:
    """What differs between the machine and libraries a lock was written with and these, one line each."""
    differences = []
    for name in sorted(set(locked) | set(current)):
        before, now = locked.get(name), current.get(name)
        if isinstance(before, dict) and isinstance(now, dict):
            differences += environment_differences(before, now, f"{prefix}{name}.")
        elif before != now:
            differences.append(f"{prefix}{name}: {before} in the lock, {now} here")
    return differences


def read_lock(path: Path) -> dict:
    """A lock file, checked for its version; ValueError naming the file otherwise."""
    try:
        lock = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"lock file {path} does not exist; write one with `compressors lock`") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON lock file ({error})") from None
    if not isinstance(lock, dict) or lock.get("version") != LOCK_VERSION or "artifacts" not in lock:
        raise ValueError(f"{path}: not a lock file of version {LOCK_VERSION}")
    return lock


def compare_artifact(key: str, files: dict[str, str], locked: dict | None) -> Divergence | None:
    """How one built artifact differs from its locked record, if it does."""
    if locked is None:
        return Divergence(key, "not in the lock (its step, config or source changed since the lock was written)")
    if files == locked["files"]:
        return None
    changed = sorted(f for f in set(files) | set(locked["files"]) if files.get(f) != locked["files"].get(f))
    return Divergence(key, f"files differ: {', '.join(changed)}")


def verify_lock(builder: Builder, lock: dict) -> tuple[list[Divergence], dict[str, Divergence]]:
    """Build (or read) every variant the lock names and compare with `lock`.

    Returns:
        every diverging artifact, and for each diverging variant the first artifact of its chain
        that differs (the step where the two builds part).
    """
    if lock.get("profile") != builder.profile.name:
        raise ValueError(f"the lock is of profile {lock.get('profile')!r}, this build is of {builder.profile.name!r}")
    unknown = [name for name in lock["variants"] if name not in builder.variants]
    if unknown:
        raise ValueError(f"the lock has variant(s) {unknown} that this profile does not define")
    chains = {name: variant_chain(builder, name) for name in lock["variants"]}
    built = {a.key: a for chain in chains.values() for a in chain}
    for event in builder.context.cache.events:
        if event.key not in built and event.key in lock["artifacts"]:  # built inside steps, e.g. teacher logits
            built[event.key] = builder.context.cache.load(builder.context.cache.root / event.key)
    manifests = {key: json.loads((a.path / MANIFEST).read_text())["files"] for key, a in built.items() if a is not None}
    diverging = {key: d for key, files in manifests.items() if (d := compare_artifact(key, files, lock["artifacts"].get(key)))}
    first = {}
    for name, chain in chains.items():
        culprit = next((diverging[a.key] for a in chain if a.key in diverging), None)
        if culprit is not None:
            first[name] = culprit
    return sorted(diverging.values(), key=lambda d: d.key), first
