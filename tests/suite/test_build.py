"""Which variants are the same model as their fp32 source, and so serve its out-of-scope decision."""

from __future__ import annotations

from compressors.profiles import FULL
from compressors.suite.build import family_source
from compressors.variants import registry


def test_formats_and_precisions_belong_to_their_fp32_source_and_retrained_models_to_none() -> None:
    variants = registry(FULL)
    families = {name: family_source(variants, name) for name in variants}
    assert {name: family for name, family in families.items() if family} == {
        "quantized": "distilled", "baseline-quantized": "baseline", "baseline-ort": "baseline", "ort": "distilled",
        "ort-quantized": "distilled", "ort-static": "distilled", "baseline-ort-quantized": "baseline",
        "baseline-trimmed": "baseline", "frontier": "distilled", "frontier-respelled": "distilled",
        "pruned-quantized": "pruned-magnitude", "pruned-structured-ort-quantized": "pruned-structured",
        "searched": "pruned-structured",  # the full profile's recorded search: pruned-structured, ORT int8
    }
    assert variants["pruned-structured"].fp32_source == "baseline" and families["pruned-structured"] is None  # fine-tuned again
