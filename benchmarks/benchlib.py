"""Shared pieces of the performance benchmarks: machine facts, FLOP counts, mock inputs, memory sampling.

Every benchmark prints figures measured in one run, so ratios compare like with like on a machine
that other people may be using at the same time; the load average is printed with each run.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # worker processes inherit it: no TF banner per worker

GIB = 1024**3


def machine_info() -> dict[str, str]:
    """Cores, CPU model, memory, load average and BLAS settings: the context every figure needs."""
    import psutil

    model = platform.processor() or "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory_gib": f"{psutil.virtual_memory().total / GIB:.1f}",
        "load_avg_1_5_15": " ".join(f"{x:.2f}" for x in load),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "python": sys.version.split()[0],
    }


def print_header(title: str) -> None:
    """The benchmark's title, the UTC time and the machine it runs on."""
    print(f"# {title}")
    print(f"utc: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}")
    for key, value in machine_info().items():
        print(f"{key}: {value}")


def forward_flops(n_bands: int, n_channels: int = 2) -> dict[str, int]:
    """FLOPs of one forward pass of the Chen et al. 2021 network, from the layer shapes (multiply-add = 2).

    Conv2D (1, 2) 'same' and Dense: 2 * inputs-per-output * outputs + bias; batch norm (inference):
    2 per element; ReLU: 1 per element; sigmoid: counted as 1.
    """
    from nepagn.model.network import CONV_FILTERS, DENSE_UNITS, KERNEL_SIZE

    positions = n_bands * n_channels
    counts = {"conv": 0, "batchnorm": 0, "relu": 0, "dense": 0}
    c_in = 1
    for filters in CONV_FILTERS:
        taps = KERNEL_SIZE[0] * KERNEL_SIZE[1] * c_in
        counts["conv"] += positions * filters * (2 * taps + 1)
        counts["batchnorm"] += 2 * positions * filters
        counts["relu"] += positions * filters
        c_in = filters
    width = positions * c_in
    for units in (*DENSE_UNITS, 1):
        counts["dense"] += units * (2 * width + 1)
        counts["relu"] += units
        width = units
    counts["total"] = sum(counts.values())
    return counts


def matmul_gflops(n: int = 1024, threads: int = 1, dtype=np.float32, seconds: float = 2.0) -> float:
    """GFLOP/s of numpy's BLAS matmul (n x n, `dtype`) on `threads` threads: the machine's practical limit."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        repeats, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            repeats += 1
        elapsed = time.perf_counter() - start
    return 2.0 * n**3 * repeats / elapsed / 1e9


def write_mock_parquet(path: Path, n_sources: int, seed: int = 0) -> dict[str, float]:
    """`nepagn simulate` in a subprocess (the real command, streaming); returns its wall time and peak RSS."""
    command = [sys.executable, "-m", "nepagn.cli", "simulate", "--n-sources", str(n_sources), "--seed", str(seed),
               "--out", str(path), "--no-progress"]
    with PeakRss() as peak:
        start = time.perf_counter()
        process = subprocess.Popen(command)
        peak.watch([process.pid])
        if process.wait() != 0:
            raise RuntimeError(f"{' '.join(command)} failed with exit status {process.returncode}")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_gib": peak.max_gib()}


def make_store(root: Path, n_sources: int, seed: int = 0, client=None, max_rows: int = 10_000) -> Path:
    """A mock catalogue of n_sources ingested into a HATS store under root (reused when already there)."""
    from nepagn.columnmap import ColumnMap
    from nepagn.ingest import ingest
    from nepagn.resources import catalogs_dir

    store = root / f"store-{n_sources}-{seed}-{max_rows}"
    if (store / "properties").is_file():
        return store
    source = root / f"mock-{n_sources}-{seed}.parquet"
    if not source.is_file():
        write_mock_parquet(source, n_sources, seed)
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")
    ingest(source, cmap, store, max_rows, client=client, overwrite=True)
    return store


def labelled_mock(n_sources: int = 91_861, seed: int = 0):
    """The labelled rows of the paper-sized mock (1,870 AGN + SFG with 44 bands at the default size)."""
    from nepagn.simulate import simulate_catalogue

    frame = simulate_catalogue(n_sources=n_sources, seed=seed)
    return frame[frame["label"].notna()].reset_index(drop=True)


def make_model_set(root: Path, folds: int, max_epochs: int, client=None) -> Path:
    """Models A, B, C trained briefly on the mock's labels with the catalogue recipe's inputs (strict protocol,
    per-fold standardisation, mask and colour channels; one network per fold): inference cost depends on the
    members and their inputs, not the fit."""
    from nepagn.model.config import load_training_config
    from nepagn.model.training import train_model_set

    out = root / f"models-catalogue-{folds}fold-{max_epochs}ep"
    if (out / "manifest.json").is_file():
        return out
    recipe = load_training_config(recipe="catalogue")
    train_model_set(labelled_mock(), out, folds=folds, protocol="strict", max_epochs=max_epochs, client=client,
                    progress=False, training=recipe, feature_options=recipe.features, networks=1,
                    baseline=False)
    return out


class PeakRss:
    """Samples the resident memory of given process ids in a background thread; keeps each one's peak."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._pids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def watch(self, pids: Iterable[int]) -> None:
        """Start sampling these processes too."""
        self._pids.extend(int(p) for p in pids)

    def max_gib(self) -> float:
        """The largest peak over all watched processes, GiB."""
        return max(self.peaks.values(), default=0) / GIB

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_once()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample_once()

    def _sample_once(self) -> None:
        import psutil

        for pid in list(self._pids):
            try:
                rss = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
            self.peaks[pid] = max(self.peaks.get(pid, 0), rss)


@contextmanager
def local_cluster(workers: int, tensorflow: bool = False) -> Iterator:
    """A Client on a LocalCluster of `workers` single-threaded worker processes, TF bound as in the CLI (and
    imported on every worker first with `tensorflow`, as build-catalogue, train and update do)."""
    from nepagn.cluster import cluster_client

    with cluster_client(workers=workers, threads_per_worker=1, tensorflow=tensorflow) as client:
        yield client


def worker_pids(client) -> list[int]:
    """Process ids of the cluster's workers (for memory sampling)."""
    return list(client.run(os.getpid).values())


def timed_build(store: Path, modeldir: Path, out: Path, client) -> dict[str, float]:
    """build-catalogue of store with modeldir into out on client: wall time, partition-stage span, worker peak RSS."""
    from distributed import get_task_stream

    from nepagn.pipeline.build import build_catalogue

    with PeakRss() as peak:
        peak.watch(worker_pids(client))
        peak.watch([os.getpid()])
        with get_task_stream(client) as stream:
            start = time.perf_counter()
            result = build_catalogue(store, modeldir, out, client)
            wall = time.perf_counter() - start
    spans = [
        (part["start"], part["stop"])
        for task in stream.data
        if str(task["key"]).startswith("build-partition")
        for part in task["startstops"]
        if part["action"] == "compute"
    ]
    stage = max(s for _, s in spans) - min(s for s, _ in spans) if spans else float("nan")
    client_peak = peak.peaks.get(os.getpid(), 0) / GIB
    worker_peak = max((v for k, v in peak.peaks.items() if k != os.getpid()), default=0) / GIB
    return {
        "wall_s": wall,
        "stage_s": stage,
        "partitions": len(result.computed),
        "worker_peak_rss_gib": worker_peak,
        "client_peak_rss_gib": client_peak,
    }


def classify_inputs(store_path: str, modeldir: str) -> tuple[object, dict[str, np.ndarray], int]:
    """In this process: the cached ModelSet and, per model, its member groups' input arrays of the rows to
    classify, stacked (groups, rows, ...) as its session takes them.

    Reads, preprocesses and transforms every partition exactly as build-catalogue does, so the
    arrays are the ones the pipeline feeds the networks.
    """
    import pandas as pd

    from nepagn.preprocess import TO_CLASSIFY, PreprocessConfig, preprocess
    from nepagn.store import open_store

    model_set = cached_model_set(modeldir)
    store = open_store(store_path)
    selected = []
    for partition in store.partitions:
        prepared = preprocess(store.read_partition(partition), PreprocessConfig())
        selected.append(prepared[prepared[TO_CLASSIFY].to_numpy(dtype=bool)])
    frame = pd.concat(selected)
    inputs = {
        name: np.stack([spec.transform(frame) for spec, _ in model_set._groups(name).values()])
        for name in model_set.names
    }
    return model_set, inputs, len(frame)


def cached_model_set(modeldir: str):
    """The ModelSet build-catalogue's tasks use in this process (same cache, same sessions)."""
    from nepagn.model.manifest import Manifest
    from nepagn.pipeline.partition_task import model_set_for

    return model_set_for(modeldir, Manifest.read(modeldir).model_set_id)


def warm_up(store: Path, modeldir: Path, client) -> None:
    """Load the models and build their sessions on every worker, untimed (as a long build would have)."""
    client.run(_warm_worker, str(store), str(modeldir))


def _warm_worker(store_path: str, modeldir: str) -> int:
    """On one worker: predict one partition's rows (loads and caches the model set, builds its sessions)."""
    from nepagn.store import open_store

    store = open_store(store_path)
    return len(cached_model_set(modeldir).predict_proba(store.read_partition(store.partitions[0])))


def bare_inference(store_path: str, modeldir: str, seconds: float = 1.0) -> dict[str, float]:
    """On a worker: the same model sessions called in a bare loop on in-memory input arrays.

    Runs the loop at least once and until `seconds` have passed; also measures numpy's float32
    matmul on one thread in the same process.
    """
    from nepagn.model.inference import BATCH_ROWS

    model_set, inputs, objects = classify_inputs(store_path, modeldir)
    sessions = model_set._sessions
    members = sum(len(group[1]) for name in model_set.names for group in model_set._groups(name).values())
    _, _, n_bands, n_channels, _ = next(iter(inputs.values())).shape
    passes, start = 0, time.perf_counter()
    while passes == 0 or time.perf_counter() - start < seconds:
        for name, x in inputs.items():
            for begin in range(0, x.shape[1], BATCH_ROWS):
                sessions[name](x[:, begin : begin + BATCH_ROWS])
        passes += 1
    elapsed = (time.perf_counter() - start) / passes
    return {
        "objects": objects,
        "bare_s": elapsed,
        "members": members,
        "n_bands": n_bands,
        "n_channels": n_channels,
        "matmul_gflops_1thread": matmul_gflops(threads=1),
    }
