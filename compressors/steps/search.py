"""Optuna search over the distillation hyper-parameters (epochs, alpha, T), then the final student.

The study lives in an RDB storage (a SQLite file in the artifact cache by default; any database
URL works), so a killed search resumes where it stopped and several machines can share a study.
Trials train on a seeded random subset of the training split and are pruned on validation accuracy.

A resumed search picks what an uninterrupted one would: the sampler of the k-th trial is seeded
with `seed + k` (k counting finished trials), so what it draws depends only on the seed and the
finished trials, and a trial cut off by an interruption is drawn again. Training is seeded, so
the same trials give the same values.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built, cache_key
from compressors.formats.dense import TORCH_KIND, TORCH_KINDS, save_classifier
from compressors.progress import Progress
from compressors.steps.base import BuildContext, describe, register_step
from compressors.steps.distill import Distill, train_student, validation_accuracy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchSpace:
    """The seed's space: epochs, alpha in [0, 1], T in [2, 20]."""

    epochs: tuple[int, int] = (2, 4)
    alpha: tuple[float, float] = (0.0, 1.0)
    temperature: tuple[float, float] = (2.0, 20.0)

    def __post_init__(self) -> None:
        for name in ("epochs", "alpha", "temperature"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"SearchSpace.{name} must be (low, high) with low <= high, got {(low, high)}")
        if self.epochs[0] < 1 or not 0 <= self.alpha[0] <= self.alpha[1] <= 1 or self.temperature[0] <= 0:
            raise ValueError(f"SearchSpace out of range: epochs >= 1, alpha within [0, 1], T > 0; got {self}")


@dataclass(frozen=True)
class SearchDistill:
    """Search alpha/T/epochs with Optuna, then distill on the full training split with the best.

    Attributes:
        base: the distillation settings; alpha, temperature and epochs are searched.
        space: the search space.
        trials: trial budget (trials already in the stored study count towards it).
        trial_fraction: fraction of the training rows each trial trains on.
        storage: an Optuna database URL; "" uses `<cache>/optuna.db` (SQLite).
        seed: seed of the sampler and of the trial subset.
    """

    base: Distill = field(default_factory=Distill)
    space: SearchSpace = field(default_factory=SearchSpace)
    trials: int = 6
    trial_fraction: float = 0.3
    storage: str = ""
    seed: int = 0

    STEP: ClassVar[str] = "search-distill"
    VERSION: ClassVar[str] = "2"

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"SearchDistill.trials must be >= 1, got {self.trials}")
        if not 0 < self.trial_fraction <= 1:
            raise ValueError(f"SearchDistill.trial_fraction must be in (0, 1], got {self.trial_fraction}")


def storage_url(config: SearchDistill, context: BuildContext) -> str:
    return config.storage or f"sqlite:///{Path(context.cache.root).resolve() / 'optuna.db'}"


def _suggest(trial, config: SearchDistill) -> Distill:
    """The trial's distillation settings; the order of the suggestions is part of the sampler's stream."""
    space = config.space
    return replace(
        config.base,
        alpha=trial.suggest_float("alpha", *space.alpha),
        temperature=trial.suggest_float("temperature", *space.temperature),
        train=replace(config.base.train, epochs=trial.suggest_int("epochs", *space.epochs)),
    )


def run_search(source: Artifact | None, config: SearchDistill, context: BuildContext, study_name: str):
    """Run (or resume) the study; returns it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = list(range(len(context.data["train"])))
    random.Random(config.seed).shuffle(rows)
    rows = sorted(rows[: max(1, int(len(rows) * config.trial_fraction))])

    def objective(trial: optuna.Trial) -> float:
        trial_config = _suggest(trial, config)

        def report(epoch: int, model, tokenizer) -> None:
            accuracy = validation_accuracy(model, tokenizer, context, trial_config.train.max_length)
            trial.set_user_attr(f"accuracy_epoch_{epoch}", accuracy)
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation accuracy {accuracy:.4f} after epoch {epoch}")

        model, tokenizer = train_student(source, trial_config, context, rows=rows, on_epoch_end=report)
        return validation_accuracy(model, tokenizer, context, trial_config.train.max_length)

    study = optuna.create_study(
        study_name=study_name,
        storage=storage_url(config, context),
        direction="maximize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def finished() -> int:
        return sum(t.state in done for t in study.get_trials(deepcopy=False))

    if finished() < config.trials:
        logger.info("search %s: %d trial(s) done, running %d more", study_name, finished(), config.trials - finished())
        progress = Progress(f"search {study_name}", config.trials, unit="trial")
        progress.advance(finished())
        while finished() < config.trials:
            study.sampler = optuna.samplers.TPESampler(seed=config.seed + finished())
            study.optimize(objective, n_trials=1, catch=())
            progress.advance(state=study.trials[-1].state.name.lower())
    return study


def _teacher(source: Artifact | None, config: SearchDistill, context: BuildContext) -> dict:
    return {"teacher": context.resolve(config.base.teacher).key}


@register_step(
    SearchDistill, produces=TORCH_KIND, accepts=TORCH_KINDS, identity=_teacher,
    code=("compressors.steps.distill", "compressors.steps.training"),
)
def search_and_distill(source: Artifact, config: SearchDistill, context: BuildContext, out_dir: Path) -> Built:
    """The search-distill step: the student trained with the best alpha/T/epochs found."""
    teacher = context.resolve(config.base.teacher)
    searched = {k: v for k, v in describe(config).items() if k != "storage"}
    study_name = "distill-" + cache_key({"searched": searched, "source": source.key,
                                         "teacher": teacher.key, "data": context.data_key})
    study = run_search(source, config, context, study_name)
    best = study.best_trial
    final = replace(
        config.base,
        alpha=best.params["alpha"],
        temperature=best.params["temperature"],
        train=replace(config.base.train, epochs=best.params["epochs"]),
    )
    logger.info("search %s: best %s (validation accuracy %.4f on the trial subset)", study_name, best.params, best.value)
    by_epoch: list[float] = []

    def record(epoch: int, model, tokenizer) -> None:
        by_epoch.append(validation_accuracy(model, tokenizer, context, final.train.max_length))

    model, tokenizer = train_student(source, final, context, on_epoch_end=record)
    save_classifier(model, tokenizer, out_dir)
    meta = {
        "alpha": final.alpha,
        "temperature": final.temperature,
        "epochs": final.train.epochs,
        "validation_accuracy": by_epoch[-1],
        "validation_accuracy_by_epoch": by_epoch,
        "search_best_value": best.value,
        "search_trials": len(study.trials),
        "study": study_name,
        "seed": config.seed,
    }
    return Built(TORCH_KIND, meta)
