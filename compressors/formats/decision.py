"""The out-of-scope decision an artifact may carry: predict the out-of-scope class when the top
softmax probability (at a temperature) falls below a threshold, as the CLINC150 paper does.

The decision lives in `decision.json` beside the model files; any predictor is wrapped to apply it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DECISION_FILE = "decision.json"


@dataclass(frozen=True)
class OosDecision:
    """Answer `oos_id` when max softmax(logits / temperature) < threshold."""

    oos_id: int
    temperature: float
    threshold: float

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Predicted ids of a (n, classes) logit array under the decision."""
        return np.where(top_probability(logits, self.temperature) < self.threshold, self.oos_id, logits.argmax(-1))

    def save(self, directory: Path) -> None:
        (Path(directory) / DECISION_FILE).write_text(json.dumps(asdict(self), sort_keys=True))


def top_probability(logits: np.ndarray, temperature: float) -> np.ndarray:
    """The largest softmax probability of each row of `logits / temperature` (computed stably)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(-1, keepdims=True)
    return 1.0 / np.exp(scaled).sum(-1)


def read_decision(directory: Path) -> OosDecision | None:
    """The decision an artifact directory carries, or None."""
    path = Path(directory) / DECISION_FILE
    if not path.is_file():
        return None
    try:
        return OosDecision(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{path}: not an out-of-scope decision ({error})") from None


class DecisionPredictor:
    """A predictor whose answers follow an out-of-scope decision."""

    def __init__(self, inner, decision: OosDecision) -> None:
        self.inner, self.decision = inner, decision

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The inner logits, with the out-of-scope column raised above the rest where the decision rejects."""
        logits = np.array(self.inner.logits(texts), dtype=np.float32, copy=True)
        rejected = self.decision.apply(logits) == self.decision.oos_id
        logits[rejected, self.decision.oos_id] = logits[rejected].max(-1) + 1.0
        return logits

    def __call__(self, text: str) -> int:
        return int(self.decision.apply(self.inner.logits([text]))[0])
