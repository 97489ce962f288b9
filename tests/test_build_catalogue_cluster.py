"""build-catalogue on a real external cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The CLI run against the scheduler's address must equal the LocalCluster build, and a build whose
worker is killed (SIGKILL, by pid) mid-build must still complete with identical output.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from distributed import Client

from nepagn.pipeline.build import build_catalogue

START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Terminate one process we started, by its pid; kill it if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """A real scheduler and two single-threaded workers (no nanny: a killed worker stays dead)."""
    root = tmp_path_factory.mktemp("external_cluster")
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    log = (root / "cluster.log").open("w")
    processes = [subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--dashboard-address", ":0"],
        stdout=log, stderr=subprocess.STDOUT,
    )]
    try:
        for index in range(2):
            processes.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--name", f"worker-{index}",
                 "--local-directory", str(root / f"worker-{index}"), "--death-timeout", "60"],
                stdout=log, stderr=subprocess.STDOUT,
            ))
        with Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield SimpleNamespace(address=address, scheduler=processes[0], workers=processes[1:], log=root / "cluster.log")
    finally:
        for process in reversed(processes):
            _stop(process)
        log.close()


def _data(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).sort_values("source_id", ignore_index=True)


def test_cli_on_external_scheduler_equals_local_cluster(external_cluster, reference_build, tiny_mock_store,
                                                        tiny_model_set, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nepagn.cli", "build-catalogue", "--store", str(tiny_mock_store),
               "--models", str(tiny_model_set), "--out", str(out), "--scheduler", external_cluster.address, "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "catalogue written to" in result.stdout
    pd.testing.assert_frame_equal(_data(out / "catalogue.parquet"), _data(reference_build.parquet))


def test_worker_killed_mid_build_still_completes_identically(external_cluster, reference_build, tiny_mock_store,
                                                             tiny_model_set, tmp_path):
    out = tmp_path / "out"
    done_dir = out / ".build" / "done"
    outcome: dict = {}
    with Client(external_cluster.address) as client:
        pids = client.run(os.getpid)
        assert {p.pid for p in external_cluster.workers} == set(pids.values())

        def build() -> None:
            try:
                outcome["result"] = build_catalogue(tiny_mock_store, tiny_model_set, out, client)
            except BaseException as exc:  # reported by the assertion below
                outcome["error"] = exc

        thread = threading.Thread(target=build)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        victim = None
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            busy = [address for address, keys in client.processing().items() if keys]
            if done_dir.is_dir() and any(done_dir.iterdir()) and busy:
                victim = busy[0]
            else:
                time.sleep(0.05)
        assert victim is not None, "the build finished (or never started) before a worker could be killed"
        finished_before_kill = len(list(done_dir.iterdir()))
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=600)
        assert not thread.is_alive()
        assert "error" not in outcome, repr(outcome.get("error"))
        remaining = client.scheduler_info(n_workers=-1)["workers"]
    assert victim not in remaining  # the worker really died during the build
    result = outcome["result"]
    assert finished_before_kill < len(result.computed)
    pd.testing.assert_frame_equal(_data(result.parquet), _data(reference_build.parquet))
