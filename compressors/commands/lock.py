"""`compressors lock`: build (or read from the cache) every artifact of a profile and lock its files' checksums.

    compressors lock --profile small --out locks/small.json
    compressors lock --profile full --variants ort,ort-quantized --out full.lock.json

The lock names, for each artifact the profile builds, its cache key and the SHA-256 of every
file, and for each variant the chain of artifacts it is made of. `compressors verify` rebuilds
and compares with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressors.artifacts import default_cache_dir

NAME = "lock"
SUMMARY = "lock the cache keys and file checksums of every artifact a profile builds"


def parse_names(text: str) -> list[str]:
    """A comma-separated list of variant names, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite-config", type=Path, default=None, help="your suite config TOML (as for pytest --suite-config)")
    parser.add_argument("--device", default="auto", help="where training runs: auto, cpu or cuda")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="full", help="suite profile (default: full)")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"artifact cache (default: {default_cache_dir()})")
    parser.add_argument("--out", type=Path, required=True, help="the lock file to write")
    parser.add_argument("--variants", type=parse_names, default=None,
                        help="comma-separated variants to lock (default: every variant); verify checks what the lock holds")
    add_profile_options(parser)


def make_suite(profile_name: str, cache_dir: Path, suite_config: Path | None, device: str, plan_only: bool = False):
    """The suite of a profile (and suite config) over `cache_dir` (`plan_only`: keys, no builds)."""
    from compressors.profiles import get_profile
    from compressors.suite import Suite
    from compressors.suite_config import apply_user_config

    profile = get_profile(profile_name)
    if suite_config:
        profile = apply_user_config(profile, suite_config)
    return Suite(profile, cache_dir, device=device, plan_only=plan_only)


def run(args: argparse.Namespace) -> int:
    from compressors.lock import write_lock

    try:
        suite = make_suite(args.profile, args.cache_dir or default_cache_dir(), args.suite_config, args.device)
        lock = write_lock(suite, args.out, args.variants)
    except ValueError as error:
        print(f"compressors lock: error: {error}", file=sys.stderr)
        return 2
    print(f"locked {len(lock['artifacts'])} artifacts of {len(lock['variants'])} variants ({args.profile} profile) in {args.out}")
    return 0


