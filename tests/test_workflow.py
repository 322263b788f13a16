"""The CI workflow fails when the gate fails: no `run:` step pipes a command's status away."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parent.parent / ".github" / "workflows").glob("*.yml"))
# A pipe between commands, not `||`.
PIPE = re.compile(r"(?<![|])\|(?![|])")


def unsafe_pipes(workflow: dict) -> list[str]:
    """`run:` steps that pipe without pipefail (GitHub's default shell is `bash -e {0}`; `shell: bash` adds -o pipefail)."""
    default_shell = ((workflow.get("defaults") or {}).get("run") or {}).get("shell")
    found = []
    for job_name, job in (workflow.get("jobs") or {}).items():
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        for step in job.get("steps") or []:
            script = step.get("run")
            if not script or not any(PIPE.search(line) for line in script.splitlines()):
                continue
            shell = step.get("shell", job_shell)
            if shell != "bash" and "set -o pipefail" not in script and "set -euo pipefail" not in script:
                found.append(f"{job_name}: {step.get('name', script.splitlines()[0])}")
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_no_run_step_pipes_without_pipefail(path) -> None:
    assert unsafe_pipes(yaml.safe_load(path.read_text())) == []


def test_the_check_catches_a_swallowed_status() -> None:
    workflow = {"jobs": {"gate": {"steps": [{"name": "gate", "run": "compressors gate run.json | tee gate.txt"}]}}}
    assert unsafe_pipes(workflow) == ["gate: gate"]
    workflow["jobs"]["gate"]["steps"][0]["shell"] = "bash"
    assert unsafe_pipes(workflow) == []
    assert unsafe_pipes({"jobs": {"j": {"steps": [{"run": "a || b"}]}}}) == []
