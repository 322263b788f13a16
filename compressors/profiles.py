"""Profiles: the full reference run (CLINC150, MiniLM-L6) and a small one for tests and CI."""

from __future__ import annotations

from dataclasses import dataclass, field

from compressors.data import DataConfig
from compressors.formats.checkpoints import DEFAULT_CHECKPOINT
from compressors.measure.harness import HarnessConfig
from compressors.measure.paired import PairedConfig
from compressors.names import did_you_mean
from compressors.steps.distill import Distill
from compressors.steps.distill_layers import LayerLoss, uniform_pairs
from compressors.steps.oos_threshold import OosThreshold
from compressors.steps.prune import Prune
from compressors.steps.prune_structured import PruneStructured
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
    teacher_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, fused_optimizer=True))
    # The layers the students keep; empty keeps one layer in two of whatever depth the teacher has.
    student_layers: tuple[int, ...] = (0, 2, 4)
    student_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, fused_optimizer=True))
    # distilled-searched: the book's chain, an Optuna search over alpha, T and epochs on validation.
    search: SearchDistill = field(
        default_factory=lambda: SearchDistill(
            base=Distill(train=TrainConfig(epochs=8, fused_optimizer=True)), space=SearchSpace(epochs=(4, 8)), trials=4, trial_fraction=0.25
        )
    )
    # distilled: the recipe chosen on validation among the candidates of the README's accuracy story.
    distill: Distill = field(default_factory=lambda: Distill(alpha=0.55, temperature=14.9, train=TrainConfig(epochs=7, fused_optimizer=True)))
    # Intermediate-layer distillation (Distill.layers), for a user's chain: the hidden-state MSE
    # (~0.3 per pair at the start) and the attention KL (~1.5) at the scale of the KD term.
    layer_loss: LayerLoss = field(
        default_factory=lambda: LayerLoss(pairs=uniform_pairs(3, 6), hidden_weight=3.0, attention_weight=1.0)
    )
    calibration_size: int = 300
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    # Steps every variant is served through, after its own chain (its source for other variants
    # stays the chain's artifact): the out-of-scope threshold, chosen on validation per variant.
    serving: tuple = (OosThreshold(),)
    # pruned-* variants: `pruning` with its method set per variant. As Sanh et al. ran it: from the
    # pretrained checkpoint with a new head, 0.5 CE + 0.5 KD (T 2) against the baseline's cached
    # logits, one dense epoch, the cubic ramp over the next two, the last two at the target;
    # movement scores from zero at lr 1e-2. Five epochs: about 25 minutes a run on 2 cores.
    pruning: Prune = field(
        default_factory=lambda: Prune(
            sparsity=0.9, start=0.2, end=0.6, checkpoint=DEFAULT_CHECKPOINT, teacher="baseline", alpha=0.5,
            temperature=2.0, scores_learning_rate=1e-2, train=TrainConfig(epochs=5, fused_optimizer=True),
        )
    )
    # The variant pruned when `pruning` names no checkpoint.
    pruning_source: str = "baseline"
    # pruned-structured: half the heads and half the feed-forward neurons of every baseline layer,
    # then two KD epochs; the shape chosen on validation among 6/768, 6/512 and 4/512.
    structured: PruneStructured = field(
        default_factory=lambda: PruneStructured(heads=6, neurons=768, train=TrainConfig(epochs=2, learning_rate=1e-4, fused_optimizer=True))
    )


FULL = Profile(name="full")
# The fused AdamW kernel (every profile): the same training in about two thirds of the time.
_SMALL_TRAIN = TrainConfig(epochs=1, learning_rate=5e-4, max_length=32, fused_optimizer=True)

SMALL = Profile(
    name="small",
    data=DataConfig(per_class={"train": 30, "validation": 5, "test": 10}),
    teacher_layers=(0, 1),
    teacher_train=_SMALL_TRAIN,
    student_layers=(0,),
    student_train=_SMALL_TRAIN,
    search=SearchDistill(base=Distill(train=_SMALL_TRAIN), space=SearchSpace(epochs=(1, 1)), trials=2, trial_fraction=0.5),
    distill=Distill(alpha=0.55, temperature=14.9, train=_SMALL_TRAIN),
    layer_loss=LayerLoss(pairs=uniform_pairs(1, 2), hidden_weight=3.0, attention_weight=1.0),
    calibration_size=32,
    # 60 pairs: with 20, unchanged runs' paired speed-ups moved by up to x1.29 and the gate could
    # not tell a 1.25x slow-down apart (budgets.toml, [gate.small]).
    harness=HarnessConfig(
        latency_queries=50, warmup_rounds=5, rounds=60, agreement_sample=50,
        paired=PairedConfig(pairs=60, block_calls=10, warm_calls=2), attention_pairs=4,
        # Counts are deterministic (within 0.5% whatever ran before in the worker): ten queries, no cache simulation.
        cost_queries=10, cost_cache_sim=False,
    ),
    pruning=Prune(train=_SMALL_TRAIN, teacher="baseline", alpha=0.5, scores_learning_rate=1e-2),
    structured=PruneStructured(heads=0.5, neurons=0.5, importance_batches=4, train=_SMALL_TRAIN),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL, SMALL)}


def get_profile(name: str) -> Profile:
    """The profile called `name`, with a hint for near misses."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}{did_you_mean(name, PROFILES)}; known profiles: {sorted(PROFILES)}")
    return PROFILES[name]
