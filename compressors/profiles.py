"""Profiles: the full reference run (CLINC150, MiniLM-L6) and a small one for tests and CI."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from compressors.data import DataConfig
from compressors.formats.checkpoints import DEFAULT_CHECKPOINT
from compressors.measure.harness import HarnessConfig
from compressors.measure.paired import PairedConfig
from compressors.steps.distill import Distill
from compressors.steps.distill_layers import LayerLoss, uniform_pairs
from compressors.steps.prune import Prune
from compressors.steps.search import SearchDistill, SearchSpace
from compressors.steps.training import TrainConfig


@dataclass(frozen=True)
class Profile:
    """Everything a suite run depends on besides the variant chains themselves."""

    name: str
    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: str = DEFAULT_CHECKPOINT
    # A classifier the user fine-tuned: the baseline as it is, instead of fine-tuning `checkpoint`.
    baseline_model: str = ""
    teacher_layers: tuple[int, ...] = ()
    # The layers the students keep; empty keeps one layer in two of whatever depth the teacher has.
    teacher_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5))
    student_layers: tuple[int, ...] = (0, 2, 4)
    student_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8))
    search: SearchDistill = field(
        default_factory=lambda: SearchDistill(
            base=Distill(train=TrainConfig(epochs=8)), space=SearchSpace(epochs=(4, 8)), trials=4, trial_fraction=0.25
        )
    )
    # distilled-layers: the student also matches the teacher's hidden states and attention maps.
    # Weights put the hidden-state MSE (~0.3 per pair at the start) and the attention KL (~1.5)
    # at the scale of the KD term (T^2 KL ~2 at T=4) on the cut MiniLM-L6 student.
    layer_loss: LayerLoss = field(
        default_factory=lambda: LayerLoss(pairs=uniform_pairs(3, 6), hidden_weight=3.0, attention_weight=1.0)
    )
    calibration_size: int = 300
    frontier_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=2, learning_rate=5e-5))
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    # pruned-* variants: `pruning` with its method set per variant, applied to `pruning_source`.
    # Two epochs from the fine-tuned baseline keep one pruning run near 5 minutes on 2 cores.
    pruning: Prune = field(default_factory=lambda: Prune(train=TrainConfig(epochs=2)))
    pruning_source: str = "baseline"


FULL = Profile(name="full")
_SMALL_TRAIN = TrainConfig(epochs=1, learning_rate=5e-4, max_length=32)

SMALL = Profile(
    name="small",
    data=DataConfig(per_class={"train": 30, "validation": 5, "test": 10}),
    teacher_layers=(0, 1),
    teacher_train=_SMALL_TRAIN,
    student_layers=(0,),
    student_train=_SMALL_TRAIN,
    search=SearchDistill(base=Distill(train=_SMALL_TRAIN), space=SearchSpace(epochs=(1, 1)), trials=2, trial_fraction=0.5),
    layer_loss=LayerLoss(pairs=uniform_pairs(1, 2), hidden_weight=3.0, attention_weight=1.0),
    calibration_size=32,
    frontier_train=_SMALL_TRAIN,
    harness=HarnessConfig(
        latency_queries=50, warmup_rounds=5, rounds=60, agreement_sample=50,
        paired=PairedConfig(pairs=20, block_calls=10, warm_calls=2), attention_pairs=4,
    ),
    pruning=Prune(train=_SMALL_TRAIN),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL, SMALL)}


def get_profile(name: str) -> Profile:
    """The profile called `name`, with a hint for near misses."""
    if name not in PROFILES:
        close = difflib.get_close_matches(name, list(PROFILES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown profile {name!r}{hint}; known profiles: {sorted(PROFILES)}")
    return PROFILES[name]
