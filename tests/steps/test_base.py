"""The step protocol: registration by config type, source checks, recipes and keys, chains, planning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from compressors.artifacts import Built
from compressors.steps.base import (
    OMIT_WHEN_DEFAULT,
    apply_step,
    build_chain,
    describe,
    recipe_of,
    register_step,
    registered_steps,
)


@dataclass(frozen=True)
class Seed:
    """Writes a file holding `text` (a step that starts from nothing)."""

    text: str = "seed"

    STEP: ClassVar[str] = "test-seed"
    VERSION: ClassVar[str] = "1"


@dataclass(frozen=True)
class Append:
    """Appends `text` to the source's file."""

    text: str = "+"
    later: int = field(default=0, metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "test-append"
    VERSION: ClassVar[str] = "1"


BUILDS: list[str] = []


@register_step(Seed, produces="text", needs_source=False, uses_data=False)
def _seed(source, config: Seed, context, out_dir) -> Built:
    BUILDS.append(config.STEP)
    (out_dir / "value.txt").write_text(config.text)
    return Built("text", {"length": len(config.text)})


@register_step(Append, produces="text", accepts=("text",), identity=lambda source, config, context: {"extra": 1})
def _append(source, config: Append, context, out_dir) -> Built:
    BUILDS.append(config.STEP)
    (out_dir / "value.txt").write_text((source.path / "value.txt").read_text() + config.text)
    return Built("text")


def test_a_chain_applies_its_steps_in_order_and_caches_each(context) -> None:
    BUILDS.clear()
    final = build_chain(None, (Seed("a"), Append("b"), Append("c")), context)
    assert (final.path / "value.txt").read_text() == "abc" and final.kind == "text"
    assert BUILDS == ["test-seed", "test-append", "test-append"]
    assert build_chain(None, (Seed("a"), Append("b"), Append("c")), context) == final
    assert BUILDS == ["test-seed", "test-append", "test-append"]  # all cached


def test_the_recipe_names_step_version_config_source_data_and_identity(context) -> None:
    seed = apply_step(None, Seed("a"), context)
    recipe = recipe_of(Append("b"), seed, context)
    assert recipe == {
        "step": "test-append", "version": "1", "config": {"type": "Append", "text": "b"},
        "source": seed.key, "data": context.data_key, "extra": 1,
    }
    assert recipe_of(Seed("a"), None, context)["data"] is None  # uses_data=False


def test_an_option_left_at_its_default_stays_out_of_the_recipe() -> None:
    assert describe(Append("b")) == {"type": "Append", "text": "b"}
    assert describe(Append("b", later=2)) == {"type": "Append", "text": "b", "later": 2}


def test_sources_are_checked_before_anything_is_built(context, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"test-append needs a source artifact, one of \['text'\]"):
        apply_step(None, Append(), context)
    from compressors.artifacts import Artifact

    wrong = Artifact(tmp_path, "key", "onnx", "digest")
    with pytest.raises(ValueError, match=r"test-append reads \['text'\] artifacts, got 'onnx'"):
        apply_step(wrong, Append(), context)
    with pytest.raises(ValueError, match="a chain needs at least one step"):
        build_chain(None, (), context)


def test_planning_gives_the_keys_without_building(context) -> None:
    BUILDS.clear()
    context.plan_only = True
    planned = build_chain(None, (Seed("p"), Append("q")), context)
    assert BUILDS == [] and not planned.path.exists()
    context.plan_only = False
    assert build_chain(None, (Seed("p"), Append("q")), context).key == planned.key


def test_steps_are_registered_by_config_type_once() -> None:
    assert registered_steps()[Seed].produces == "text"

    @dataclass(frozen=True)
    class Unregistered:
        STEP: ClassVar[str] = "nothing"
        VERSION: ClassVar[str] = "1"

    with pytest.raises(ValueError, match="no step is registered for config type Unregistered"):
        apply_step(None, Unregistered(), None)
    with pytest.raises(ValueError, match="already registered for Seed"):
        register_step(Seed, produces="text")(_seed)
    with pytest.raises(TypeError, match="must be a dataclass with STEP and VERSION"):
        register_step(int, produces="text")
