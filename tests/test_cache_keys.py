"""Cache keys of built artifacts stay put across refactors: hours of builds stay valid.

The keys below were computed before the code was reorganised. A change here must be a
conscious one: a step's VERSION bumped because what it builds changed (then update the pin and
say so in the commit), never a side effect of moving code.
"""

from __future__ import annotations

import pytest

from compressors.profiles import FULL, SMALL
from compressors.suite.build import Builder

PINNED = {
    # Moved on purpose when the full profile took the fused AdamW kernel too (a first build from an
    # empty cache in under two hours instead of 3.8); the earlier keys were fine-tune-7464a496293c3c6863d6,
    # distill-4a82030d18d668f53264, distill-ca945f4707ea4f5d81f6 and torch-int8-e613047bdce0e258176d.
    "full": {
        "baseline": "fine-tune-97f2c970e4ad98b95a79",
        "student": "distill-7f294f249de12551196a",
        "distilled": "distill-14ecd06acd7997d8eec9",
        "baseline-quantized": "torch-int8-f2dde63d36961b3c51f6",
    },
    # Moved on purpose when the small profile took the fused AdamW kernel (TrainConfig.fused_optimizer).
    "small": {
        "baseline": "fine-tune-504f87be3b50d795f83c",
        "student": "distill-d1ea3ca8295f1437c0d5",
        "baseline-quantized": "torch-int8-004ff997e5b055bf56c5",
    },
}


@pytest.mark.parametrize("profile", [FULL, SMALL], ids=["full", "small"])
def test_pinned_cache_keys_do_not_move(profile, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    suite = Builder.open(profile, tmp_path, device="cpu", plan_only=True)
    keys = {name: suite.artifact(name).key for name in PINNED[profile.name]}
    assert keys == PINNED[profile.name]
    assert not any(tmp_path.iterdir()), "planning keys must not build anything"


def test_an_ensemble_teacher_is_the_baseline_chain_reseeded_and_keys_the_student(tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    from compressors.steps.base import build_chain
    from compressors.steps.distill import Distill

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    suite = Builder.open(FULL, tmp_path, device="cpu", plan_only=True)
    (fine_tune,) = suite.variants["baseline"].steps
    member = suite.reseeded("baseline", 43)
    assert member.key == build_chain(None, (replace(fine_tune, train=replace(fine_tune.train, seed=43)),), suite.context).key
    assert member.key not in (suite.artifact("baseline").key, suite.reseeded("baseline", 44).key)
    cut, recipe = suite.variants["distilled"].steps
    alone = build_chain(suite.artifact("baseline"), (cut, recipe), suite.context)
    ensemble = build_chain(suite.artifact("baseline"), (cut, replace(recipe, teacher_seeds=(43, 44))), suite.context)
    assert alone.key == PINNED["full"]["distilled"] != ensemble.key
    assert not any(tmp_path.iterdir()), "planning keys must not build anything"
