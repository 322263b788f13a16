"""The registry of variants: its checks, and what it derives from each chain."""

from __future__ import annotations

import pytest

from compressors.profiles import FULL, SMALL
from compressors.steps.distill import Distill
from compressors.steps.finetune import FineTune
from compressors.steps.onnx_export import OnnxExport
from compressors.steps.ort_quantize import OrtDynamicInt8
import compressors.variants
from compressors.variants import VARIANT_NAMES, Variant, check_registry, check_variant_name, registry


def test_both_profiles_register_the_same_variants_in_build_order() -> None:
    full, small = registry(FULL), registry(SMALL)
    assert tuple(full) == tuple(small) == VARIANT_NAMES and VARIANT_NAMES[0] == "baseline"
    seen: set[str] = set()
    for variant in full.values():
        assert variant.source is None or variant.source in seen
        seen.add(variant.name)


def test_a_registry_that_disagrees_with_the_listed_names_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(compressors.variants, "VARIANT_NAMES", (*VARIANT_NAMES[:12], *VARIANT_NAMES[13:], "pruned"))
    with pytest.raises(ValueError, match=r"not listed there \['frontier'\], listed but not built \['pruned'\]"):
        registry(SMALL)


def test_int8_chains_are_known_to_quantize() -> None:
    variants = registry(SMALL)
    assert variants["ort-quantized"].quantizes and variants["frontier"].quantizes and variants["quantized"].quantizes
    assert not variants["ort"].quantizes and not variants["distilled"].quantizes


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([Variant("baseline", (FineTune(),)), Variant("baseline", (FineTune(),))], "variant 'baseline' is defined twice"),
        ([Variant("baseline", (FineTune(),)), Variant("x", (OnnxExport(),), source="y")], "its source 'y' must be a variant defined before it"),
        ([Variant("x", (OnnxExport(),), source="baseline"), Variant("baseline", (FineTune(),))], "its source 'baseline' must be a variant defined before it"),
        ([Variant("baseline", (FineTune(),)), Variant("x", (OrtDynamicInt8(),), source="baseline", fp32_source="z")], "its fp32_source 'z'"),
        ([Variant("baseline", (FineTune(),)), Variant("x", (Distill(teacher="big"),), source="baseline")], "its teacher 'big'"),
        ([Variant("teacher", (FineTune(),))], "the registry needs a 'baseline' variant"),
        ([Variant("baseline", ())], "variant 'baseline' has no steps"),
    ],
)
def test_a_malformed_registry_is_refused_naming_the_variant(variants, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_registry(variants)


def test_unknown_variant_names_get_the_nearest_one() -> None:
    assert check_variant_name("ort-quantized") == "ort-quantized"
    with pytest.raises(ValueError, match="unknown variant 'ort-quantised'; did you mean 'ort-quantized'"):
        check_variant_name("ort-quantised")
