"""A content-checked cache of built artifacts (fine-tuned models, exports, quantized files).

Each artifact is a directory keyed by a hash of what produced it (step, step version, config,
input artifact, data). It is built in a temporary directory beside its final place, checksummed
into `manifest.json`, then renamed into place, so a crash never leaves a directory that looks
complete. Before use every file is checked against the manifest; anything that does not match is
removed and rebuilt. A file lock per key makes concurrent processes build an artifact once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from compressors.environment import cpu_model_and_flags, library_versions

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DEFAULT_CACHE_ENV = "COMPRESSORS_CACHE"


def default_cache_dir() -> Path:
    """`$COMPRESSORS_CACHE`, else `$XDG_CACHE_HOME/compressors`, else `~/.cache/compressors`."""
    if os.environ.get(DEFAULT_CACHE_ENV):
        return Path(os.environ[DEFAULT_CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compressors"


@dataclass(frozen=True)
class Artifact:
    """A built, verified artifact directory.

    Attributes:
        path: the directory holding the artifact's files and its manifest.
        key: the hash of what produced it (the cache key).
        kind: what the directory holds, e.g. "torch", "onnx", "sparse-torch".
        digest: a hash of the files' contents (what `extra_info["artifact"]` reports).
        meta: facts the build step recorded (best hyper-parameters, fusion counts, ...).
    """

    path: Path
    key: str
    kind: str
    digest: str
    meta: dict[str, Any] = field(default_factory=dict)

    def deployed_bytes(self) -> int:
        """Bytes on disk of what would be deployed: every file except the manifest."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file() and p.name != MANIFEST)


@dataclass(frozen=True)
class Built:
    """What a build function returns: the artifact kind and the facts to record."""

    kind: str
    meta: dict[str, Any] = field(default_factory=dict)


def cache_key(recipe: dict[str, Any]) -> str:
    """A stable hash of a JSON-able recipe."""
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def artifact_key(name: str, recipe: dict[str, Any]) -> str:
    """The cache key (and directory name) of what `recipe` produces: a readable prefix and a hash."""
    return f"{name}-{cache_key(recipe)}"


@dataclass(frozen=True)
class CacheEvent:
    """One artifact this process used: found in the cache, or built (and how long that took)."""

    key: str
    step: str
    status: str  # "cached" or "built"
    seconds: float = 0.0


def build_environment() -> dict[str, Any]:
    """What a manifest records of the machine that built an artifact (not part of its key)."""
    return {
        "python": platform.python_version(),
        "versions": library_versions(),
        "cpu_model": cpu_model_and_flags()[0],
        "cpu_count": os.cpu_count(),
    }


def write_atomic(path: Path, content: bytes) -> None:
    """Write a file through a temporary file in the same directory, so readers never see half of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ArtifactCache:
    """Artifacts under one root directory, one subdirectory per key."""

    def __init__(self, root: Path, rebuild: bool = False) -> None:
        self.root = Path(root)
        self.rebuild = rebuild
        self._rebuilt: set[str] = set()
        self.events: list[CacheEvent] = []
        self.root.mkdir(parents=True, exist_ok=True)

    def get_or_build(
        self, name: str, recipe: dict[str, Any], build: Callable[[Path], Built]
    ) -> Artifact:
        """Return the verified artifact for `recipe`, building it with `build(out_dir)` if needed.

        Args:
            name: a readable prefix of the directory name (the step, e.g. "fine-tune").
            recipe: everything that determines the result; its hash is the key.
            build: writes the artifact's files into the empty directory it is given.
        """
        key = artifact_key(name, recipe)
        final = self.root / key
        with FileLock(str(self.root / f"{key}.lock")):
            force = self.rebuild and key not in self._rebuilt
            if not force:
                artifact = self.load(final)
                if artifact is not None:
                    if not any(e.key == key for e in self.events):
                        logger.info("cached %s", key)
                        self.events.append(CacheEvent(key, name, "cached"))
                    return artifact
            if final.exists():
                logger.warning("discarding %s artifact %s", "stale" if force else "invalid", final)
                shutil.rmtree(final)
            # Holding the key's lock, any staging directory of this key is a killed build's leftover.
            for leftover in self.root.glob(f".{key}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            logger.info("building %s", key)
            staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
            started = time.monotonic()
            try:
                built = build(staging)
                seconds = time.monotonic() - started
                files = {
                    str(p.relative_to(staging)): file_sha256(p)
                    for p in sorted(staging.rglob("*"))
                    if p.is_file()
                }
                if not files:
                    raise RuntimeError(f"build of {key} wrote no files")
                manifest = {
                    "key": key, "kind": built.kind, "recipe": recipe, "meta": built.meta, "files": files,
                    "build_seconds": round(seconds, 1), "built_with": build_environment(),
                }
                (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
                os.replace(staging, final)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self._rebuilt.add(key)
            self.events.append(CacheEvent(key, name, "built", seconds))
            logger.info("built %s in %s", key, format_duration(seconds))
            artifact = self.load(final)
            if artifact is None:  # pragma: no cover - only if the disk changed under us
                raise RuntimeError(f"artifact {final} failed verification right after its build")
            return artifact

    @staticmethod
    def load(path: Path) -> Artifact | None:
        """The artifact at `path` if its manifest and every file check out, else None."""
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            files: dict[str, str] = manifest["files"]
            for rel, expected in files.items():
                file = path / rel
                if not file.is_file() or file_sha256(file) != expected:
                    logger.warning("artifact %s: %s is missing or corrupt", path, rel)
                    return None
            present = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} - {MANIFEST}
            if present != set(files):
                logger.warning("artifact %s: unexpected files %s", path, sorted(present - set(files)))
                return None
            digest = cache_key(files)
            return Artifact(path=path, key=manifest["key"], kind=manifest["kind"], digest=digest, meta=manifest["meta"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("artifact %s: unreadable manifest (%s)", path, error)
            return None


def format_duration(seconds: float) -> str:
    """`1 h 02 min`, `4 min 05 s` or `12.3 s`."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"
