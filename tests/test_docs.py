"""The README's quick start is what CI runs: the test command .ci/run executes is the one README.md shows."""

from __future__ import annotations

import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ci_test_command() -> str:
    """TEST_COMMAND as .ci/run sets it (a shell assignment of one double-quoted string)."""
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        if line.startswith("TEST_COMMAND="):
            return shlex.split(line.split("=", 1)[1])[0]
    raise AssertionError(".ci/run sets no TEST_COMMAND")


def test_readme_shows_the_test_command_ci_runs():
    command = ci_test_command()
    assert "pip install -e '.[test]'" in command and "python -m pytest" in command and "mypy" in command
    assert f"    {command}\n" in (ROOT / "README.md").read_text()
