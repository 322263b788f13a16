"""The out-of-scope decision as a step: a threshold on the top softmax probability, chosen on validation.

The CLINC150 paper's rule: answer the out-of-scope class when the classifier's top probability
is below a threshold. The step runs the source artifact on the validation split one query at a
time (the path a server runs and the suite times), and picks the temperature and the threshold
that maximise validation accuracy (ties: the median of the best thresholds, then the lowest
temperature). The new artifact is the source's files plus `decision.json`. It applies to every
variant, the baseline included, so ratios stay fair.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from compressors.artifacts import MANIFEST, Artifact, Built
from compressors.data import LABEL, TEXT
from compressors.formats.decision import OosDecision, top_probability
from compressors.formats.dense import TORCH_KINDS
from compressors.formats.int8 import INT8_KIND
from compressors.formats.onnx import ONNX_KIND
from compressors.formats.predictors import load_predictor
from compressors.steps.base import BuildContext, register_step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OosThreshold:
    """Choose the out-of-scope threshold (and softmax temperature) on the validation split."""

    temperatures: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)

    STEP: ClassVar[str] = "oos-threshold"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not self.temperatures or any(not t > 0 for t in self.temperatures):
            raise ValueError(f"OosThreshold.temperatures must be positive numbers, got {self.temperatures}")


def best_decision(logits: np.ndarray, labels: np.ndarray, oos_id: int, temperatures: tuple[float, ...]) -> tuple[OosDecision, float]:
    """The decision that maximises accuracy on (logits, labels), and that accuracy.

    Every distinct top probability is a candidate threshold (plus 0: never reject); among the
    thresholds tied for the best accuracy at a temperature the median is taken, and among
    temperatures the lowest of those tied.
    """
    labels = np.asarray(labels)
    argmax = logits.argmax(-1)
    best_accuracy, best = -1.0, OosDecision(oos_id, 1.0, 0.0)
    for temperature in sorted(temperatures):
        top = top_probability(logits, temperature)
        order = np.argsort(top, kind="stable")
        # Rejecting the k least confident queries: correct = (correct non-rejected) + (rejected that are oos).
        correct_kept = (argmax == labels)[order]
        oos = (labels == oos_id)[order]
        gains = np.concatenate([[0], np.cumsum(oos.astype(int) - correct_kept.astype(int))])
        accuracy = (int((argmax == labels).sum()) + gains) / len(labels)
        # A threshold rejects all queries of a tied probability or none: cut only after a tie group.
        ranked = top[order]
        cuts = np.flatnonzero(np.concatenate([[True], ranked[1:] > ranked[:-1], [True]]))
        candidates = np.concatenate([[0.0], np.nextafter(ranked, np.inf)])[cuts]
        accuracy = accuracy[cuts]
        tied = np.flatnonzero(accuracy == accuracy.max())
        threshold = float(candidates[tied[len(tied) // 2]])
        if accuracy.max() > best_accuracy + 1e-12:
            best_accuracy, best = float(accuracy.max()), OosDecision(oos_id, float(temperature), threshold)
    return best, best_accuracy


@register_step(OosThreshold, produces=None, accepts=(*TORCH_KINDS, INT8_KIND, ONNX_KIND))
def choose_threshold(source: Artifact, config: OosThreshold, context: BuildContext, out_dir: Path) -> Built:
    """The source's files plus the decision chosen on validation; the artifact keeps its kind."""
    names = context.label_names
    if not context.oos_label or context.oos_label not in names:
        raise ValueError("oos-threshold needs a data set with an out-of-scope class (DataConfig.oos_label)")
    oos_id = names.index(context.oos_label)
    predictor = load_predictor(source, threads=1)
    validation = context.data["validation"]
    logits = np.concatenate([predictor.logits([text]) for text in validation[TEXT]])
    labels = np.asarray(validation[LABEL])
    decision, accuracy = best_decision(logits, labels, oos_id, config.temperatures)
    for file in source.path.iterdir():
        if file.name != MANIFEST:
            (shutil.copytree if file.is_dir() else shutil.copy2)(file, out_dir / file.name)
    decision.save(out_dir)
    before = float((logits.argmax(-1) == labels).mean())
    logger.info("oos-threshold: T=%g, threshold %.4f: validation accuracy %.4f (argmax %.4f)",
                decision.temperature, decision.threshold, accuracy, before)
    return Built(source.kind, {"threshold": decision.threshold, "temperature": decision.temperature,
                               "validation_accuracy": accuracy, "validation_accuracy_argmax": before})
