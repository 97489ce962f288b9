"""The command line: every subcommand is listed without importing it, and each one's --help works."""

import subprocess
import sys

import pytest

from nepagn.cli import command_entries, main

EXPECTED = {"build-catalogue", "simulate", "ingest", "export", "train", "report", "update"}


def test_every_command_is_discovered_with_its_help():
    entries = {entry.name: entry for entry in command_entries()}
    assert EXPECTED <= set(entries)
    assert all(entry.help for entry in entries.values())


def test_top_level_help_imports_no_command_module():
    code = (
        "import sys; from nepagn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m.startswith('nepagn.commands.') or m in ('tensorflow', 'sklearn')]\n"
        "print(loaded)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "build-catalogue" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_command_help_exits_zero(name, capsys):
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    assert f"nepagn {name}" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["no-such-command"])
    assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
