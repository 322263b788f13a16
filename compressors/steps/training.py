"""A seeded fine-tuning loop for sequence classifiers, with one hook for the loss.

Distillation and pruning plug in through `loss_fn` and `on_step`; the loop itself is shared.
It trains on the CPU or a CUDA device; the model comes back on the CPU, in eval mode, with the
caller's thread count restored.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from compressors.progress import Progress
from compressors.steps.base import OMIT_WHEN_DEFAULT

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

# loss_fn(outputs, labels, row_indices, batch) -> scalar loss: `outputs` is the model's output
# (logits, and hidden states or attentions when asked for), row_indices index the training set
# and `batch` holds the input_ids and attention_mask the model was given.
LossFn = Callable[[Any, "torch.Tensor", "torch.Tensor", dict], "torch.Tensor"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run."""

    epochs: int = 4
    learning_rate: float = 1e-4
    batch_size: int = 32
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_length: int = 64
    seed: int = 42
    threads: int = 0  # 0: all cores
    # AdamW's fused CPU/CUDA kernel: the same update in one pass over the parameters (a third
    # less time a step for a small BERT on 2 cores); off keeps earlier artifacts' keys and bits.
    fused_optimizer: bool = field(default=False, metadata=OMIT_WHEN_DEFAULT)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")

    def describe(self) -> dict:
        return asdict(self)


def with_seed(steps: Sequence[Any], seed: int) -> tuple:
    """The same steps with every training run seeded with `seed`; an error when none trains."""
    trains = [isinstance(getattr(step, "train", None), TrainConfig) for step in steps]
    if not any(trains):
        names = [type(step).__name__ for step in steps]
        raise ValueError(f"cannot re-seed the chain {names}: none of its steps trains (e.g. a classifier used as it is); "
                         "an ensemble teacher needs a teacher the suite fine-tunes")
    return tuple(replace(step, train=replace(step.train, seed=seed)) if train else step for step, train in zip(steps, trains))


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_threads(threads: int) -> None:
    """Set torch's intra-op threads; 0 means every core."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def collate(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad token id lists to the longest row; returns input_ids and attention_mask."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def train_classifier(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: Sequence[int],
    config: TrainConfig,
    loss_fn: LossFn | None = None,
    on_step: Callable[[int, int], dict | None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    description: str = "fine-tune",
    forward_options: dict[str, bool] | None = None,
    device: str = "cpu",
    group_learning_rates: dict[str, float] | None = None,
) -> PreTrainedModel:
    """Train `model` in place with AdamW and a linear warm-up/decay schedule.

    Args:
        device: "cpu" or "cuda"; the model is moved there for training and back to the CPU.
        group_learning_rates: parameters whose name contains a key train at that learning rate,
            without weight decay (e.g. {"scores": 1e-2} for movement-pruning scores).
        loss_fn: the loss of a batch; cross-entropy when None.
        forward_options: extra keyword arguments of the model's forward pass, e.g.
            `{"output_hidden_states": True}` for a loss on hidden states.
        on_step: called after each optimizer step with (step, total_steps); may return a dict
            shown in the progress bar (e.g. the current sparsity).
        on_epoch_end: called with the epoch number (1-based) after each epoch; may raise to stop.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    if len(texts) != len(labels) or not texts:
        raise ValueError(f"need as many labels as texts (and at least one): {len(texts)} texts, {len(labels)} labels")
    seed_everything(config.seed)
    # Restored afterwards: predictors loaded earlier in the same process are measured with the
    # suite's thread count, not the training one.
    threads_before = torch.get_num_threads()
    use_threads(config.threads)
    model.to(device)
    encoded = encode(tokenizer, texts, config.max_length)
    targets = torch.tensor(list(labels), dtype=torch.long)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total = steps_per_epoch * config.epochs
    decay, no_decay = [], []
    special: dict[str, list] = {key: [] for key in group_learning_rates or {}}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = next((k for k in special if k in name), None)
        if key is not None:
            special[key].append(param)
        else:
            (no_decay if param.ndim < 2 or "LayerNorm" in name or "scores" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups += [{"params": params, "weight_decay": 0.0, "lr": group_learning_rates[key]} for key, params in special.items() if params]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, fused=config.fused_optimizer or None)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    generator = torch.Generator().manual_seed(config.seed)
    pad_id = tokenizer.pad_token_id or 0
    step = 0
    progress = Progress(description, total)
    try:
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = torch.randperm(len(encoded), generator=generator)
            for start in range(0, len(order), config.batch_size):
                rows = order[start : start + config.batch_size]
                batch = {k: v.to(device) for k, v in collate([encoded[i] for i in rows.tolist()], pad_id).items()}
                outputs = model(**batch, **(forward_options or {}))
                y = targets[rows].to(device)
                loss = loss_fn(outputs, y, rows, batch) if loss_fn else torch.nn.functional.cross_entropy(outputs.logits, y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                shown = on_step(step, total) if on_step else None
                progress.advance(epoch=f"{epoch}/{config.epochs}", loss=f"{loss.item():.3f}", **(shown or {}))
            model.eval()
            if on_epoch_end:
                on_epoch_end(epoch)
    finally:
        model.to("cpu")
        model.eval()
        torch.set_num_threads(threads_before)
    return model


def predict_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 128,
    max_length: int = 64,
) -> np.ndarray:
    """Logits of a torch classifier for many texts, batched by length for speed (on the model's device)."""
    import torch

    encoded = encode(tokenizer, texts, max_length)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate([encoded[i] for i in rows], tokenizer.pad_token_id or 0).items()}
            out[rows] = model(**batch).logits.float().cpu().numpy()
    return out


def accuracy_of(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts, labels, max_length: int = 64) -> float:
    """Accuracy of a torch classifier on labelled texts."""
    logits = predict_logits(model, tokenizer, texts, max_length=max_length)
    return float((logits.argmax(-1) == np.asarray(labels)).mean())
