"""Profiles: the full reference run (CLINC150, MiniLM-L6) and a small one for tests and CI."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from compressors.data import DataConfig
from compressors.distillation import Distill
from compressors.harness import HarnessConfig
from compressors.layer_distillation import LayerLoss, uniform_pairs
from compressors.models import DEFAULT_CHECKPOINT
from compressors.pruning import Prune
from compressors.search import SearchDistill, SearchSpace
from compressors.training import TrainConfig


@dataclass(frozen=True)
class Profile:
    """Everything a suite run depends on besides the variant chains themselves."""

    name: str
    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: str = DEFAULT_CHECKPOINT
    teacher_layers: tuple[int, ...] = ()
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
    harness=HarnessConfig(latency_queries=50, warmup_rounds=5, rounds=60, agreement_sample=50),
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


_USER_KEYS = {"data": {f.name for f in fields(DataConfig)}, "model": {"checkpoint"}}


def apply_user_config(profile: Profile, path: Path) -> Profile:
    """Override a profile's data and checkpoint from a TOML file with `[data]` and `[model]` tables.

    Example::

        [data]
        files = {train = "train.csv", validation = "val.csv", test = "test.csv"}
        text_column = "utterance"
        label_column = "label"
        oos_label = ""          # no out-of-scope class

        [model]
        checkpoint = "bert-base-uncased"
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"suite config {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    for table, values in raw.items():
        if table not in _USER_KEYS:
            raise ValueError(f"{path}: unknown table [{table}]; expected {sorted(_USER_KEYS)}")
        unknown = set(values) - _USER_KEYS[table]
        if unknown:
            raise ValueError(f"{path}: [{table}] has unknown key(s) {sorted(unknown)}; known: {sorted(_USER_KEYS[table])}")
    data_values = raw.get("data", {})
    if "files" in data_values:
        base = path.parent
        data_values = {**data_values, "files": {k: str((base / v).resolve()) for k, v in data_values["files"].items()}}
    data = replace(profile.data, **data_values) if data_values else profile.data
    checkpoint = raw.get("model", {}).get("checkpoint", profile.checkpoint)
    return replace(profile, data=data, checkpoint=checkpoint)
