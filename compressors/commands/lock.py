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

from compressors.suite.settings import add_suite_options

NAME = "lock"
SUMMARY = "lock the cache keys and file checksums of every artifact a profile builds"


def parse_names(text: str) -> list[str]:
    """A comma-separated list of variant names, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="the lock file to write")
    parser.add_argument("--variants", type=parse_names, default=None,
                        help="comma-separated variants to lock (default: every variant); verify checks what the lock holds")
    add_suite_options(parser)


def run(args: argparse.Namespace) -> int:
    from compressors.lock import write_lock
    from compressors.suite.build import Builder
    from compressors.suite.settings import resolve_suite

    try:
        settings = resolve_suite(args)
        lock = write_lock(Builder.open(settings.profile, settings.cache_dir, settings.device), args.out, args.variants)
    except ValueError as error:
        print(f"compressors lock: error: {error}", file=sys.stderr)
        return 2
    print(f"locked {len(lock['artifacts'])} artifacts of {len(lock['variants'])} variants ({settings.profile.name} profile) in {args.out}")
    return 0
