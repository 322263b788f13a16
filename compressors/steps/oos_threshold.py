"""The out-of-scope decision as a step: a threshold on the top softmax probability, chosen on validation.

The CLINC150 paper's rule: answer the out-of-scope class when the classifier's top probability
is below a threshold. The step runs the source artifact on the validation split one query at a
time (the path a server runs and the suite times), and picks the temperature and the threshold
that maximise the objective on validation (ties: the median of the best thresholds, then the lowest
temperature): accuracy, or with `objective="balanced"` the mean of in-scope accuracy and
out-of-scope recall (the dataset paper's two metrics, whatever share of out-of-scope queries the
validation split happens to hold). The new artifact is the source's files plus `decision.json`. It applies to every
variant, the baseline included, so ratios stay fair.

One decision rule per model family: a variant that is the same model in another format or
precision (int8, ONNX, a trimmed vocabulary) is given its fp32 source's decision (`inherited`) and
keeps it unless its own choice scores higher on validation by a margin the split resolves:
McNemar's exact test on the two decisions' validation answers, p < 0.05. The answers of a
hundred out-of-scope validation queries otherwise move a format's out-of-scope recall more than
the format itself does.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
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
from compressors.stats import mcnemar_exact
from compressors.steps.base import OMIT_WHEN_DEFAULT, BuildContext, register_step

logger = logging.getLogger(__name__)


# A format's own decision replaces its family's only when McNemar's exact p on validation is below this.
RESOLVABLE_P = 0.05


@dataclass(frozen=True)
class InheritedDecision:
    """The decision of the fp32 model a format variant is the same model as (`source` names that variant)."""

    source: str
    temperature: float
    threshold: float


@dataclass(frozen=True)
class OosThreshold:
    """Choose the out-of-scope threshold (and softmax temperature) on the validation split.

    Attributes:
        inherited: the fp32 source's decision, kept unless this model's own choice is better on
            validation beyond chance (`RESOLVABLE_P`); None chooses freely.
    """

    temperatures: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
    objective: str = field(default="accuracy", metadata=OMIT_WHEN_DEFAULT)
    inherited: InheritedDecision | None = field(default=None, metadata=OMIT_WHEN_DEFAULT)

    STEP: ClassVar[str] = "oos-threshold"
    VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not self.temperatures or any(not t > 0 for t in self.temperatures):
            raise ValueError(f"OosThreshold.temperatures must be positive numbers, got {self.temperatures}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"OosThreshold.objective must be one of {OBJECTIVES}, got {self.objective!r}")


OBJECTIVES = ("accuracy", "balanced")


def row_weights(labels: np.ndarray, oos_id: int, objective: str) -> tuple[np.ndarray, int]:
    """Integer weights per row and their normaliser: the objective is sum(weight * correct) / normaliser.

    Accuracy weighs every row 1. Balanced weighs an in-scope row by the number of out-of-scope
    rows and the reverse, so both classes of query count half (exact integer sums, no rounding).
    """
    oos = labels == oos_id
    if objective == "accuracy" or oos.all() or not oos.any():
        return np.ones(len(labels), dtype=np.int64), len(labels)
    in_scope, out_of_scope = int((~oos).sum()), int(oos.sum())
    return np.where(oos, in_scope, out_of_scope).astype(np.int64), 2 * in_scope * out_of_scope


def best_decision(logits: np.ndarray, labels: np.ndarray, oos_id: int, temperatures: tuple[float, ...],
                  objective: str = "accuracy") -> tuple[OosDecision, float]:
    """The decision that maximises the objective on (logits, labels), and its value.

    Every distinct top probability is a candidate threshold (plus 0: never reject); among the
    thresholds tied for the best score at a temperature the median is taken, and among
    temperatures the lowest of those tied.
    """
    labels = np.asarray(labels)
    argmax = logits.argmax(-1)
    weights, normaliser = row_weights(labels, oos_id, objective)
    best_score, best = -1.0, OosDecision(oos_id, 1.0, 0.0)
    for temperature in sorted(temperatures):
        top = top_probability(logits, temperature)
        order = np.argsort(top, kind="stable")
        # Rejecting the k least confident queries: correct = (correct non-rejected) + (rejected that are oos),
        # each row counted with its weight.
        correct_kept = (argmax == labels)[order]
        oos = (labels == oos_id)[order]
        gains = np.concatenate([[0], np.cumsum(weights[order] * (oos.astype(int) - correct_kept.astype(int)))])
        score = (int(weights[argmax == labels].sum()) + gains) / normaliser
        # A threshold rejects all queries of a tied probability or none: cut only after a tie group.
        ranked = top[order]
        cuts = np.flatnonzero(np.concatenate([[True], ranked[1:] > ranked[:-1], [True]]))
        candidates = np.concatenate([[0.0], np.nextafter(ranked, np.inf)])[cuts]
        score = score[cuts]
        tied = np.flatnonzero(score == score.max())
        threshold = float(candidates[tied[len(tied) // 2]])
        if score.max() > best_score + 1e-12:
            best_score, best = float(score.max()), OosDecision(oos_id, float(temperature), threshold)
    return best, best_score


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
    decision, value = best_decision(logits, labels, oos_id, config.temperatures, config.objective)
    family: dict = {}
    if config.inherited is not None:
        decision, value, family = family_decision(logits, labels, decision, config.inherited, config.objective)
    accuracy = value if config.objective == "accuracy" else float((decision.apply(logits) == labels).mean())
    for file in source.path.iterdir():
        if file.name != MANIFEST:
            (shutil.copytree if file.is_dir() else shutil.copy2)(file, out_dir / file.name)
    decision.save(out_dir)
    before = float((logits.argmax(-1) == labels).mean())
    logger.info("oos-threshold: T=%g, threshold %.4f: validation accuracy %.4f (argmax %.4f)",
                decision.temperature, decision.threshold, accuracy, before)
    meta = {"threshold": decision.threshold, "temperature": decision.temperature,
            "validation_accuracy": accuracy, "validation_accuracy_argmax": before}
    if config.objective != "accuracy":
        meta |= {"objective": config.objective, "validation_objective": value}
    return Built(source.kind, meta | family)


def objective_value(predictions: np.ndarray, labels: np.ndarray, oos_id: int, objective: str) -> float:
    """The objective `best_decision` maximises, for given answers."""
    weights, normaliser = row_weights(labels, oos_id, objective)
    return float(weights[predictions == labels].sum() / normaliser)


def family_decision(logits: np.ndarray, labels: np.ndarray, own: OosDecision, inherited: InheritedDecision,
                    objective: str) -> tuple[OosDecision, float, dict]:
    """The inherited decision unless `own` scores higher on validation and McNemar's exact p < `RESOLVABLE_P`.

    Returns the decision kept, its objective value, and what the run records of the choice.
    """
    family = OosDecision(own.oos_id, inherited.temperature, inherited.threshold)
    answers = {name: decision.apply(logits) for name, decision in (("own", own), ("inherited", family))}
    values = {name: objective_value(answer, labels, own.oos_id, objective) for name, answer in answers.items()}
    right_own, right_family = answers["own"] == labels, answers["inherited"] == labels
    p_value = mcnemar_exact(int((right_own & ~right_family).sum()), int((right_family & ~right_own).sum()))
    keep_own = values["own"] > values["inherited"] + 1e-12 and p_value < RESOLVABLE_P
    chosen = "own" if keep_own else "inherited"
    record = {"decision_rule": "own" if keep_own else f"inherited from {inherited.source}",
              "validation_objective_own": values["own"], "validation_objective_inherited": values["inherited"],
              "decision_rule_p": p_value}
    logger.info("oos-threshold: %s decision (validation %s %.4f own vs %.4f inherited from %s, McNemar p=%.2g)", chosen,
                objective, values["own"], values["inherited"], inherited.source, p_value)
    return (own if keep_own else family), values[chosen], record
