"""Options shared by the benchmark suite (`benchmarks/`) and the tests (`tests/`)."""

from __future__ import annotations

import os

import pytest

from compressors.artifacts import default_cache_dir


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compressors", "compression benchmark suite")
    group.addoption(
        "--profile",
        default=os.environ.get("COMPRESSORS_PROFILE", "full"),
        help="suite profile: 'full' (CLINC150, MiniLM-L6; the main job) or 'small' (a slice, a "
        "2-layer model, one epoch; used by the tests). Default: $COMPRESSORS_PROFILE or full.",
    )
    group.addoption(
        "--cache-dir",
        default=None,
        help=f"artifact cache directory (default: $COMPRESSORS_CACHE or {default_cache_dir()})",
    )
    group.addoption("--rebuild", action="store_true", help="rebuild every artifact this run uses")
    group.addoption("--budgets", default=None, help="budgets TOML file (default: benchmarks/budgets.toml)")
    group.addoption("--threads", type=int, default=None, help="intra-op threads while measuring (default: the profile's, 1)")
    group.addoption(
        "--suite-config",
        default=os.environ.get("COMPRESSORS_SUITE_CONFIG"),
        help="TOML file with [data] and [model] tables: your own data set or checkpoint",
    )
