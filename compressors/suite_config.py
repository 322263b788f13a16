"""The user's suite config: a TOML file pointing the suite at their own data, model, training settings,
variants and budgets.

    [data]
    files = { train = "train.csv", test = "test.csv" }   # validation optional: held out of train
    text_column = "utterance"
    label_column = "intent"
    oos_label = ""                  # the out-of-scope class, or "" (default with files) when none
    oos_objective = "accuracy"      # its threshold maximises validation accuracy, or "balanced":
                                    # the mean of in-scope accuracy and out-of-scope recall

    [model]
    checkpoint = "bert-base-uncased"   # fine-tuned into the baseline, or:
    baseline = "models/my-classifier"  # your fine-tuned classifier, used as the baseline as it is

    [train]                          # every training run of the profile
    epochs = 3
    learning_rate = 5e-5

    [variants]
    include = ["baseline", "distilled*", "ort*"]   # glob patterns; default all
    exclude = ["pruned-*"]

    [budgets.distilled]              # absolute floors of your own; relative budgets apply anyway
    min_accuracy = 0.90

    [timing]                         # how long each variant is timed (a large model may want less)
    pairs = 30                       # paired blocks against the baseline; block_calls, warm_calls
    rounds = 400                     # plain batch-size-1 calls; warmup_rounds

    [search]                         # `compressors search`: floor, objective, time and the chains
    max_accuracy_drop = 0.005        # explored (compressors/chains/config.py lists every key)
    objective = "speed"

Every problem is a ValueError of one line naming the file, the table, the key, what is wrong and
what to do.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from compressors.chains.config import SearchConfig, parse_search_table
from compressors.measure.budgets import Budget, BudgetError, parse_budget
from compressors.measure.harness import HarnessConfig
from compressors.names import did_you_mean
from compressors.profiles import Profile
from compressors.steps.oos_threshold import OosThreshold
from compressors.steps.training import TrainConfig
from compressors.variants import VARIANT_NAMES

TABLES = ("data", "model", "train", "variants", "budgets", "timing", "search")
DATA_KEYS = ("files", "hub_name", "hub_config", "text_column", "label_column", "oos_label", "oos_objective", "per_class",
             "validation_fraction", "split_seed")
MODEL_KEYS = ("checkpoint", "baseline")
TRAIN_KEYS = ("epochs", "learning_rate", "batch_size", "max_length", "seed", "warmup_ratio", "weight_decay")
VARIANT_KEYS = ("include", "exclude")
PAIRED_KEYS = ("pairs", "block_calls", "warm_calls")
TIMING_KEYS = (*PAIRED_KEYS, "rounds", "warmup_rounds")


@dataclass(frozen=True)
class SuiteConfig:
    """What a suite config changes: the profile, which variants run, the user's own budgets and the chain search."""

    profile: Profile
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    budgets: dict[str, Budget] = field(default_factory=dict)
    search: SearchConfig = field(default_factory=SearchConfig)

    def selects(self, name: str) -> bool:
        """Whether the variant runs: it matches an include pattern and no exclude pattern."""
        return any(fnmatch.fnmatchcase(name, p) for p in self.include) and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)


def _check_keys(path: Path, table: str, values: object, known: tuple[str, ...]) -> dict:
    if not isinstance(values, dict):
        raise ValueError(f"{path}: [{table}] must be a table of keys, got {values!r}")
    for key in values:
        if key not in known:
            raise ValueError(f"{path}: [{table}] unknown key {key!r}{did_you_mean(key, known)}; known keys: {list(known)}")
    return values


def load_suite_config(profile: Profile, path: Path) -> SuiteConfig:
    """Apply a suite config TOML file to `profile`; see the module docstring for its tables."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"suite config {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    for table in raw:
        if table not in TABLES:
            raise ValueError(f"{path}: unknown table [{table}]{did_you_mean(table, TABLES)}; tables: {list(TABLES)}")
    profile = _apply_data(profile, path, _check_keys(path, "data", raw.get("data", {}), DATA_KEYS))
    profile = _apply_model(profile, path, _check_keys(path, "model", raw.get("model", {}), MODEL_KEYS))
    profile = _apply_train(profile, path, _check_keys(path, "train", raw.get("train", {}), TRAIN_KEYS))
    profile = _apply_timing(profile, path, _check_keys(path, "timing", raw.get("timing", {}), TIMING_KEYS))
    variants = _check_keys(path, "variants", raw.get("variants", {}), VARIANT_KEYS)
    include = _patterns(path, "include", variants.get("include", ["*"]))
    exclude = _patterns(path, "exclude", variants.get("exclude", []))
    if not profile.data.oos_label:
        profile = replace(profile, serving=())  # no out-of-scope class: no out-of-scope decision
    search = parse_search_table(path, raw.get("search", {}))
    config = SuiteConfig(profile, include, exclude, _budgets(path, raw.get("budgets", {})), search)
    if not any(config.selects(name) for name in VARIANT_NAMES):
        raise ValueError(f"{path}: [variants] selects no variant (include {list(include)}, exclude {list(exclude)})")
    return config


def apply_user_config(profile: Profile, path: Path) -> Profile:
    """The profile a suite config file makes of `profile` (its data, model and training settings)."""
    return load_suite_config(profile, path).profile


def _apply_data(profile: Profile, path: Path, values: dict) -> Profile:
    if not values:
        return profile
    values = dict(values)
    if "oos_objective" in values:
        try:
            profile = replace(profile, serving=(OosThreshold(objective=values.pop("oos_objective")),))
        except ValueError as error:
            raise ValueError(f"{path}: [data] oos_objective: {error}") from None
    if "files" in values:
        files = values["files"]
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise ValueError(f"{path}: [data] files must be a table of split = \"file\", e.g. {{ train = \"train.csv\", test = \"test.csv\" }}")
        values["files"] = {split: str((path.parent / file).resolve()) for split, file in files.items()}
        values.setdefault("oos_label", "")  # own files have no out-of-scope class unless named
    try:
        return replace(profile, data=replace(profile.data, **values))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: [data] {error}") from None


def _apply_model(profile: Profile, path: Path, values: dict) -> Profile:
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{path}: [model] {key} must be a directory or a Hub name, got {value!r}")
    if not values:
        return profile
    resolve = lambda value: str((path.parent / value).resolve()) if (path.parent / value).exists() else value  # noqa: E731
    changed = replace(profile, checkpoint=resolve(values.get("checkpoint", profile.checkpoint)),
                      baseline_model=resolve(values["baseline"]) if "baseline" in values else profile.baseline_model)
    # Pruning starts from the user's checkpoint, or, given only a fine-tuned model, prunes that model.
    if "checkpoint" in values:
        changed = replace(changed, pruning=replace(profile.pruning, checkpoint=changed.checkpoint))
    elif profile.pruning.checkpoint:
        changed = replace(changed, pruning=replace(profile.pruning, checkpoint=""), pruning_source="baseline")
    # Another model: students keep one layer in two of its depth, layers map uniformly.
    return replace(changed, teacher_layers=(), student_layers=(), layer_loss=replace(profile.layer_loss, pairs=()))


def _apply_train(profile: Profile, path: Path, values: dict) -> Profile:
    if not values:
        return profile
    try:
        TrainConfig(**values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: [train] {error}") from None

    def train(config: TrainConfig) -> TrainConfig:
        return replace(config, **values)

    search = profile.search
    epochs = values.get("epochs")
    space = replace(search.space, epochs=(max(1, epochs // 2), epochs)) if epochs else search.space
    return replace(
        profile,
        teacher_train=train(profile.teacher_train),
        student_train=train(profile.student_train),
        distill=replace(profile.distill, train=train(profile.distill.train)),
        search=replace(search, base=replace(search.base, train=train(search.base.train)), space=space),
        pruning=replace(profile.pruning, train=train(profile.pruning.train)),
        structured=replace(profile.structured, train=train(profile.structured.train)),
        harness=replace(profile.harness, max_length=values.get("max_length", profile.harness.max_length)),
    )


def _apply_timing(profile: Profile, path: Path, values: dict) -> Profile:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: [timing] {key} must be a whole number, got {value!r}")
    paired = {k: v for k, v in values.items() if k in PAIRED_KEYS}
    plain = {k: v for k, v in values.items() if k not in PAIRED_KEYS}
    try:
        return replace(profile, harness=replace(profile.harness, paired=replace(profile.harness.paired, **paired), **plain))
    except ValueError as error:
        raise ValueError(f"{path}: [timing] {error}") from None


def timing_of(harness: HarnessConfig) -> dict[str, int]:
    """The harness's values of the [timing] keys: how a run timed each variant."""
    return {key: getattr(harness.paired if key in PAIRED_KEYS else harness, key) for key in TIMING_KEYS}


def _patterns(path: Path, key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{path}: [variants] {key} must be a list of names or glob patterns, got {value!r}")
    for pattern in value:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in VARIANT_NAMES):
            raise ValueError(
                f"{path}: [variants] {key}: {pattern!r} matches no variant{did_you_mean(pattern, VARIANT_NAMES)}; "
                f"variants: {list(VARIANT_NAMES)}"
            )
    return tuple(value)


def _budgets(path: Path, table: object) -> dict[str, Budget]:
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [budgets] must hold one table per variant, e.g. [budgets.distilled]")
    budgets = {}
    for variant, limits in table.items():
        if variant not in VARIANT_NAMES:
            raise ValueError(f"{path}: [budgets.{variant}] unknown variant{did_you_mean(variant, VARIANT_NAMES)}; variants: {list(VARIANT_NAMES)}")
        try:
            budgets[variant] = parse_budget(f"{path}: [budgets.{variant}]", limits)
        except BudgetError as error:
            raise ValueError(str(error)) from None
    return budgets


