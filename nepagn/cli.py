"""The `nepagn` command line: discovers the subcommands in nepagn.commands and dispatches.

Only the chosen subcommand's module is imported: the others are listed from their NAME and HELP
constants read from source, so `nepagn --help` does not pay for TensorFlow, scikit-learn or Dask.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import importlib.util
import logging
import os
import pkgutil
import shlex
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nepagn
import nepagn.commands
from nepagn.errors import NepagnError, Terminated, os_error_reason

INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports after Ctrl-C


@dataclass(frozen=True)
class CommandEntry:
    """A subcommand as listed before its module is imported."""

    name: str
    help: str
    module: str


def _literal_constants(path: Path, names: set[str]) -> dict[str, str]:
    """Module-level string constants `names` of a source file, without importing it."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = node.value.value
    return found


def _source_file(module: str) -> Path:
    """The source file of `module` (one pkgutil listed, so it has one), found without importing it."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"{module}: listed by pkgutil, so it has a source file"
    return Path(spec.origin)


def command_entries() -> list[CommandEntry]:
    """Every module in nepagn.commands with its NAME and HELP, sorted by module name."""
    entries = []
    for info in sorted(pkgutil.iter_modules(nepagn.commands.__path__), key=lambda info: info.name):
        module = f"nepagn.commands.{info.name}"
        constants = _literal_constants(_source_file(module), {"NAME", "HELP"})
        entries.append(CommandEntry(constants["NAME"], constants["HELP"], module))
    return entries


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The top-level parser; the subcommand named in `argv` (if any) gets its full arguments.

    Command modules import only argparse-light modules at their top, so building the parser (and
    `--help`, and a usage error) never loads TensorFlow, scikit-learn or Dask.
    """
    parser = argparse.ArgumentParser(prog="nepagn", description=nepagn.__doc__)
    parser.add_argument("--version", action="version", version=f"nepagn {nepagn.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in command_entries():
        sub = subparsers.add_parser(entry.name, help=entry.help, description=entry.help)
        if entry.name in argv:
            module = importlib.import_module(entry.module)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run, resume_hint=getattr(module, "resume_hint", None))
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    """The parser of subcommand `name`, or None."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def _unrecognized(parser: argparse.ArgumentParser, argv: list[str], extras: list[str]) -> None:
    """Report unknown arguments with the (sub-)subcommand's own usage and the closest option names; exits 2."""
    target = parser
    for word in argv:  # down to the innermost subcommand named (`evaluate`, then `mock`)
        target = _subparser(target, word) or target
    options = [option for action in target._actions for option in action.option_strings]
    hints = []
    for extra in extras:
        if extra.startswith("-"):
            close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.6)
            if close:
                hints.append(f"did you mean {close[0]}?")
    message = f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else "")
    target.error(message)


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; usage errors name the subcommand's usage and suggest close matches."""
    commands = [entry.name for entry in command_entries()]
    words = [word for word in argv if not word.startswith("-")]
    if words and words[0] not in commands and not any(word in commands for word in words):
        close = difflib.get_close_matches(words[0], commands, n=1, cutoff=0.6)
        if close:
            build_parser(argv).error(f"unknown command {words[0]!r} (did you mean {close[0]!r}?)")
    parser = build_parser(argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unrecognized(parser, argv, extras)
    return args


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"signal {signum}")


def _tensorflow_log_level() -> str:
    """TF's C++ log threshold: warnings off everywhere; on a machine without an NVIDIA GPU, errors too.

    A CPU machine otherwise prints "failed call to cuInit: CUDA error" from every process that loads
    TensorFlow. With a GPU present those errors matter and stay visible.
    """
    has_gpu = Path("/proc/driver/nvidia/version").exists() or any(Path("/dev").glob("nvidia[0-9]*"))
    return "2" if has_gpu else "3"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status.

    A NepagnError (bad input, a locked folder, no room to write) is one line on stderr and exit 2;
    Ctrl-C (SIGINT) and SIGTERM unwind the command (clusters close, partial outputs are removed), then
    one line says what was kept and how to resume: exit 130 and 143.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # TensorFlow's C++ start-up chatter, here and in the worker processes a LocalCluster starts
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _tensorflow_log_level())
    args = _parse(argv)
    if args.verbose < 2:  # Dask's own INFO lines (scheduler, nannies, comms) only with -vv; read when Dask
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # is imported, here and in workers
    args.command_line = shlex.join(["nepagn", *argv])  # recorded by commands that write run records
    level = logging.WARNING - 10 * (1 + args.verbose)
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:  # Dask's own start/stop INFO lines (scheduler, nannies, comms) only with -vv
        logging.getLogger("distributed").setLevel(logging.WARNING)
    previous = None
    if threading_is_main():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(args.run(args) or 0)
    except NepagnError as exc:
        print(f"nepagn {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        what = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"
        print(f"nepagn {args.command}: {what}; {_hint(args)}", file=sys.stderr)
        return Terminated.exit_code if terminated else INTERRUPTED_EXIT
    except OSError as exc:
        reason = os_error_reason(exc)
        if reason is None:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"nepagn {args.command}: error: {where}{reason}; {_hint(args)}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def threading_is_main() -> bool:
    """Signal handlers can only be installed from the main thread (tests call main() from others too)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def _hint(args: argparse.Namespace) -> str:
    """What the stopped command kept and how to resume it, from the command's resume_hint(args), if any."""
    hint = getattr(args, "resume_hint", None)
    if hint is None:
        return "rerun the same command to start again"
    try:
        return hint(args)
    except Exception:  # the hint must never hide the interruption itself
        return "rerun the same command to resume"


if __name__ == "__main__":
    sys.exit(main())
