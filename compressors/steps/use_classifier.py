"""Use a classifier the user already fine-tuned as the baseline, without training it.

Its labels must be the data's classes. When they are the same names in another order, the
classification head's rows are permuted into the data's order (the model's answers mean the
same); when the names differ, the error lists what is missing and what is extra.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from compressors.artifacts import Artifact, Built
from compressors.formats.checkpoints import load_pretrained_classifier, load_tokenizer, resolve_checkpoint
from compressors.formats.dense import TORCH_KIND, save_classifier
from compressors.steps.base import BuildContext, register_step

logger = logging.getLogger(__name__)

_GENERIC = re.compile(r"^LABEL_\d+$")


@dataclass(frozen=True)
class UseClassifier:
    """A fine-tuned sequence classifier (a directory with safetensors weights, or a Hub name)."""

    model: str

    STEP: ClassVar[str] = "use-classifier"
    VERSION: ClassVar[str] = "1"


def model_fingerprint(name: str) -> dict:
    """What identifies the user's model: the hash of every file of a directory, or the Hub name."""
    path = Path(resolve_checkpoint(name))
    if not path.is_dir():
        return {"model": name}
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return {"model": name, "files": digest.hexdigest()[:20]}


def label_order(model_labels: list[str], data_labels: list[str], model: str) -> list[int] | None:
    """For each data class, the row of the model's head that scores it; None when the order is already the data's.

    Raises:
        ValueError: listing the classes the model lacks and the labels the data lacks.
    """
    if model_labels == data_labels:
        return None
    missing, extra = sorted(set(data_labels) - set(model_labels)), sorted(set(model_labels) - set(data_labels))
    if missing or extra or len(model_labels) != len(data_labels):
        hint = ""
        if model_labels and all(_GENERIC.match(label) for label in model_labels):
            hint = (" The model's labels are generic (LABEL_0, ...): save it with config.id2label naming the "
                    "classes, e.g. model.config.id2label = {0: 'book_flight', ...}, then model.save_pretrained(dir).")
        raise ValueError(
            f"baseline {model!r}: its labels are not the data's classes ({len(model_labels)} labels, "
            f"{len(data_labels)} classes); classes it lacks: {missing[:10]}{' ...' if len(missing) > 10 else ''}; "
            f"labels the data lacks: {extra[:10]}{' ...' if len(extra) > 10 else ''}.{hint}"
        )
    row = {label: i for i, label in enumerate(model_labels)}
    return [row[label] for label in data_labels]


def _head(model):
    classifier = getattr(model, "classifier", None)
    for candidate in (classifier, getattr(classifier, "out_proj", None)):
        if candidate is not None and hasattr(candidate, "weight") and candidate.weight.shape[0] == model.config.num_labels:
            return candidate
    raise ValueError(
        f"cannot reorder the head of {type(model).__name__} to the data's class order; save the model "
        "with its labels in the data's order (sorted class names for CSV/JSONL files)"
    )


@register_step(UseClassifier, produces=TORCH_KIND, needs_source=False, identity=lambda s, c, ctx: model_fingerprint(c.model))
def use_classifier(source: Artifact | None, config: UseClassifier, context: BuildContext, out_dir: Path) -> Built:
    """The user's classifier, checked against the data's classes (head reordered if needed), as a torch artifact."""
    import torch

    model = load_pretrained_classifier(config.model)
    tokenizer = load_tokenizer(config.model)
    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    order = label_order(model_labels, context.label_names, config.model)
    if order is not None:
        head = _head(model)
        index = torch.tensor(order)
        with torch.no_grad():
            head.weight.copy_(head.weight[index])
            if head.bias is not None:
                head.bias.copy_(head.bias[index])
        logger.info("use-classifier: reordered the head of %s to the data's class order", config.model)
    names = context.label_names
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    save_classifier(model, tokenizer, out_dir)
    return Built(TORCH_KIND, {"reordered_head": order is not None, "layers": model.config.num_hidden_layers})
