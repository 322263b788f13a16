"""`compressors docs`: the generated blocks of README.md and docs/, checked against or rebuilt from committed runs.

    compressors docs --check     # exit 1 naming each stale or unrenderable block
    compressors docs --write     # rewrite every block from its source

A block is a figures table between `<!-- table: NAME source=RUN.json variants=a,b -->` and
`<!-- end table -->`, rendered from a committed pytest-benchmark run, or the budget keys between
`<!-- budget-keys -->` and `<!-- end budget-keys -->`. Sources are relative to --root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressors.artifacts import write_atomic
from compressors.history.published import documents, render_text

NAME = "docs"
SUMMARY = "check or rewrite the README's and docs' generated tables from their committed runs"


def configure(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 when a generated block differs from what its source gives")
    action.add_argument("--write", action="store_true", help="rewrite every generated block from its source")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: the current directory)")
    parser.add_argument("files", nargs="*", type=Path,
                        help="Markdown files (default: README.md, CHANGELOG.md and docs/**/*.md under --root)")


def run(args: argparse.Namespace) -> int:
    root: Path = args.root
    files = [root / f if not f.is_absolute() else f for f in args.files] or documents(root)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"compressors docs: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    stale, errors, written, blocks = [], [], [], 0
    for path in files:
        where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        text = path.read_text(encoding="utf8")
        rendered = render_text(text, root, where)
        blocks += text.count("<!-- end table -->") + text.count("<!-- end budget-keys -->")
        stale += rendered.stale
        errors += rendered.errors
        if args.write and rendered.text != text:
            write_atomic(path, rendered.text.encode("utf8"))
            written.append(where)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if args.write:
        for where in written:
            print(f"rewrote {where}")
        return 1 if errors else 0
    for label in stale:
        print(f"stale: {label}; run `compressors docs --write`")
    if stale or errors:
        return 1
    print(f"{blocks} generated block(s) in {len(files)} file(s) match their sources")
    return 0
