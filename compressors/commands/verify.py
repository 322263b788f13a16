"""`compressors verify`: rebuild a profile from scratch and report every artifact that differs from a lock.

    compressors verify --lock locks/small.json
    compressors verify --lock locks/small.json --cache-dir ~/.cache/compressors   # check a cache instead

Without --cache-dir every artifact is rebuilt in a fresh temporary cache, so the check is of
the build itself. For each variant that differs, the step where its chain first diverges is
named. The profile is the lock's. Exits 0 when every artifact matches, 1 when some differ, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from compressors.suite.settings import add_suite_options

NAME = "verify"
SUMMARY = "rebuild a profile and report every artifact whose files differ from a lock"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock", type=Path, required=True, help="a lock written by `compressors lock`")
    add_suite_options(parser, cache_dir_help="verify this cache (default: rebuild in a fresh temporary one)")


def run(args: argparse.Namespace) -> int:
    from compressors.artifacts import build_environment
    from compressors.lock import environment_differences, read_lock, verify_lock
    from compressors.suite.build import Builder
    from compressors.suite.settings import resolve_suite

    scratch = None if args.cache_dir else Path(tempfile.mkdtemp(prefix="compressors-verify-"))
    try:
        lock = read_lock(args.lock)
        settings = resolve_suite(args, default_profile=lock["profile"])
        diverging, first = verify_lock(Builder.open(settings.profile, args.cache_dir or scratch, settings.device), lock)
        environment = environment_differences(lock.get("built_with", {}), build_environment())
    except ValueError as error:
        print(f"compressors verify: error: {error}", file=sys.stderr)
        return 2
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    built = "rebuilt from scratch" if scratch else f"read from {args.cache_dir}"
    if not diverging:
        print(f"verified: every artifact of the {lock['profile']} profile ({len(lock['artifacts'])} locked), {built}, matches {args.lock}")
        return 0
    print(f"{len(diverging)} artifact(s) differ from {args.lock} ({built}):")
    for divergence in diverging:
        print(f"  {divergence}")
    print("first divergence per variant:")
    for variant, divergence in first.items():
        print(f"  {variant}: {divergence.key}")
    if environment:
        print("the lock was written on another machine or with other libraries, which can change float results:")
        for line in environment:
            print(f"  {line}")
    if any(d.what.startswith("not in the lock") for d in diverging):
        print(f"if the change is intended, re-lock: compressors lock --profile {lock['profile']} --out {args.lock}")
    return 1
