"""Stand-ins for the suite's tests: models that answer from a table on a fake clock, and a builder of ready artifacts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from compressors.artifacts import Artifact
from compressors.data import DataConfig, load_data
from compressors.profiles import SMALL
from compressors.suite.run import Suite
from compressors.variants import registry
from tests_support import FakeClock

PROFILE = replace(SMALL, data=DataConfig(per_class={"train": 2, "validation": 1, "test": 2}), serving=())


class FakeModel:
    """Answers from a table (batched calls may answer otherwise) and takes `cost` fake seconds per query."""

    def __init__(self, clock: FakeClock, cost: float, answers: dict[str, int], classes: int, batched: dict[str, int] | None = None) -> None:
        self.clock, self.cost, self.answers, self.classes, self.batched = clock, cost, answers, classes, batched or {}
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.clock.now += self.cost
        self.calls += 1
        return self.answers.get(text, 0)

    def logits(self, texts):
        self.clock.now += self.cost * len(texts)
        self.calls += 1
        out = np.zeros((len(texts), self.classes), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, self.batched.get(text, self.answers.get(text, 0))] = 1.0
        return out


def fake_artifact(root: Path, name: str, size: int, kind: str = "onnx", **meta) -> Artifact:
    """An artifact of `size` bytes whose key names it."""
    path = root / name
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(b"x" * size)
    return Artifact(path, f"key-{name}", kind, f"digest-{name}", {"alpha": 0.5, "note": "fake", **meta})


class FakeBuilder:
    """Hands out ready artifacts by variant name; serving steps leave an artifact as it is."""

    def __init__(self, artifacts: dict[str, Artifact], profile=PROFILE) -> None:
        self.profile, self.variants, self.artifacts = profile, registry(profile), artifacts

    def artifact(self, name: str) -> Artifact:
        return self.artifacts[name]

    def build(self, name: str) -> Artifact:
        return self.serving(self.artifact(name))

    def serving(self, artifact: Artifact) -> Artifact:
        return artifact


def fake_suite(root: Path, models: dict[str, tuple[FakeModel, int]], clock: FakeClock, load: float = 0.125, **options) -> Suite:
    """A suite over fake models (variant -> (model, size in bytes)), every paired timing at `load`."""
    artifacts = {name: fake_artifact(root, name, size) for name, (_, size) in models.items()}
    by_key = {artifacts[name].key: model for name, (model, _) in models.items()}
    return Suite(FakeBuilder(artifacts), load_data(PROFILE.data), clock=clock, monitor=lambda measure: (measure(), load),
                 load=lambda artifact, **_: by_key[artifact.key], **options)
