"""Wiring of the suite into pytest and pytest-benchmark: the session's Suite, machine info, summary table."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from compressors.artifacts import default_cache_dir
from compressors.budgets import Budget, BudgetBroken, load_budgets
from compressors.machine import machine_facts
from compressors.profiles import PROFILES, apply_user_config, get_profile
from compressors.suite import Suite, format_table
from compressors.variants import VARIANT_NAMES, registry

DEFAULT_BUDGETS = Path(__file__).resolve().parent / "budgets.toml"
_SUITE = pytest.StashKey["Suite"]()


def _profile(config: pytest.Config):
    try:
        profile = get_profile(config.getoption("--profile"))
        if config.getoption("--suite-config"):
            profile = apply_user_config(profile, Path(config.getoption("--suite-config")))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    threads = config.getoption("--threads")
    if threads is not None:
        if threads < 1:
            raise pytest.UsageError(f"--threads must be >= 1, got {threads}")
        profile = replace(profile, harness=replace(profile.harness, threads=threads))
    return profile


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per registered variant, id = its name; a known shortfall is a strict xfail."""
    if "variant" not in metafunc.fixturenames:
        return
    profile = _profile(metafunc.config)
    params = []
    for variant in registry(profile).values():
        marks = []
        if variant.known_shortfall and profile.name == "full":
            marks.append(pytest.mark.xfail(strict=True, raises=BudgetBroken, reason=variant.known_shortfall))
        params.append(pytest.param(variant.name, marks=marks, id=variant.name))
    metafunc.parametrize("variant", params)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "variant(name): a benchmark of one registered variant")
    logging.getLogger("compressors").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> Suite:
    """The session's suite: data loaded, artifacts built on demand, measurements remembered."""
    cache_dir = Path(pytestconfig.getoption("--cache-dir") or default_cache_dir())
    instance = Suite(_profile(pytestconfig), cache_dir, rebuild=pytestconfig.getoption("--rebuild"))
    pytestconfig.stash[_SUITE] = instance
    return instance


@pytest.fixture(scope="session")
def budgets(pytestconfig: pytest.Config) -> dict[str, Budget]:
    """This profile's budgets, validated before any variant runs."""
    path = Path(pytestconfig.getoption("--budgets") or DEFAULT_BUDGETS)
    profile = pytestconfig.getoption("--profile")
    try:
        return load_budgets(path, VARIANT_NAMES, PROFILES).get(profile, {})
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info.update(machine_facts(_profile(config).harness.threads))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    suite = config.stash.get(_SUITE, None)
    if suite is None or not suite.figures:
        return
    terminalreporter.write_sep("=", f"variants ({suite.profile.name} profile, {suite.harness.threads} thread(s))")
    terminalreporter.write_line(format_table(list(suite.figures.values())))
