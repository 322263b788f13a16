"""The trials of a chain search, kept in one JSON file so that a stopped search resumes.

One file per study (`study_path`: the profile, data, baseline and speed signal make the study's
key), written atomically after every stage of every trial. A later search with another floor or
objective reuses the same trials: those only decide the choice, not the figures.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from compressors.artifacts import cache_key, write_atomic
from compressors.chains.space import Candidate

# Stages of a trial: accuracy and size measured, a short timing, the full-length timing.
ASSESSED, TIMED, REFINED = 1, 2, 3


@dataclass(frozen=True)
class Trial:
    """What a search knows of one candidate.

    Attributes:
        stage: 0 (nothing yet), ASSESSED, TIMED or REFINED.
        validation_accuracy: served (through the out-of-scope decision) on the validation split.
        size_ratio: deployed bytes over the baseline's.
        speedup, speedup_low, speedup_high: against the baseline, with its interval (equal for cost).
        seconds: time spent on the candidate, all stages and sessions.
        error: why the chain could not be built or run (such a trial is never retried).
    """

    candidate: Candidate
    stage: int = 0
    validation_accuracy: float = math.nan
    size_ratio: float = math.nan
    speedup: float = math.nan
    speedup_low: float = math.nan
    speedup_high: float = math.nan
    artifact_key: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def name(self) -> str:
        return self.candidate.name

    def to_json(self) -> dict[str, Any]:
        """Its fields as JSON values."""
        return {**asdict(self), "candidate": self.candidate.to_json()}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Trial:
        """The trial `to_json` wrote."""
        return cls(**{**values, "candidate": Candidate.from_json(values["candidate"])})


def study_key(study: dict[str, Any]) -> str:
    """The key of a study's identity (what makes its figures comparable)."""
    return cache_key(study)[:16]


def study_path(directory: Path, study: dict[str, Any]) -> Path:
    """Where a study's trials live under `directory` (the artifact cache's `chains/`)."""
    return Path(directory) / f"search-{study_key(study)}.json"


class TrialStore:
    """The trials of one study, read from `path` if it exists, written back on every `put`."""

    def __init__(self, path: Path, study: dict[str, Any]) -> None:
        self.path, self.study = Path(path), study
        self.trials: dict[str, Trial] = {}
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
                trials = {name: Trial.from_json(t) for name, t in raw["trials"].items()}
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{self.path}: unreadable search trials ({error}); delete it to start the search afresh") from None
            if raw.get("study") != study:
                raise ValueError(f"{self.path} holds another study's trials; delete it to start the search afresh")
            self.trials = trials

    def get(self, candidate: Candidate) -> Trial:
        """The candidate's trial so far (stage 0 when new)."""
        return self.trials.get(candidate.name, Trial(candidate))

    def put(self, trial: Trial) -> Trial:
        """Keep `trial` and write every trial to the file."""
        self.trials[trial.name] = trial
        self.path.parent.mkdir(parents=True, exist_ok=True)
        content = {"study": self.study, "trials": {name: t.to_json() for name, t in self.trials.items()}}
        write_atomic(self.path, (json.dumps(content, indent=1, sort_keys=True) + "\n").encode())
        return trial

    def add_seconds(self, trial: Trial, seconds: float, **changes: Any) -> Trial:
        """`trial` with `changes` and `seconds` more spent, kept."""
        return self.put(replace(trial, seconds=trial.seconds + seconds, **changes))
