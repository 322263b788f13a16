"""The build work that orders a search: what the cache already holds costs nothing, training costs most."""

from __future__ import annotations

from compressors.artifacts import MANIFEST
from compressors.chains.space import Candidate
from compressors.profiles import SMALL
from compressors.search.evaluate import OTHER_WORK, TRAINING_WORK, build_work
from compressors.steps.base import apply_step
from compressors.suite.build import Builder


def _cache(planner: Builder, name: str) -> None:
    """Mark every artifact of a variant's chain as cached (a manifest is what the planner looks for)."""
    variant = planner.variants[name]
    if variant.source:
        _cache(planner, variant.source)
    artifact = planner.artifact(variant.source) if variant.source else None
    for step in variant.steps:
        artifact = apply_step(artifact, step, planner.context)
        (artifact.path).mkdir(parents=True, exist_ok=True)
        (artifact.path / MANIFEST).write_text("{}")


def test_cached_chains_cost_nothing_exports_little_and_training_most(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    planner = Builder.open(SMALL, tmp_path, device="cpu", plan_only=True)
    fresh = build_work(planner, Candidate("distilled", quantization="torch-fp32"))
    assert fresh == 2 * TRAINING_WORK + OTHER_WORK  # fine-tune, cut, distill: nothing is cached yet
    _cache(planner, "distilled")
    assert build_work(planner, Candidate("distilled", quantization="torch-fp32")) == 0
    assert build_work(planner, Candidate("distilled", quantization="ort-fp32")) == 2 * OTHER_WORK  # export, optimize
    assert build_work(planner, Candidate(layers=(1,), quantization="torch-fp32")) == TRAINING_WORK + OTHER_WORK
