"""The command line: every subcommand is listed without importing it, and each one's --help works."""

import subprocess
import sys

import pytest

from nepagn.cli import command_entries, main

EXPECTED = {"build-catalogue", "simulate", "simulate-survey", "ingest", "export", "train", "report", "update",
            "evaluate"}
EXPERIMENTS = ("real-sample", "mock", "transfer", "ceiling", "match-quality")  # of `nepagn evaluate`


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


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_evaluate_experiment_help_exits_zero(experiment, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", experiment, "--help"])
    assert stop.value.code == 0
    assert f"nepagn evaluate {experiment}" in capsys.readouterr().out


def test_evaluate_help_lists_its_experiments_and_imports_nothing_heavy():
    code = (
        "import sys; from nepagn.cli import main\n"
        "try:\n    main(['evaluate', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('tensorflow', 'sklearn', 'dask', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert all(experiment in result.stdout for experiment in EXPERIMENTS)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_misspelt_option_of_an_evaluate_experiment_shows_its_usage():
    result = subprocess.run([sys.executable, "-m", "nepagn.cli", "evaluate", "ceiling", "--out", "x", "--sourcs", "3"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: nepagn evaluate ceiling")
    assert "unrecognized arguments: --sourcs 3 (did you mean --sources?)" in result.stderr


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["no-such-command"])
    assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_misspelt_option_shows_the_subcommands_usage_and_a_suggestion():
    result = subprocess.run([sys.executable, "-m", "nepagn.cli", "build-catalogue", "--ouput", "x"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: nepagn build-catalogue")
    assert result.stderr.strip().endswith(
        "nepagn build-catalogue: error: unrecognized arguments: --ouput x (did you mean --out?)")


def test_misspelt_command_is_suggested(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["biuld-catalogue"])
    assert stop.value.code == 2
    assert "did you mean 'build-catalogue'?" in capsys.readouterr().err


def test_parsing_any_command_imports_neither_tensorflow_nor_sklearn_nor_dask():
    """`nepagn COMMAND --help` and usage errors stay fast: heavy libraries load only when a command runs."""
    code = (
        "import sys; from nepagn.cli import build_parser, command_entries\n"
        "for entry in command_entries():\n    build_parser([entry.name])\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'distributed', 'dask', 'matplotlib')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_build_catalogue_checks_its_arguments_before_any_work(tmp_path, capsys):
    """A missing model set is reported at once: nothing is simulated, ingested or trained first."""
    out = tmp_path / "out"
    assert main(["build-catalogue", "--models", str(tmp_path / "nonexistent"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nepagn build-catalogue: error: {tmp_path / 'nonexistent'}: not a model set (no manifest.json); "
                   "train one with `nepagn train`"]
    assert not (out / "input").exists() and not (out / "input_store").exists()
    for args, message in (
        (["--input", str(tmp_path / "none.parquet"), "--columns", "mock"], "input not found"),
        (["--input", str(tmp_path / "x.parquet"), "--columns", "no-such-map"], "neither a file nor a shipped map"),
        (["--store", str(tmp_path / "nostore")], "no store there"),
        (["--quarantine", str(tmp_path / "q.csv")], "--quarantine goes with --input"),
        (["--workers", "0"], "--workers must be at least 1"),
    ):
        if "x.parquet" in args[1]:
            (tmp_path / "x.parquet").write_bytes(b"")
        assert main(["build-catalogue", *args, "--out", str(out)]) == 2, args
        assert message in capsys.readouterr().err, args
    assert not (out / "input").exists()
