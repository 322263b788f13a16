"""The `compressors` command: subcommands that work on the suite's saved runs and artifacts."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> module defining `register(subparsers)`, which adds the parser and sets `func`.
SUBCOMMANDS: dict[str, str] = {
    "gate": "compressors.gate",
    "report": "compressors.report",
    "prune-sweep": "compressors.pruning_sweep",
    "trim-report": "compressors.trim_report",
}


def add_subcommand(subparsers: argparse._SubParsersAction, name: str, summary: str, doc: str | None) -> argparse.ArgumentParser:
    """A subcommand's parser: `summary` in `compressors --help`, the module docstring in its own."""
    return subparsers.add_parser(name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compressors", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).register(subparsers)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
