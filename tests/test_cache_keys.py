"""Cache keys of built artifacts stay put across refactors: hours of builds stay valid.

The keys below were computed before the code was reorganised. A change here must be a
conscious one: a step's VERSION bumped because what it builds changed (then update the pin and
say so in the commit), never a side effect of moving code.
"""

from __future__ import annotations

import pytest

from compressors.profiles import FULL, SMALL
from compressors.suite import Suite

PINNED = {
    "full": {
        "baseline": "fine-tune-7464a496293c3c6863d6",
        "student": "distill-4a82030d18d668f53264",
        "baseline-quantized": "torch-int8-e613047bdce0e258176d",
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
    suite = Suite(profile, tmp_path, device="cpu", plan_only=True)
    keys = {name: suite.artifact(name).key for name in PINNED[profile.name]}
    assert keys == PINNED[profile.name]
    assert not any(tmp_path.iterdir()), "planning keys must not build anything"
