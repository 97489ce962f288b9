"""The `nepagn` command line: discovers the subcommands in nepagn.commands and dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import nepagn
import nepagn.commands
from nepagn.errors import NepagnError


def _command_modules():
    for info in sorted(pkgutil.iter_modules(nepagn.commands.__path__), key=lambda info: info.name):
        yield importlib.import_module(f"nepagn.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command module."""
    parser = argparse.ArgumentParser(prog="nepagn", description=nepagn.__doc__)
    parser.add_argument("--version", action="version", version=f"nepagn {nepagn.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * (1 + args.verbose)
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except NepagnError as exc:
        print(f"nepagn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
