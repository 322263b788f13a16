"""The benchmarks workflow keeps the gate honest: tests before the suite, exact artifact keys, a durable history."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "benchmarks.yml"


def steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["benchmarks"]["steps"]


def index(predicate) -> int:
    return next(i for i, step in enumerate(steps()) if predicate(step))


def test_the_step_source_and_layer_checks_run_before_the_suite() -> None:
    tests = index(lambda s: "tests/steps/test_step_versions.py" in s.get("run", "") and "tests/test_layers.py" in s.get("run", ""))
    suite = index(lambda s: "pytest benchmarks" in s.get("run", ""))
    assert tests < suite


def test_the_artifact_cache_is_restored_by_exact_key_only() -> None:
    (cache,) = [s for s in steps() if str(s.get("uses", "")).startswith("actions/cache") and ".cache/compressors" in s["with"]["path"]]
    assert "restore-keys" not in cache["with"] and "locks/**" in cache["with"]["key"]


def test_the_history_is_not_kept_only_in_the_evictable_cache() -> None:
    assert not [s for s in steps() if str(s.get("uses", "")).startswith("actions/cache") and ".benchmarks" in str(s.get("with", {}))]
    text = WORKFLOW.read_text()
    assert "bash .ci/history-restore .benchmarks" in text and "bash .ci/history-save .benchmarks" in text
    ci = WORKFLOW.parents[2] / ".ci"
    assert 'git push --quiet "$remote" "HEAD:refs/heads/$branch"' in (ci / "history-save").read_text()
    assert "::warning title=No benchmark history::" in (ci / "history-restore").read_text()


def test_pull_requests_are_judged_by_the_base_branchs_limits() -> None:
    gate = steps()[index(lambda s: "compressors gate" in s.get("run", ""))]["run"]
    assert "--trusted-budgets reports/trusted-budgets.toml" in gate and "--accept-limits" in gate
    assert 'bash .ci/base-budgets "${{ github.base_ref }}" reports/trusted-budgets.toml' in WORKFLOW.read_text()
    assert "git show FETCH_HEAD:compressors/budgets.toml" in (WORKFLOW.parents[2] / ".ci" / "base-budgets").read_text()
