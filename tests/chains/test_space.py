"""The candidate space: chains built from the registered steps, sharing cache keys with the registry's variants."""

from __future__ import annotations

import pytest

from compressors.chains.space import QUANTIZATIONS, Candidate, ChainSpace, candidates
from compressors.profiles import FULL, SMALL
from compressors.steps.ort_quantize import OrtDynamicInt8, OrtStaticInt8
from compressors.steps.prune_structured import PruneStructured
from compressors.variants import registry


@pytest.mark.parametrize("profile", [FULL, SMALL], ids=["full", "small"])
def test_the_frontier_candidate_is_the_frontier_variants_chain(profile) -> None:
    frontier = registry(profile)["frontier"]
    assert Candidate("distilled", trim=True).chain(profile) == (frontier.source, frontier.steps)


def test_the_structured_source_with_ort_int8_is_that_variants_chain() -> None:
    variant = registry(FULL)["pruned-structured-ort-quantized"]
    assert Candidate("pruned-structured").chain(FULL) == (variant.source, variant.steps)


def test_a_new_student_is_cut_and_distilled_with_the_profiles_recipe() -> None:
    source, steps = Candidate(layers=(0, 5), quantization="torch-fp32").chain(FULL)
    distilled = registry(FULL)["distilled"]
    assert source == "baseline" and steps[0].layers == (0, 5) and steps[1] == distilled.steps[1]
    assert Candidate(layers=(0, 5)).trains and not Candidate("distilled").trains


def test_int8_options_reach_the_quantization_step() -> None:
    _, steps = Candidate("distilled", per_channel=True, reduce_range=True, weight_type="uint8", operators=("MatMul",)).chain(FULL)
    assert steps[-1] == OrtDynamicInt8(per_channel=True, reduce_range=True, weight_type="uint8", operators=("MatMul",))
    _, static = Candidate("distilled", quantization="ort-static", per_channel=False).chain(FULL)
    assert static[-1] == OrtStaticInt8(calibration_size=FULL.calibration_size, per_channel=False)
    _, shaped = Candidate(shape=(6, 512), quantization="torch-dynamic").chain(FULL)
    assert isinstance(shaped[0], PruneStructured) and (shaped[0].heads, shaped[0].neurons) == (6, 512)


@pytest.mark.parametrize("bad, message", [
    (dict(quantization="tensorrt"), "quantization must be one of"),
    (dict(source="distilled", layers=(0, 1)), "starts from 'baseline'"),
    (dict(quantization="ort-static", reduce_range=True), "apply to ort-dynamic"),
    (dict(quantization="torch-dynamic", per_channel=True), "per_channel applies to ORT int8"),
    (dict(operators=("Softmax",)), "operators must be among"),
    (dict(shape=(6,)), "shape must be (heads, neurons)"),
])
def test_an_invalid_candidate_says_what_is_wrong(bad, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Candidate(**bad)


def test_every_candidate_of_the_space_is_distinct_and_round_trips_through_json() -> None:
    space = ChainSpace(students=((0, 5),), shapes=((6, 512),), operators=((), ("MatMul",)), graph_levels=("all", "basic"))
    found = candidates(space)
    assert len({c.name for c in found}) == len(found)
    assert all(Candidate.from_json(c.to_json()) == c for c in found)
    assert {c.quantization for c in found} == set(QUANTIZATIONS)
    assert Candidate("baseline", quantization="torch-fp32") not in found  # the reference itself


def test_the_space_counts_the_combinations_it_allows() -> None:
    space = ChainSpace(sources=("distilled",), trim=(True,), quantizations=("ort-dynamic", "ort-static"),
                       reduce_range=(False, True), weight_types=("int8", "uint8"), per_channel=(False,))
    assert len(candidates(space)) == 4 + 1  # 2 reduce_range x 2 weight types, and the static one


@pytest.mark.parametrize("bad, message", [
    (dict(trim=()), "trim is empty"),
    (dict(quantizations=("int4",)), "quantizations ['int4'] are not among"),
    (dict(sources=(), students=(), shapes=()), "has no model"),
    (dict(students=((1, 1),)), "distinct"),
])
def test_an_invalid_space_says_what_is_wrong(bad, message) -> None:
    with pytest.raises(ValueError) as error:
        ChainSpace(**bad)
    assert message in str(error.value) and "\n" not in str(error.value)
