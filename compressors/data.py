"""Data sets for the suite: CLINC150 "plus" by default, or the user's own files or Hub data set.

Every loader returns a `datasets.DatasetDict` with `train`/`validation`/`test` splits, a string
column `text` and a `ClassLabel` column `intent`, whatever the source's own column names are.
A source with no validation split gets one: a stratified, seeded fraction of the training rows.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import os
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import DatasetDict

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
REQUIRED_SPLITS = ("train", "test")
TEXT = "text"
LABEL = "intent"
CLINC_HUB_NAME = "clinc_oos"
CLINC_CONFIG = "plus"
CLINC_OOS_LABEL = "oos"
# The vendored copy: the repository's fixtures/clinc150, shipped as the package data `compressors.fixtures`.
FIXTURE_DIR = Path(str(resources.files("compressors.fixtures") / "clinc150"))
# The vendored file's keys, in the order the Hub concatenates them into each split.
_CLINC_PARTS = {
    "train": ("train", "oos_train"),
    "validation": ("val", "oos_val"),
    "test": ("test", "oos_test"),
}


class DataError(ValueError):
    """A data file or data set that cannot be used as it is."""


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from.

    Attributes:
        hub_name: a Hub data set name (default CLINC150); ignored when files are given.
        hub_config: the Hub data set's configuration name.
        files: split name -> CSV or JSON Lines file: train and test, and validation if you have one.
        text_column: the source's text column.
        label_column: the source's label column (strings or ClassLabel ids).
        oos_label: the out-of-scope class name, or "" when the data set has none.
        per_class: split name -> keep at most this many rows of each class (a stratified,
            order-preserving slice); empty keeps everything.
        validation_fraction: when the source has no validation split, this fraction of each
            class's training rows is held out as one (stratified, at least one row per class).
        split_seed: seed of that hold-out.
    """

    hub_name: str = CLINC_HUB_NAME
    hub_config: str = CLINC_CONFIG
    files: dict[str, str] = field(default_factory=dict)
    text_column: str = TEXT
    label_column: str = LABEL
    oos_label: str = CLINC_OOS_LABEL
    per_class: dict[str, int] = field(default_factory=dict)
    validation_fraction: float = 0.1
    split_seed: int = 42

    def __post_init__(self) -> None:
        if self.files and not (set(REQUIRED_SPLITS) <= set(self.files) <= set(SPLITS)):
            raise DataError(
                f"data files must name the splits train and test, and may name validation; got {sorted(self.files)}"
            )
        if not 0 < self.validation_fraction < 1:
            raise DataError(f"validation_fraction must be a fraction in (0, 1), e.g. 0.1; got {self.validation_fraction!r}")
        for split, count in self.per_class.items():
            if split not in SPLITS:
                raise DataError(f"per_class names unknown split {split!r}; expected one of {SPLITS}")
            if not isinstance(count, int) or count < 1:
                raise DataError(f"per_class[{split!r}] must be a positive integer, got {count!r}")

    def describe(self) -> dict:
        """A JSON-able description, used in cache keys."""
        return {
            "hub_name": self.hub_name,
            "hub_config": self.hub_config,
            "files": {k: str(v) for k, v in sorted(self.files.items())},
            "text_column": self.text_column,
            "label_column": self.label_column,
            "oos_label": self.oos_label,
            "per_class": dict(sorted(self.per_class.items())),
            **({} if self.has_validation else {"validation": self.holdout_description}),
        }

    @property
    def has_validation(self) -> bool:
        """Whether the source names a validation split (CLINC150 and Hub data sets are checked on load)."""
        return not self.files or "validation" in self.files

    @property
    def holdout_description(self) -> str:
        return f"held out {self.validation_fraction:.0%} of each class's training rows (stratified, seed {self.split_seed})"


def load_data(config: DataConfig = DataConfig()) -> DatasetDict:
    """Load the splits that `config` names, sliced by `config.per_class`."""
    if config.files:
        data = load_files(config.files, config.text_column, config.label_column)
    elif config.hub_name == CLINC_HUB_NAME and config.hub_config == CLINC_CONFIG:
        data = load_clinc150()
    else:
        data = load_hub(config.hub_name, config.hub_config, config.text_column, config.label_column)
    if "validation" not in data:
        data = hold_out_validation(data, config.validation_fraction, config.split_seed)
        logger.info("data: no validation split; %s: %d train, %d validation rows",
                    config.holdout_description, len(data["train"]), len(data["validation"]))
    if config.oos_label and config.oos_label not in data["train"].features[LABEL].names:
        raise DataError(
            f"out-of-scope label {config.oos_label!r} is not a class of the data set; "
            "set oos_label to one of its classes, or to \"\" when it has none"
        )
    if config.per_class:
        data = stratified_slice(data, config.per_class)
    return data


def load_clinc150() -> DatasetDict:
    """CLINC150 "plus" from the Hub, or from the vendored copy when the Hub is unreachable."""
    if not _hub_offline():
        try:
            return load_hub(CLINC_HUB_NAME, CLINC_CONFIG, TEXT, LABEL)
        except (ConnectionError, OSError) as error:
            logger.info("Hub data set %s unreachable (%s); using the vendored copy", CLINC_HUB_NAME, error)
    return load_vendored_clinc150()


def load_vendored_clinc150(fixture_dir: Path = FIXTURE_DIR) -> DatasetDict:
    """The vendored CLINC150 copy, with the Hub's schema, label ids and row order."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    names = json.loads((fixture_dir / "labels.json").read_text())
    with gzip.open(fixture_dir / "data_oos_plus.json.gz", "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    features = Features({TEXT: Value("string"), LABEL: ClassLabel(names=names)})
    index = {name: i for i, name in enumerate(names)}
    splits = {}
    for split, parts in _CLINC_PARTS.items():
        rows = [row for part in parts for row in raw[part]]
        splits[split] = Dataset.from_dict(
            {TEXT: [text for text, _ in rows], LABEL: [index[label] for _, label in rows]},
            features=features,
        )
    return DatasetDict(splits)


def load_hub(name: str, config_name: str, text_column: str, label_column: str) -> DatasetDict:
    """A Hub data set, renamed to the suite's schema (its validation split may be missing)."""
    from datasets import ClassLabel, DatasetDict, load_dataset

    data = load_dataset(name, config_name or None)
    missing = [s for s in REQUIRED_SPLITS if s not in data]
    if missing:
        raise DataError(f"Hub data set {name!r} has no split(s) {missing}; it has {list(data)}")
    data = DatasetDict({split: data[split] for split in SPLITS if split in data})
    data = data.select_columns([text_column, label_column])
    if text_column != TEXT:
        data = data.rename_column(text_column, TEXT)
    if label_column != LABEL:
        data = data.rename_column(label_column, LABEL)
    if not isinstance(data["train"].features[LABEL], ClassLabel):
        data = data.class_encode_column(LABEL)
    return data


def load_files(files: dict[str, str], text_column: str, label_column: str) -> DatasetDict:
    """CSV or JSON Lines files, one per split given; classes are those of the training file, sorted."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    given = [split for split in SPLITS if split in files]
    rows = {split: read_rows(Path(files[split]), text_column, label_column) for split in given}
    names = sorted({label for _, label, _ in rows["train"]})
    index = {name: i for i, name in enumerate(names)}
    features = Features({TEXT: Value("string"), LABEL: ClassLabel(names=names)})
    splits = {}
    for split in given:
        for _, label, where in rows[split]:
            if label not in index:
                raise DataError(
                    f"{where}: label {label!r} does not occur in the training file "
                    f"{files['train']}; every class must have training examples"
                )
        splits[split] = Dataset.from_dict(
            {TEXT: [t for t, _, _ in rows[split]], LABEL: [index[l] for _, l, _ in rows[split]]},
            features=features,
        )
    return DatasetDict(splits)


def read_rows(path: Path, text_column: str, label_column: str) -> list[tuple[str, str, str]]:
    """Rows of one CSV (`.csv`) or JSON Lines (`.jsonl`, `.json`) file as (text, label, where)."""
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in (".jsonl", ".json"):
        records = _jsonl_records(path)
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .jsonl")
    rows = []
    for line, record in records:
        where = f"{path}, row {line}"
        for column in (text_column, label_column):
            if column not in record:
                raise DataError(f"{where}: missing column {column!r}; it has {sorted(record)}")
        text, label = record[text_column], record[label_column]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: column {text_column!r} must be non-empty text, got {text!r}")
        if label is None or str(label).strip() == "":
            raise DataError(f"{where}: column {label_column!r} is empty")
        rows.append((text, str(label), where))
    if not rows:
        raise DataError(f"{path}: the file holds no rows")
    return rows


def _csv_records(path: Path):
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            # DictReader puts surplus cells under None and fills missing cells with None.
            yield reader.line_num, {k: v for k, v in record.items() if k is not None and v is not None}


def _jsonl_records(path: Path):
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}, row {line}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}, row {line}: expected a JSON object, got {type(record).__name__}")
            yield line, record


def hold_out_validation(data: DatasetDict, fraction: float, seed: int) -> DatasetDict:
    """Split a validation set off the training split: `fraction` of each class's rows (at least one), seeded.

    Both parts keep the training file's row order. A class with fewer than two training rows
    cannot give a row to each part: such classes are an error that names them.
    """
    from datasets import DatasetDict

    labels = data["train"][LABEL]
    names = data["train"].features[LABEL].names
    by_class: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        by_class.setdefault(label, []).append(row)
    too_few = sorted(names[c] for c, rows in by_class.items() if len(rows) < 2)
    if too_few:
        raise DataError(
            f"cannot hold out a validation split: {len(too_few)} class(es) have fewer than 2 training rows "
            f"({', '.join(map(repr, too_few[:10]))}{', ...' if len(too_few) > 10 else ''}); add rows or give a validation file"
        )
    rng = random.Random(seed)
    held: set[int] = set()
    for label in sorted(by_class):
        rows = by_class[label]
        count = min(len(rows) - 1, max(1, round(len(rows) * fraction)))
        held.update(rng.sample(rows, count))
    validation = sorted(held)
    train = [row for row in range(len(labels)) if row not in held]
    return DatasetDict({"train": data["train"].select(train), "validation": data["train"].select(validation), "test": data["test"]})


def stratified_slice(data: DatasetDict, per_class: dict[str, int]) -> DatasetDict:
    """Keep the first `per_class[split]` rows of each class, in the original order."""
    from datasets import DatasetDict

    out = {}
    for split in data:
        limit = per_class.get(split)
        if limit is None:
            out[split] = data[split]
            continue
        seen: dict[int, int] = {}
        keep = []
        for i, label in enumerate(data[split][LABEL]):
            if seen.get(label, 0) < limit:
                seen[label] = seen.get(label, 0) + 1
                keep.append(i)
        out[split] = data[split].select(keep)
    return DatasetDict(out)


def fingerprint(data: DatasetDict) -> str:
    """A content hash of the splits (texts, labels and class names), for cache keys."""
    digest = hashlib.sha256()
    digest.update(json.dumps(data["train"].features[LABEL].names).encode())
    for split in SPLITS:
        digest.update(split.encode())
        for text, label in zip(data[split][TEXT], data[split][LABEL]):
            digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
