"""The `compressors` command: subcommands that work on the suite's saved runs and artifacts."""

from __future__ import annotations

import argparse
import logging
import sys

from compressors.commands import (
    budgets, compare, crosscheck, decision_rules, docs, gate, lock, prune_sweep, report, search, seeds, trim_report, verify,
)

# Each module has NAME, SUMMARY, a docstring (its --help), configure(parser) and run(args) -> exit code.
COMMANDS = (gate, budgets, report, lock, verify, crosscheck, compare, decision_rules, seeds, prune_sweep, search, trim_report, docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compressors", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.NAME, help=command.SUMMARY, description=command.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        command.configure(sub)
        sub.set_defaults(handler=command.run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
