"""Data sets for the suite: CLINC150 "plus" by default, or the user's own files or Hub data set.

Every loader returns a `datasets.DatasetDict` with `train`/`validation`/`test` splits, a string
column `text` and a `ClassLabel` column `intent`, whatever the source's own column names are.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import DatasetDict

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
TEXT = "text"
LABEL = "intent"
CLINC_HUB_NAME = "clinc_oos"
CLINC_CONFIG = "plus"
CLINC_OOS_LABEL = "oos"
FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "clinc150"
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
        files: split name -> CSV or JSON Lines file; needs all of train/validation/test.
        text_column: the source's text column.
        label_column: the source's label column (strings or ClassLabel ids).
        oos_label: the out-of-scope class name, or "" when the data set has none.
        per_class: split name -> keep at most this many rows of each class (a stratified,
            order-preserving slice); empty keeps everything.
    """

    hub_name: str = CLINC_HUB_NAME
    hub_config: str = CLINC_CONFIG
    files: dict[str, str] = field(default_factory=dict)
    text_column: str = TEXT
    label_column: str = LABEL
    oos_label: str = CLINC_OOS_LABEL
    per_class: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.files and set(self.files) != set(SPLITS):
            raise DataError(
                f"data files must name exactly the splits {list(SPLITS)}; got {sorted(self.files)}"
            )
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
        }


def load_data(config: DataConfig = DataConfig()) -> DatasetDict:
    """Load the splits that `config` names, sliced by `config.per_class`."""
    if config.files:
        data = load_files(config.files, config.text_column, config.label_column)
    elif config.hub_name == CLINC_HUB_NAME and config.hub_config == CLINC_CONFIG:
        data = load_clinc150()
    else:
        data = load_hub(config.hub_name, config.hub_config, config.text_column, config.label_column)
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
    """A Hub data set, renamed to the suite's schema."""
    from datasets import ClassLabel, load_dataset

    data = load_dataset(name, config_name or None)
    missing = [s for s in SPLITS if s not in data]
    if missing:
        raise DataError(f"Hub data set {name!r} has no split(s) {missing}; it has {list(data)}")
    data = data.select_columns([text_column, label_column])
    if text_column != TEXT:
        data = data.rename_column(text_column, TEXT)
    if label_column != LABEL:
        data = data.rename_column(label_column, LABEL)
    if not isinstance(data["train"].features[LABEL], ClassLabel):
        data = data.class_encode_column(LABEL)
    return data


def load_files(files: dict[str, str], text_column: str, label_column: str) -> DatasetDict:
    """CSV or JSON Lines files, one per split; classes are those of the training file, sorted."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    rows = {split: read_rows(Path(files[split]), text_column, label_column) for split in SPLITS}
    names = sorted({label for _, label, _ in rows["train"]})
    index = {name: i for i, name in enumerate(names)}
    features = Features({TEXT: Value("string"), LABEL: ClassLabel(names=names)})
    splits = {}
    for split in SPLITS:
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
