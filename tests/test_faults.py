"""build-catalogue and train under faults, with real processes and signals (issue 16).

Each fault is made for real: a second build process on the same OUTDIR, a file size limit
(RLIMIT_FSIZE, what a full disk looks like to the writer), a folder the (non-root) user cannot write,
SIGINT and SIGTERM. The commands run as separate `python -m nepagn.cli` processes on the session's
LocalCluster (`--scheduler`), so the signals reach only them. What the user gets is checked: the exit
status, one line on stderr without a traceback, nothing that reads as complete, and a rerun that
resumes.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from nepagn.pipeline.build import build_catalogue
from nepagn.resources import catalogs_dir

TIMEOUT_S = 300


def cli(*args: str) -> list[str]:
    """The command line of `nepagn ARGS` as a separate Python process."""
    return [sys.executable, "-m", "nepagn.cli", *args]


def error_lines(stderr: str) -> list[str]:
    """stderr without the log lines (timestamped) and TensorFlow's C++ lines: what the user reads as the outcome."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line[:4].isdigit()
            and not line.startswith(("I0000", "W0000", "E0000", "WARNING: All log"))]


def wait_for(condition, what: str, timeout: float = TIMEOUT_S, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (rc {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def as_in_a_terminal(command: list[str]) -> list[str]:
    """`command` with SIGINT at its default, as a terminal's foreground job has it: a test run in the background
    of a non-interactive shell (`cmd &`, as CI may do) inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt."""
    reset = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", reset, *command]


def lock_holder(lock: Path) -> int | None:
    """The pid recorded in a lock file, or None."""
    try:
        return json.loads(lock.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def second_run_while_the_first_holds_the_lock(first_command: list[str], second_command: list[str], lock: Path,
                                              name: str) -> tuple[int, str]:
    """Start the first command, hold it (SIGSTOP) once it has taken `lock`, run the second to its end, then let
    the first go on. The second must stop at once: exit 2, one line naming the first. Returns the first's exit
    status and stderr."""
    first = subprocess.Popen(first_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lock_holder(lock) == first.pid, "the first run holds the lock", process=first)
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = subprocess.run(second_command, capture_output=True, text=True, timeout=TIMEOUT_S)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _, stderr = first.communicate(timeout=TIMEOUT_S)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr[-2000:]
    lines = error_lines(second.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"nepagn {name}: error:"), lines
    assert "another nepagn process is writing here" in lines[0] and f"pid {first.pid}" in lines[0]
    return first.returncode, stderr


def _data(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).sort_values("source_id", ignore_index=True)


def _build_args(store: Path, models: Path, out: Path, client, *extra: str) -> list[str]:
    return cli("build-catalogue", "--store", str(store), "--models", str(models), "--out", str(out),
               "--scheduler", client.scheduler.address, "--quiet", *extra)


def test_second_build_on_the_same_outdir_stops_at_once_and_the_first_completes(
        tiny_mock_store, tiny_model_set, reference_build, dask_client, tmp_path):
    out = tmp_path / "out"
    status, stderr = second_run_while_the_first_holds_the_lock(
        _build_args(tiny_mock_store, tiny_model_set, out, dask_client),
        _build_args(tiny_mock_store, tiny_model_set, out, dask_client, "--star-rule", "none"),  # other settings too:
        out / ".nepagn.lock", "build-catalogue")  # the last writer must not silently win
    assert status == 0, stderr[-3000:]
    record = json.loads((out / "provenance.json").read_text())
    assert record["configs"]["pipeline"]["preprocess"]["star_rule"] == "chi2"  # the first build's settings
    pd.testing.assert_frame_equal(_data(out / "catalogue.parquet"), _data(reference_build.parquet))


def _limit_file_size(limit_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def test_disk_full_while_writing_the_catalogue_leaves_nothing_complete_and_resumes(
        tiny_mock_store, tiny_model_set, reference_build, dask_client, tmp_path):
    """The client may write no file over 64 KiB (RLIMIT_FSIZE; the workers write the partitions): the
    first big file, catalogue.parquet, fails as on a full disk."""
    import lsdb

    out = tmp_path / "out"
    failed = subprocess.run(_build_args(tiny_mock_store, tiny_model_set, out, dask_client),
                            capture_output=True, text=True, timeout=TIMEOUT_S, preexec_fn=_limit_file_size(64 << 10))
    assert failed.returncode == 2, failed.stderr[-3000:]
    lines = error_lines(failed.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"nepagn build-catalogue: error: {out.resolve() / 'catalogue.parquet'}: no room")
    assert "rerun the same command" in lines[0] and "Traceback" not in failed.stderr
    assert not (out / "catalogue" / "properties").exists()  # LSDB must not open it as complete
    with pytest.raises(Exception):  # noqa: B017 - whatever LSDB raises, it must not read the half-made build
        lsdb.open_catalog(out / "catalogue")
    for name in ("catalogue.parquet", "catalogue.fits", "provenance.json"):
        assert not (out / name).exists(), name
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"
    resumed = build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client)
    assert resumed.computed == [] and len(resumed.reused) == len(reference_build.computed)
    pd.testing.assert_frame_equal(_data(resumed.parquet), _data(reference_build.parquet))


def _as_other_user() -> list[str] | None:
    """A prefix that runs a command as user `nobody` (root passes every permission check), or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


def test_unwritable_out_is_a_one_line_error_before_any_work():
    prefix = _as_other_user()
    if prefix is None:
        pytest.skip("running as root without setpriv: no way to be a user the permission check applies to")
    root = Path(tempfile.mkdtemp(prefix="nepagn-unwritable-"))
    try:
        root.chmod(0o755)
        out = root / "catalogue"
        out.mkdir(mode=0o555)  # exists, but the user may not write in it
        out.chmod(0o555)
        started = time.monotonic()
        # no cluster may start: the scheduler address goes nowhere (discard port), so trying would hang
        result = subprocess.run(prefix + cli("build-catalogue", "--out", str(out), "--scheduler",
                                             "tcp://127.0.0.1:9"),
                                capture_output=True, text=True, timeout=TIMEOUT_S,
                                env={**os.environ, "HOME": str(root), "MPLCONFIGDIR": str(root)})
        assert result.returncode == 2, result.stderr[-3000:]
        lines = error_lines(result.stderr)
        assert lines == [f"nepagn build-catalogue: error: {out}: --out is not writable (Permission denied); choose "
                         "a folder you can write (nothing was started)"], lines
        assert time.monotonic() - started < 60 and not (out / "input").exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_ctrl_c_in_a_terminal_says_what_was_kept_and_the_rerun_resumes(tiny_mock_store, tiny_model_set,
                                                                     reference_build, dask_client, tmp_path):
    """Ctrl-C in a terminal: SIGINT to the whole process group, the build's own LocalCluster workers included
    (they printed KeyboardInterrupt tracebacks); the command closes them and says what it kept."""
    out = tmp_path / "out"
    done = out / ".build" / "done"
    log = tmp_path / "build.err"
    with log.open("w") as stderr:
        build = subprocess.Popen(as_in_a_terminal(cli("build-catalogue", "--store", str(tiny_mock_store), "--models",
                                                      str(tiny_model_set), "--out", str(out), "--workers", "1",
                                                      "--quiet")),
                                 stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            wait_for(lambda: done.is_dir() and any(done.iterdir()), "a first partition is done", process=build)
            os.killpg(build.pid, signal.SIGSTOP)  # Ctrl-C before the final files: the command and its workers
            assert not (out / "provenance.json").exists(), "the build ended before it could be interrupted"
            os.killpg(build.pid, signal.SIGINT)
            os.killpg(build.pid, signal.SIGCONT)
            build.wait(timeout=TIMEOUT_S)
        finally:
            if build.poll() is None:
                build.kill()
    stderr_text = log.read_text()
    assert build.returncode == 130, stderr_text[-3000:]
    assert "Traceback" not in stderr_text and "KeyboardInterrupt" not in stderr_text, stderr_text[-3000:]
    lines = error_lines(stderr_text)
    assert len(lines) == 1, lines
    match = re.fullmatch(
        r"nepagn build-catalogue: interrupted \(Ctrl-C\); (\d+) classified partition\(s\) and the inputs and "
        rf"models prepared so far are kept in {re.escape(str(out))}; nothing there reads as a complete catalogue "
        r"\(provenance.json is written last\); rerun the same command to resume \(finished partitions are reused\)",
        lines[0])
    assert match, lines[0]
    # tasks already running on the worker may finish after the client stopped: their partitions count too
    assert 1 <= int(match.group(1)) <= len(list(done.glob("*.json")))
    assert not (out / "provenance.json").exists() and not (out / "catalogue" / "properties").exists()
    resumed = build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client)
    assert len(resumed.reused) >= 1
    pd.testing.assert_frame_equal(_data(resumed.parquet), _data(reference_build.parquet))


def test_sigterm_stops_train_and_a_rerun_resumes_from_the_finished_tasks(poliszczuk_csv, dask_client, tmp_path):
    """SIGTERM: exit 143, no MODELDIR, the finished tasks kept beside it; the same command then trains only
    the others (issue 16 item 16c)."""
    from nepagn.model.checkpoints import checkpoint_dir

    out = tmp_path / "models"
    kept = checkpoint_dir(out)
    log = tmp_path / "train.err"
    columns = str(catalogs_dir() / "columns" / "poliszczuk2021.toml")
    command = cli("train", "--input", str(poliszczuk_csv), "--columns", columns, "--models", "A", "--folds", "3",
                  "--networks", "1", "--max-epochs", "4", "--out", str(out),
                  "--scheduler", dask_client.scheduler.address)
    with log.open("w") as stderr:
        train = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            wait_for(lambda: kept.is_dir() and any(not p.name.startswith(".") for p in kept.iterdir()),
                     "a first finished task", process=train)
            os.kill(train.pid, signal.SIGSTOP)  # SIGTERM while training runs, whatever the timing
            os.kill(train.pid, signal.SIGTERM)
            os.kill(train.pid, signal.SIGCONT)
            train.communicate(timeout=TIMEOUT_S)
        finally:
            if train.poll() is None:
                train.kill()
    text = log.read_text()
    assert train.returncode == 143, text[-3000:]
    finished = [p for p in kept.iterdir() if not p.name.startswith(".")]
    last = error_lines(text)[-1]
    assert last.startswith(f"nepagn train: terminated (SIGTERM); nothing was written to {out}")
    assert f"{len(finished)} finished task(s) are kept in {kept}" in last and "Traceback" not in text
    assert not out.exists() and not list(tmp_path.glob(".models.partial-*")) and 1 <= len(finished) <= 3
    again = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert again.returncode == 0, again.stderr[-3000:]
    if len(finished) < 3:
        assert f"resuming: {len(finished)} of 3 tasks were finished by an earlier run" in again.stderr
    oof = pd.read_parquet(out / "oof_predictions.parquet")
    assert len(oof) == 1547 and not kept.exists()


def test_second_train_on_the_same_out_stops_at_once_and_the_first_completes(poliszczuk_csv, dask_client, tmp_path):
    """Two `nepagn train` runs on one --out would train into the same kept tasks and race to publish: the
    second stops with a one-line error naming the first, which completes undisturbed."""
    out = tmp_path / "models"
    columns = str(catalogs_dir() / "columns" / "poliszczuk2021.toml")
    command = cli("train", "--input", str(poliszczuk_csv), "--columns", columns, "--models", "A", "--folds", "3",
                  "--networks", "1", "--max-epochs", "2", "--out", str(out),
                  "--scheduler", dask_client.scheduler.address)
    status, stderr = second_run_while_the_first_holds_the_lock(
        command, command, tmp_path / ".models.nepagn.lock", "train")  # the lock lies beside the MODELDIR
    assert status == 0, stderr[-3000:]
    assert len(pd.read_parquet(out / "oof_predictions.parquet")) == 1547


def test_cli_build_from_a_file_is_quiet_respects_the_umask_and_dates_the_command(tmp_path):
    """One end-to-end CLI run on its own LocalCluster (the workers' stderr is this process's):
    a shipped column map name for --input, no CUDA noise on a CPU machine, workers that exit by
    themselves at shutdown (none killed), public files readable as the umask (027) allows,
    provenance started when the command did."""
    from nepagn.model.training import train_model_set
    from nepagn.simulate import simulate_catalogue

    mock = simulate_catalogue(n_sources=600, seed=4)
    mock.to_parquet(tmp_path / "mock.parquet", index=False)
    labelled = mock[mock["label"].notna()]
    models = train_model_set(labelled, tmp_path / "models", models=("A",), folds=2, max_epochs=1, progress=False,
                             baseline=False)
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    # -vv: Dask's own INFO lines too, where a worker killed at shutdown would show
    result = subprocess.run(cli("-vv", "build-catalogue", "--input", str(tmp_path / "mock.parquet"),
                                "--columns", "mock", "--models", str(models), "--out", str(out), "--workers", "1",
                                "--quiet"),
                            capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
                            preexec_fn=lambda: os.umask(0o027))
    assert result.returncode == 0, result.stderr[-3000:]
    for noise in ("cuInit", "CUDA error", "still alive", "killed by signal", "Traceback", "absl::InitializeLog"):
        assert noise not in result.stderr, (noise, result.stderr[-3000:])
    for name in ("catalogue.parquet", "catalogue.fits", "provenance.json", "summary.txt", "summary.md",
                 "summary.json", "figures/agn_fraction_map.png", "catalogue/properties",
                 "catalogue/provenance.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o640, name
    record = json.loads((out / "provenance.json").read_text())
    from datetime import datetime

    started = datetime.fromisoformat(record["started_utc"]).timestamp()
    ingested = (out / "input_store" / "properties").stat().st_mtime  # the ingest ends before classification
    assert started + 1 <= ingested, (record["started_utc"], ingested)
    assert record["execution"]["classification_started_utc"] >= record["started_utc"]
    assert record["execution"]["command"].startswith("nepagn -vv build-catalogue --input")
    assert record["column_map"]["path"] == str(catalogs_dir() / "columns" / "mock.toml")


def test_a_heartbeat_cut_off_by_the_workers_own_close_is_not_reported_but_a_lost_scheduler_is(tmp_path):
    """A real worker of a real scheduler: while it runs, a failed heartbeat is logged; once it is closing (a
    heartbeat in flight when nepagn closes its cluster after a finished command), the traceback is dropped."""
    import asyncio
    import logging

    from distributed import Scheduler, Worker

    from nepagn.worker_plugins import HeartbeatCutByClose

    message = "Failed to communicate with scheduler during heartbeat."

    async def statuses() -> list[bool]:
        async with Scheduler(dashboard_address=":0") as scheduler, Worker(scheduler.address, nthreads=1) as worker:
            quiet = HeartbeatCutByClose(worker)
            record = logging.LogRecord("distributed.worker", logging.ERROR, __file__, 0, message, None, None)
            running = quiet.filter(record)
            await worker.close()
            return [running, quiet.filter(record)]

    assert asyncio.run(statuses()) == [True, False]
