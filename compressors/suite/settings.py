"""The options every entry point of the suite shares, and what they resolve to.

`add_suite_options` defines them once, for an `argparse` parser (the commands) or a pytest
option group (the plugin); `resolve_suite` turns the parsed options into `SuiteSettings`,
checking each and merging the budgets, or raises a `ValueError` naming the option at fault.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressors.artifacts import default_cache_dir
from compressors.measure.budgets import DEFAULT_BUDGETS, OUT_OF_SCOPE_KEYS, Budget, load_budgets

if TYPE_CHECKING:  # profiles import the steps and formats (torch): commands import these options first
    from compressors.profiles import Profile
    from compressors.suite_config import SuiteConfig

logger = logging.getLogger(__name__)
PROFILE_ENV, SUITE_CONFIG_ENV, DEFAULT_PROFILE = "COMPRESSORS_PROFILE", "COMPRESSORS_SUITE_CONFIG", "full"


@dataclass(frozen=True)
class SuiteSettings:
    """What the options resolve to, checked once at start-up."""

    profile: Profile
    cache_dir: Path
    device: str = "auto"
    rebuild: bool = False
    budgets: dict[str, Budget] = field(default_factory=dict)
    selection: SuiteConfig | None = None

    def selects(self, name: str) -> bool:
        """Whether the variant runs (a suite config may select some)."""
        return self.selection is None or self.selection.selects(name)


def _adder(parser: Any) -> Callable[..., Any]:
    """`add_argument` of an argparse parser, `addoption` of a pytest option group."""
    return parser.addoption if hasattr(parser, "addoption") else parser.add_argument


def add_profile_options(parser: Any) -> None:
    """--profile and --suite-config: which models and data (for commands that build and time nothing)."""
    add = _adder(parser)
    add("--profile", default=None, help=f"suite profile: 'full' (CLINC150, MiniLM-L6; the main job) or 'small' (a "
        f"slice, a 2-layer model, one epoch; used by the tests). Default: ${PROFILE_ENV} or {DEFAULT_PROFILE}.")
    add("--suite-config", type=Path, default=None,
        help=f"TOML file with your own data set, model, training settings, variants and budgets (default: ${SUITE_CONFIG_ENV})")


def add_suite_options(parser: Any, *, judging: bool = False, cache_dir_help: str | None = None) -> None:
    """The suite's options: profile, suite config, cache, device, threads (`judging`: and budgets)."""
    add_profile_options(parser)
    add = _adder(parser)
    add("--cache-dir", type=Path, default=None,
        help=cache_dir_help or f"artifact cache directory (default: $COMPRESSORS_CACHE or {default_cache_dir()})")
    add("--device", default="auto", help="where training runs: auto (CUDA when present), cpu or cuda")
    add("--threads", type=int, default=None, help="intra-op threads while measuring (default: the profile's, 1)")
    if judging:
        add("--budgets", type=Path, default=None, help=f"budgets TOML file (default: the package's, {DEFAULT_BUDGETS})")


def resolve_suite(options: argparse.Namespace, *, default_profile: str | None = None, rebuild: bool = False) -> SuiteSettings:
    """The settings the parsed options (`args`, or pytest's `config.option`) ask for.

    Args:
        default_profile: the profile when --profile is not given (a lock's, a saved run's);
            otherwise $COMPRESSORS_PROFILE or full.

    Raises:
        ValueError: naming the option, file, table or key at fault.
    """
    from compressors.profiles import get_profile
    from compressors.steps.base import DEVICES
    from compressors.suite_config import load_suite_config

    profile = get_profile(_option(options, "profile") or default_profile or os.environ.get(PROFILE_ENV, DEFAULT_PROFILE))
    suite_config = _option(options, "suite_config") or os.environ.get(SUITE_CONFIG_ENV)
    selection = load_suite_config(profile, Path(suite_config)) if suite_config else None
    if selection is not None:
        profile = selection.profile
    threads = _option(options, "threads")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        profile = replace(profile, harness=replace(profile.harness, threads=threads))
    device = _option(options, "device") or "auto"
    if device not in DEVICES:
        raise ValueError(f"--device must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}, got {device!r}")
    cache_dir = Path(_option(options, "cache_dir") or default_cache_dir())
    budgets = resolve_budgets(profile, _option(options, "budgets"), selection)
    return SuiteSettings(profile, cache_dir, device, rebuild, budgets, selection)


def resolve_budgets(profile: Profile, path: Path | None, selection: SuiteConfig | None) -> dict[str, Budget]:
    """The profile's budgets from `path` (default: the package's), as they hold for its data.

    On a suite config's data without a budgets file of its own, only the packaged budgets
    relative to the baseline hold (the floors are CLINC150's), and the config's own override
    them; without an out-of-scope class, the out-of-scope budgets go.
    """
    from compressors.profiles import PROFILES
    from compressors.variants import VARIANT_NAMES

    budgets = load_budgets(Path(path or DEFAULT_BUDGETS), VARIANT_NAMES, PROFILES).get(profile.name, {})
    if selection is not None:
        if not path:
            budgets = {name: budget.relative_only() for name, budget in budgets.items()}
            logger.info("suite config without a budgets file: no speed floors until your first run's own "
                        "(compressors budgets --from RUN.json --out FILE, then --budgets FILE)")
        for name, own in selection.budgets.items():
            budgets[name] = budgets.get(name, Budget()).merged(own)
    if not profile.data.oos_label:
        budgets = {name: budget.without(OUT_OF_SCOPE_KEYS) for name, budget in budgets.items()}
    return budgets


def _option(options: argparse.Namespace, name: str) -> Any:
    return getattr(options, name, None)
