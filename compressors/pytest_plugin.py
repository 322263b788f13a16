"""The suite as a pytest plugin: options, one parametrized benchmark per variant, budgets, live progress.

Registered by the repository's root `conftest.py`, so `pytest benchmarks/` runs every variant of
the registry through `benchmarks/test_variants.py`. Bad options, a bad budgets file or a bad
suite config stop the run before anything is built, with one line naming the problem.
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING

import pytest

from compressors.artifacts import format_duration
from compressors.measure.budgets import LIMITS_BY_KEY, BudgetBroken, Check, Status
from compressors.measure.figures import CheckRecord, figures_table
from compressors.measure.cost import CostUnavailable, RunCosts, require_valgrind
from compressors.measure.injected import check_factor
from compressors.measure.machine import machine_facts
from compressors.suite.run import Suite
from compressors.suite.settings import SuiteSettings, add_suite_options, resolve_suite
from compressors.suite_config import timing_of
from compressors.variants import VARIANT_NAMES, check_variant_name

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

# Test-only, off by default: "distilled=1.5,student=2" makes those variants' predictors do 1.5x /
# 2x the inference work, to check that the regression gate catches a slower variant. A run
# measured with it records `meta_test_slowdown` in extra_info, and the gate never saves it.
INJECT_ENV = "COMPRESSORS_TEST_SLOWDOWN"

_SETTINGS = pytest.StashKey[SuiteSettings]()
_INJECTED = pytest.StashKey[dict]()
_SUITE = pytest.StashKey[Suite]()
_LOGGER = "compressors"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compressors", "compression benchmark suite")
    add_suite_options(group, judging=True)
    group.addoption("--rebuild", action="store_true", help="rebuild every artifact this run uses")
    group.addoption(
        "--cost", action="store_true",
        help="also count each variant's instructions per query under valgrind (cost_ratio: the CI's speed verdict, "
        "the same on any host); needs valgrind (apt-get install valgrind)",
    )
    group.addoption(
        "--inject-regression",
        default=os.environ.get(INJECT_ENV, ""),
        metavar="VARIANT=FACTOR[,...]",
        help="test-only: make those variants do FACTOR times the inference work (e.g. distilled=1.25), to check "
        f"that the gate catches it; such a run is never saved as a reference (default: ${INJECT_ENV})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "variant(name): a benchmark of one registered variant")
    logging.getLogger(_LOGGER).setLevel(logging.INFO)
    try:
        config.stash[_SETTINGS] = resolve_suite(config.option, rebuild=config.getoption("--rebuild"))
        config.stash[_INJECTED] = parse_injected(config.getoption("--inject-regression"))
        if config.getoption("--cost"):
            require_valgrind()
    except (ValueError, CostUnavailable) as error:
        raise pytest.UsageError(str(error)) from None


def parse_injected(value: str, names=VARIANT_NAMES) -> dict[str, float]:
    """Parse "variant=factor,..." (`--inject-regression`); empty means none."""
    factors = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, text = item.partition("=")
        try:
            factors[check_variant_name(name.strip(), names)] = check_factor(float(text))
        except ValueError as error:
            raise ValueError(f"--inject-regression / ${INJECT_ENV}: {item!r}: {error}; expected e.g. 'distilled=1.25'") from None
    return factors


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per registered variant, id = its name."""
    if "variant" not in metafunc.fixturenames:
        return
    from compressors.variants import registry

    settings = metafunc.config.stash[_SETTINGS]
    names = [name for name in registry(settings.profile) if settings.selects(name)]
    metafunc.parametrize("variant", names, ids=names)


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> Suite:
    """The session's suite: data loaded, artifacts built on demand, measurements remembered."""
    _show_progress(pytestconfig)
    try:
        settings = pytestconfig.stash[_SETTINGS]
        instance = Suite.open(settings, injected=pytestconfig.stash[_INJECTED])
        if pytestconfig.getoption("--cost"):
            harness = settings.profile.harness
            instance.costs = RunCosts(settings.cache_dir / "cost", instance.queries[: harness.cost_queries], harness.threads,
                                      harness.max_length, harness.ort_spinning, harness.cost_cache_sim)
            pytestconfig.add_cleanup(instance.costs.close)
    except ValueError as error:
        pytest.exit(f"compressors: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
    pytestconfig.stash[_SUITE] = instance
    return instance


@pytest.fixture(scope="session")
def budgets(pytestconfig: pytest.Config):
    """This profile's budgets, validated at start-up."""
    return pytestconfig.stash[_SETTINGS].budgets


def require_timing(benchmark: BenchmarkFixture) -> None:
    """Fail a variant's test at once when pytest-benchmark will not time it (it turns itself off
    under pytest-xdist and with --benchmark-disable), before anything is built."""
    if benchmark.disabled:
        pytest.fail(
            "pytest-benchmark is disabled in this run (pytest-xdist's -n or --benchmark-disable), so no "
            "latency can be measured: run the suite without them",
            pytrace=False,
        )


def enforce(checks: list[Check] | tuple[Check, ...]) -> None:
    """Turn a variant's judged budgets into its test's outcome.

    A broken budget, a shortfall worse than its margin, or a shortfall that now meets its target
    fails the test; known shortfalls within their margin make it an expected failure that names
    each one; an inconclusive wall-clock budget (a busy machine) neither fails nor passes it, and
    the terminal summary lists it; otherwise it passes.
    """
    failed = [c for c in checks if c.failed]
    if failed:
        raise BudgetBroken("budget broken:\n" + "\n".join(str(c) for c in failed))
    short = [c for c in checks if c.status is Status.SHORT]
    if short:
        pytest.xfail("known shortfall: " + "; ".join(str(c) for c in short))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    settings = config.stash.get(_SETTINGS, None)
    if settings is None:
        return
    machine_info.update(machine_facts(settings.profile.harness.threads))
    suite = config.stash.get(_SUITE, None)
    machine_info["suite"] = {
        "profile": settings.profile.name,
        "data": settings.profile.data.describe(),
        "device": suite.builder.context.device if suite else settings.device,
        "timing": timing_of(settings.profile.harness),
    }


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    suite = config.stash.get(_SUITE, None)
    if suite is None:
        return
    if suite.figures:
        terminalreporter.write_sep("=", f"variants ({suite.profile.name} profile, {suite.harness.threads} thread(s))")
        terminalreporter.write_line(figures_table(list(suite.figures.values())))
        _write_list(terminalreporter, "known shortfalls (figure, target, reached, now):",
                    [s for f in suite.figures.values() for s in f.shortfalls])
        _write_list(terminalreporter, "inconclusive (wall-clock budgets timed on a busy machine; neither passed nor failed):",
                    [inconclusive_line(f.variant, c, f.machine_load) for f in suite.figures.values()
                     for c in f.checks if c.status == Status.INCONCLUSIVE.value])
    events = suite.builder.context.cache.events
    if events:
        terminalreporter.write_sep("=", "artifacts: built in this run, or found in the cache")
        terminalreporter.write_line(build_times_table(events))


def inconclusive_line(variant: str, check: CheckRecord, load: float) -> str:
    """One inconclusive verdict with the machine's load while it was timed."""
    share = "an unknown share" if math.isnan(load) else f"{load:.0%}"
    relation = LIMITS_BY_KEY[check.key].direction.relation
    return (f"{variant}: {check.figure} = {check.value:.4g}, budget {check.key} ({relation} {check.limit:g}): "
            f"others used {share} of the CPU time")


def _write_list(terminalreporter, title: str, lines: list[str]) -> None:
    if lines:
        terminalreporter.write_line("")
        terminalreporter.write_line(title)
        for line in lines:
            terminalreporter.write_line(f"  {line}")


def build_times_table(events) -> str:
    """A Markdown table of the artifacts a run used: step, key, built or cached, build time; total per step."""
    lines = ["| step | artifact | status | time |", "|---|---|---|---|"]
    lines += [f"| {e.step} | {e.key} | {e.status} | {format_duration(e.seconds) if e.status == 'built' else ''} |" for e in events]
    built: dict[str, float] = {}
    for event in events:
        if event.status == "built":
            built[event.step] = built.get(event.step, 0.0) + event.seconds
    if built:
        lines += ["", "| step | built | time |", "|---|---|---|"]
        lines += [f"| {step} | {sum(e.step == step and e.status == 'built' for e in events)} | {format_duration(s)} |" for step, s in built.items()]
        lines.append(f"| all | {sum(e.status == 'built' for e in events)} | {format_duration(sum(built.values()))} |")
    return "\n".join(lines)


class _TerminalHandler(logging.Handler):
    """Writes the suite's log records to pytest's terminal as they happen, past output capture,
    flushed line by line (a pipe, as under tox or CI, would otherwise hold them until a test ends)."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(logging.INFO)
        self.config = config
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        message = self.format(record)
        if capture is None:
            reporter.write_line(message)
            reporter.flush()
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(message)
            reporter.flush()


def _show_progress(config: pytest.Config) -> None:
    """Show builds live, unless pytest's own live logging already does (`--log-cli-level`)."""
    if config.getoption("log_cli_level", None) or config.getini("log_cli"):
        return
    logger = logging.getLogger(_LOGGER)
    if not any(isinstance(h, _TerminalHandler) for h in logger.handlers):
        handler = _TerminalHandler(config)
        logger.addHandler(handler)
        config.add_cleanup(lambda: logger.removeHandler(handler))
