"""The chain a search chose, recorded per profile: what the registry's `searched` variant builds.

`chosen.json` (in this package, committed like the budgets) holds, per profile name, the chosen
candidate, the model it was searched for (`model_identity`: the data and the baseline's recipe
inputs) and the validation figures behind the choice. A profile without a record, or whose data
or model differ from the record's (a suite config on other data), builds `FALLBACK`: the
frontier chain, until `compressors search --register` records a chain for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.artifacts import cache_key, write_atomic
from compressors.chains.space import Candidate
from compressors.measure.figures import BASELINE
from compressors.steps.base import describe

if TYPE_CHECKING:
    from compressors.profiles import Profile

CHOSEN = Path(__file__).with_name("chosen.json")
FALLBACK = Candidate(source="distilled", trim=True)


@dataclass(frozen=True)
class Choice:
    """A recorded choice: the candidate, the model it was searched for, and the figures behind it."""

    candidate: Candidate
    model: str
    figures: dict[str, Any] = field(default_factory=dict)

    def describe_choice(self) -> str:
        """One line for reports: the chain and the validation figures that chose it."""
        f = self.figures
        parts = [f"validation {f['validation_accuracy']:.4f} (baseline {f['baseline_accuracy']:.4f})"] if "validation_accuracy" in f else []
        if "speedup" in f:
            parts.append(f"{f['speedup']:.2f}x {f.get('speed', '')} speed-up".replace("  ", " "))
        if "size_ratio" in f:
            parts.append(f"{f['size_ratio']:.3f}x size")
        return f"the chain `compressors search` chose: {self.candidate.name}" + (f" ({', '.join(parts)})" if parts else "")


def model_identity(profile: Profile) -> str:
    """What a recorded chain was searched for: the data and the inputs of the baseline's recipe."""
    return cache_key({"data": describe(profile.data), "checkpoint": profile.checkpoint, "baseline_model": profile.baseline_model,
                      "teacher_layers": list(profile.teacher_layers), "teacher_train": describe(profile.teacher_train)})


def read_choices(path: Path = CHOSEN) -> dict[str, Choice]:
    """Every recorded choice, by profile name (none when the file does not exist)."""
    if not Path(path).is_file():
        return {}
    try:
        raw = json.loads(Path(path).read_text())
        return {name: Choice(Candidate.from_json(entry["candidate"]), entry["model"], entry.get("figures", {}))
                for name, entry in raw.items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: unreadable chosen chain ({error}); fix it or record again with compressors search --register") from None


def searched_chain(profile: Profile, path: Path = CHOSEN) -> tuple[Candidate, str]:
    """The candidate the profile's `searched` variant builds, and its description."""
    choice = read_choices(path).get(profile.name)
    if choice is not None and choice.model == model_identity(profile):
        return choice.candidate, choice.describe_choice()
    return FALLBACK, (f"no chain searched for this profile's data and model yet: {FALLBACK.name}, the frontier chain "
                      "(compressors search --register records one)")


def fp32_source(candidate: Candidate) -> str:
    """The variant a searched chain's accuracy is compared with as its source: its model, or the baseline for a new one."""
    return BASELINE if candidate.trains else candidate.source


def record_choice(profile: Profile, candidate: Candidate, figures: dict[str, Any], path: Path = CHOSEN) -> Path:
    """Record `candidate` as the profile's searched chain (atomically); returns the file written."""
    if not candidate.chain(profile)[1]:
        raise ValueError(f"the chosen chain is the registered variant {candidate.source!r} itself: nothing to register")
    choices = {name: {"candidate": c.candidate.to_json(), "model": c.model, "figures": c.figures} for name, c in read_choices(path).items()}
    choices[profile.name] = {"candidate": candidate.to_json(), "model": model_identity(profile), "figures": figures}
    write_atomic(Path(path), (json.dumps(choices, indent=1, sort_keys=True) + "\n").encode())
    return Path(path)
