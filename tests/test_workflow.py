"""The CI workflow fails when the gate fails (no `run:` step pipes a command's status away), and its
branch steps (`.ci/history-restore`, `.ci/history-save`, `.ci/base-budgets`) keep the history in a
git branch: run here against a local bare repository."""

from __future__ import annotations

import re
import subprocess
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


# The workflow's branch steps run these scripts; here they run against a local bare repository.
CI = Path(__file__).resolve().parent.parent / ".ci"
BRANCH = "benchmark-history"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def script(name: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CI / name), *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture()
def remote(tmp_path, monkeypatch) -> Path:
    """A bare 'origin' whose main holds a budgets file, with git isolated from this machine's configuration."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in (("NAME", "test"), ("EMAIL", "test@example.com")):
        monkeypatch.setenv(f"GIT_AUTHOR_{key}", value)
        monkeypatch.setenv(f"GIT_COMMITTER_{key}", value)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(origin), str(seed))
    (seed / "compressors").mkdir()
    (seed / "compressors" / "budgets.toml").write_text("[gate]\nmax_accuracy_drop = 0.01\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "main")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return origin


def checkout(remote: Path, name: str) -> Path:
    """A fresh clone of main, as actions/checkout gives each workflow run."""
    path = remote.parent / name
    git(remote.parent, "clone", "--quiet", "--depth=1", "--branch=main", f"file://{remote}", str(path))
    return path


def saved_run(history: Path, name: str) -> None:
    (history / "Linux-CPython-3.11-64bit").mkdir(parents=True, exist_ok=True)
    (history / "Linux-CPython-3.11-64bit" / name).write_text('{"benchmarks": []}\n')


def test_a_missing_history_warns_and_the_first_passing_run_starts_the_branch(remote) -> None:
    first = checkout(remote, "run1")
    restored = script("history-restore", first, ".benchmarks")
    assert restored.returncode == 0, restored.stderr
    assert f"::warning title=No benchmark history::branch {BRANCH} not found on origin" in restored.stdout
    history = first / ".benchmarks"
    assert [p.name for p in history.iterdir()] == [".git"]  # empty: no file of main leaks into the history
    saved_run(history, "0001_a.json")
    pushed = script("history-save", first, ".benchmarks", "Passing run of a")
    assert pushed.returncode == 0, pushed.stderr
    assert git(remote, "log", "--format=%s", BRANCH) == "Passing run of a"
    assert git(remote, "ls-tree", "-r", "--name-only", BRANCH) == "Linux-CPython-3.11-64bit/0001_a.json"

    # The next run restores it, adds its own run on top, and pushes a fast-forward.
    second = checkout(remote, "run2")
    restored = script("history-restore", second, ".benchmarks")
    assert restored.returncode == 0 and "::warning" not in restored.stdout, restored.stdout + restored.stderr
    assert f"history: origin/{BRANCH} at " in restored.stdout and ", 1 JSON file(s)" in restored.stdout
    assert (second / ".benchmarks" / "Linux-CPython-3.11-64bit" / "0001_a.json").is_file()
    saved_run(second / ".benchmarks", "0002_b.json")
    assert script("history-save", second, ".benchmarks", "Passing run of b").returncode == 0
    assert git(remote, "log", "--format=%s", BRANCH).splitlines() == ["Passing run of b", "Passing run of a"]
    assert git(remote, "ls-tree", "-r", "--name-only", BRANCH).splitlines() == [
        "Linux-CPython-3.11-64bit/0001_a.json", "Linux-CPython-3.11-64bit/0002_b.json"
    ]
    assert git(remote, "log", "--format=%s", "main") == "main"  # main untouched


def test_nothing_new_to_save_is_no_commit_and_no_failure(remote) -> None:
    run = checkout(remote, "run")
    script("history-restore", run, ".benchmarks")
    saved_run(run / ".benchmarks", "0001_a.json")
    script("history-save", run, ".benchmarks", "first")
    again = script("history-save", run, ".benchmarks", "second")
    assert again.returncode == 0 and "nothing new to save" in again.stdout
    assert git(remote, "log", "--format=%s", BRANCH) == "first"


def test_a_push_that_would_overwrite_another_runs_history_fails_and_keeps_it(remote) -> None:
    first, second = checkout(remote, "run1"), checkout(remote, "run2")
    for run in (first, second):  # both restore the same history, as two runs started together would
        script("history-restore", run, ".benchmarks")
    saved_run(first / ".benchmarks", "0001_a.json")
    assert script("history-save", first, ".benchmarks", "from run 1").returncode == 0
    saved_run(second / ".benchmarks", "0001_b.json")
    raced = script("history-save", second, ".benchmarks", "from run 2")
    assert raced.returncode != 0 and "rejected" in raced.stderr
    assert git(remote, "log", "--format=%s", BRANCH) == "from run 1"


def test_an_unreachable_history_fails_instead_of_looking_empty(remote) -> None:
    run = checkout(remote, "run")
    git(run, "remote", "set-url", "origin", str(remote.parent / "gone.git"))
    restored = script("history-restore", run, ".benchmarks")
    assert restored.returncode != 0 and "::error title=Benchmark history unreachable::" in restored.stderr
    assert "::warning" not in restored.stdout and not (run / ".benchmarks").exists()


def test_a_pull_request_reads_the_base_branchs_budgets_not_its_own(remote) -> None:
    pull_request = checkout(remote, "pr")
    (pull_request / "compressors" / "budgets.toml").write_text("[gate]\nmax_accuracy_drop = 0.5\n")
    fetched = script("base-budgets", pull_request, "main", "reports/trusted-budgets.toml")
    assert fetched.returncode == 0, fetched.stderr
    assert (pull_request / "reports" / "trusted-budgets.toml").read_text() == "[gate]\nmax_accuracy_drop = 0.01\n"
    missing = script("base-budgets", pull_request, "no-such-branch", "reports/other.toml")
    assert missing.returncode != 0 and not (pull_request / "reports" / "other.toml").exists()


def test_the_workflow_runs_these_scripts_for_its_branch_steps() -> None:
    (path,) = [p for p in WORKFLOWS if p.name == "benchmarks.yml"]
    runs = [step.get("run", "") for step in yaml.safe_load(path.read_text())["jobs"]["benchmarks"]["steps"]]
    assert any(r.strip() == "bash .ci/history-restore .benchmarks" for r in runs), runs
    assert any(r.strip().startswith("bash .ci/history-save .benchmarks ") for r in runs), runs
    assert any("bash .ci/base-budgets" in r and "reports/trusted-budgets.toml" in r for r in runs), runs
    assert not any("git push" in r or "git worktree" in r for r in runs)  # no untested copy of the scripts' shell
