"""Helpers shared by test modules."""

from __future__ import annotations

import shutil
from pathlib import Path

from compressors.artifacts import Artifact, ArtifactCache, Built


def copy_as_artifact(directory: Path, tmp_path: Path, kind: str = "torch") -> Artifact:
    """A cached artifact holding a copy of `directory` (e.g. the tiny checkpoint)."""

    def build(out: Path) -> Built:
        for file in directory.iterdir():
            shutil.copy2(file, out / file.name)
        return Built(kind)

    return ArtifactCache(tmp_path / "sources").get_or_build("source", {"dir": str(directory)}, build)


class FakeClock:
    """A clock whose time moves only when a fake model says it ran."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
