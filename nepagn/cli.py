"""The `nepagn` command line: discovers the subcommands in nepagn.commands and dispatches.

Only the chosen subcommand's module is imported: the others are listed from their NAME and HELP
constants read from source, so `nepagn --help` does not pay for TensorFlow, scikit-learn or Dask.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import os
import pkgutil
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nepagn
import nepagn.commands
from nepagn.errors import NepagnError


@dataclass(frozen=True)
class CommandEntry:
    """A subcommand as listed before its module is imported."""

    name: str
    help: str
    module: str


def _literal_constants(path: Path, names: set[str]) -> dict[str, str]:
    """Module-level string constants `names` of a source file, without importing it."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = node.value.value
    return found


def command_entries() -> list[CommandEntry]:
    """Every module in nepagn.commands with its NAME and HELP, sorted by module name."""
    entries = []
    for info in sorted(pkgutil.iter_modules(nepagn.commands.__path__), key=lambda info: info.name):
        module = f"nepagn.commands.{info.name}"
        constants = _literal_constants(Path(importlib.util.find_spec(module).origin), {"NAME", "HELP"})
        entries.append(CommandEntry(constants["NAME"], constants["HELP"], module))
    return entries


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The top-level parser; the subcommand named in `argv` (if any) gets its full arguments."""
    parser = argparse.ArgumentParser(prog="nepagn", description=nepagn.__doc__)
    parser.add_argument("--version", action="version", version=f"nepagn {nepagn.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in command_entries():
        sub = subparsers.add_parser(entry.name, help=entry.help, description=entry.help)
        if entry.name in argv:
            module = importlib.import_module(entry.module)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter, here and in workers
    args = build_parser(argv).parse_args(argv)
    args.command_line = shlex.join(["nepagn", *argv])  # recorded by commands that write run records
    level = logging.WARNING - 10 * (1 + args.verbose)
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except NepagnError as exc:
        print(f"nepagn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
