"""Locks: what a build produced, and where a second build first parts from it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import pytest

from compressors.artifacts import ArtifactCache, Built
from compressors.lock import environment_differences, read_lock, verify_lock, write_lock
from compressors.steps.base import BuildContext, register_step
from compressors.variants import Variant

COUNTER = itertools.count()


@dataclass(frozen=True)
class Write:
    """Writes `text`, after the source's text; `fresh` adds a new number on every build (not reproducible)."""

    text: str
    fresh: bool = False

    STEP: ClassVar[str] = "lock-test-write"
    VERSION: ClassVar[str] = "1"


@register_step(Write, produces="text", accepts=("text",), needs_source=False, uses_data=False)
def _write(source, config: Write, context, out_dir) -> Built:
    before = (source.path / "value.txt").read_text() if source else ""
    (out_dir / "value.txt").write_text(before + config.text + (str(next(COUNTER)) if config.fresh else ""))
    return Built("text")


def _builder(root, variants) -> SimpleNamespace:
    """A stand-in for `Builder`: a profile name, a build context and variants."""
    context = BuildContext(ArtifactCache(root), data=None, data_key="data")
    builder = SimpleNamespace(profile=SimpleNamespace(name="test", serving=()), context=context,
                              variants={v.name: v for v in variants}, serving_steps=lambda name: ())
    context.resolver = lambda name: None
    return builder


VARIANTS = [
    Variant("baseline", (Write("a"),)),
    Variant("student", (Write("b"),), source="baseline"),
    Variant("frontier", (Write("c"), Write("d")), source="student"),
]


def test_a_reproducible_build_matches_its_lock(tmp_path) -> None:
    lock = write_lock(_builder(tmp_path / "one", VARIANTS), tmp_path / "lock.json")
    assert len(lock["artifacts"]) == 4 and len(lock["variants"]["frontier"]) == 4
    assert read_lock(tmp_path / "lock.json") == lock
    diverging, first = verify_lock(_builder(tmp_path / "two", VARIANTS), lock)
    assert diverging == [] and first == {}


def test_the_first_step_that_parts_is_named_for_every_variant_downstream(tmp_path) -> None:
    unstable = [VARIANTS[0], Variant("student", (Write("b", fresh=True),), source="baseline"), VARIANTS[2]]
    lock = write_lock(_builder(tmp_path / "one", unstable), tmp_path / "lock.json")
    diverging, first = verify_lock(_builder(tmp_path / "two", unstable), lock)
    student_key = lock["variants"]["student"][-1]
    assert len(diverging) == 3 and all("files differ: value.txt" in d.what for d in diverging)
    assert first == {"student": diverging[[d.key for d in diverging].index(student_key)],
                     "frontier": diverging[[d.key for d in diverging].index(student_key)]}
    assert "baseline" not in first


def test_a_changed_step_is_not_in_the_lock(tmp_path) -> None:
    lock = write_lock(_builder(tmp_path / "one", VARIANTS), tmp_path / "lock.json")
    changed = [VARIANTS[0], Variant("student", (Write("B"),), source="baseline"), VARIANTS[2]]
    diverging, first = verify_lock(_builder(tmp_path / "two", changed), lock)
    assert first["student"].what.startswith("not in the lock")


@pytest.mark.parametrize(("content", "message"), [("{", "not a JSON lock file"), ('{"version": 9}', "not a lock file of version 1")])
def test_bad_lock_files_are_named(tmp_path, content, message) -> None:
    path = tmp_path / "lock.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_lock(path)
    with pytest.raises(ValueError, match="does not exist; write one with `compressors lock`"):
        read_lock(tmp_path / "none.json")


def test_the_machine_and_libraries_a_lock_was_written_with_are_compared_entry_by_entry() -> None:
    locked = {"python": "3.11.7", "versions": {"torch": "2.13.0", "onnxruntime": "1.32.0"}, "cpu_count": 2}
    current = {"python": "3.11.7", "versions": {"torch": "2.13.0", "onnxruntime": "1.33.0"}, "cpu_count": 2,
               "cpu_model": "AMD EPYC"}
    assert environment_differences(locked, current) == [
        "cpu_model: None in the lock, AMD EPYC here",
        "versions.onnxruntime: 1.32.0 in the lock, 1.33.0 here",
    ]
    assert environment_differences(current, current) == []


def test_ci_checks_the_small_build_against_the_committed_lock() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lock = read_lock(root / "locks" / "small.json")
    assert lock["profile"] == "small" and set(lock["variants"]) >= {"baseline", "pruned-structured", "frontier"}
    tests_env = (root / "tox.ini").read_text().split("[testenv:tests]")[1].split("\n[")[0]
    assert "compressors verify --lock={tox_root}/locks/small.json --cache-dir={env_tmp_dir}/artifacts" in tests_env


def test_a_lock_of_some_variants_is_verified_on_those_alone(tmp_path) -> None:
    lock = write_lock(_builder(tmp_path / "one", VARIANTS), tmp_path / "lock.json", variants=["student"])
    assert list(lock["variants"]) == ["student"] and len(lock["artifacts"]) == 2
    two = _builder(tmp_path / "two", VARIANTS)
    assert verify_lock(two, lock) == ([], {})
    assert len([p for p in (tmp_path / "two").iterdir() if p.is_dir()]) == 2  # frontier was not built
    with pytest.raises(ValueError, match=r"unknown variant\(s\) \['studnet'\]"):
        write_lock(_builder(tmp_path / "three", VARIANTS), tmp_path / "bad.json", variants=["studnet"])
    with pytest.raises(ValueError, match=r"the lock has variant\(s\) \['student'\] that this profile does not define"):
        verify_lock(_builder(tmp_path / "four", VARIANTS[:1]), lock)
