"""Artifact cache: keyed by recipe, verified before use, rebuilt when corrupt, built once under concurrency."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from compressors.artifacts import MANIFEST, ArtifactCache, Built, cache_key


def _writer(calls: list[str], text: str = "weights"):
    def build(out: Path) -> Built:
        calls.append(text)
        (out / "model.bin").write_text(text)
        (out / "sub").mkdir()
        (out / "sub" / "config.json").write_text("{}")
        return Built("test", {"note": text})

    return build


def test_build_once_then_reuse(tmp_path) -> None:
    cache, calls = ArtifactCache(tmp_path), []
    first = cache.get_or_build("step", {"a": 1}, _writer(calls))
    second = cache.get_or_build("step", {"a": 1}, _writer(calls))
    assert calls == ["weights"] and first == second
    assert first.kind == "test" and first.meta == {"note": "weights"}
    assert first.deployed_bytes() == len("weights") + len("{}")


def test_key_depends_on_recipe(tmp_path) -> None:
    cache, calls = ArtifactCache(tmp_path), []
    a = cache.get_or_build("step", {"a": 1}, _writer(calls))
    b = cache.get_or_build("step", {"a": 2}, _writer(calls))
    assert a.key != b.key and len(calls) == 2


@pytest.mark.parametrize("damage", ["truncate", "delete", "extra", "manifest"])
def test_corrupt_artifact_is_rebuilt_not_trusted(tmp_path, damage) -> None:
    cache, calls = ArtifactCache(tmp_path), []
    artifact = cache.get_or_build("step", {"a": 1}, _writer(calls))
    if damage == "truncate":
        (artifact.path / "model.bin").write_text("weig")
    elif damage == "delete":
        (artifact.path / "sub" / "config.json").unlink()
    elif damage == "extra":
        (artifact.path / "stray.tmp").write_text("x")
    else:
        (artifact.path / MANIFEST).write_text("{not json")
    assert ArtifactCache.load(artifact.path) is None
    rebuilt = cache.get_or_build("step", {"a": 1}, _writer(calls))
    assert len(calls) == 2 and (rebuilt.path / "model.bin").read_text() == "weights"
    assert ArtifactCache.load(rebuilt.path) == rebuilt


def test_interrupted_build_leaves_nothing_that_is_trusted(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)

    def crash(out: Path) -> Built:
        (out / "model.bin").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("step", {"a": 1}, crash)
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    calls: list[str] = []
    cache.get_or_build("step", {"a": 1}, _writer(calls))
    assert calls == ["weights"]


def test_a_killed_builds_staging_directory_is_removed_on_the_next_build(tmp_path) -> None:
    cache = ArtifactCache(tmp_path)
    key_prefix = "step-" + cache_key({"a": 1})
    leftover = tmp_path / f".{key_prefix}-dead"
    leftover.mkdir()
    (leftover / "model.bin").write_text("half")
    cache.get_or_build("step", {"a": 1}, _writer([]))
    assert not leftover.exists()


def test_rebuild_forces_one_new_build_per_run(tmp_path) -> None:
    calls: list[str] = []
    ArtifactCache(tmp_path).get_or_build("step", {"a": 1}, _writer(calls, "old"))
    cache = ArtifactCache(tmp_path, rebuild=True)
    a = cache.get_or_build("step", {"a": 1}, _writer(calls, "new"))
    b = cache.get_or_build("step", {"a": 1}, _writer(calls, "newer"))
    assert calls == ["old", "new"] and a == b and (a.path / "model.bin").read_text() == "new"


def _slow_build(root: str, marker: str) -> str:
    def build(out: Path) -> Built:
        with open(marker, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        (out / "model.bin").write_text("w")
        return Built("test")

    return ArtifactCache(Path(root)).get_or_build("step", {"a": 1}, build).digest


def test_concurrent_processes_build_once(tmp_path) -> None:
    marker = tmp_path / "marker.txt"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        digests = pool.starmap(_slow_build, [(str(tmp_path / "cache"), str(marker))] * 3)
    assert marker.read_text() == "built\n"
    assert len(set(digests)) == 1


def test_manifest_records_recipe_and_checksums(tmp_path) -> None:
    artifact = ArtifactCache(tmp_path).get_or_build("step", {"a": 1}, _writer([]))
    manifest = json.loads((artifact.path / MANIFEST).read_text())
    assert manifest["recipe"] == {"a": 1}
    assert set(manifest["files"]) == {"model.bin", "sub/config.json"}
