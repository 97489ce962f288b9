"""Per-partition overhead of build-catalogue's task: the time of `build_partition` outside the networks.

In this process, on one thread (TF and ONNX Runtime bound to 1 thread, as on a single-threaded Dask worker), no
scheduler in the way: every partition of a mock store goes through `build_partition` (read,
preprocess, features, networks, merge, write, hashes, done record), after one untimed partition
that loads the model set and builds its sessions. The time inside the networks
(`ModelSet._run`: batches, session calls, their outputs joined) is measured apart; the rest, per
partition, is the overhead the pipeline adds around them. Less noisy than the Dask-level ratio of
inference_efficiency.py on a shared machine, because both parts are timed in the same calls.
The SHA-256 over all output partitions and done records shows that two code versions wrote the
same bytes.

    python benchmarks/partition_overhead.py --sources 100000 --folds 3 --workdir /tmp/nepagn-bench
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import benchlib


def partition_jobs(store_path: Path, modeldir: Path, out: Path) -> list:
    """The PartitionJobs build-catalogue would submit for a fresh OUTDIR (same keys and run id)."""
    from nepagn.model.manifest import Manifest
    from nepagn.pipeline.partition_task import PartitionJob
    from nepagn.pipeline.provenance import build_run_id, config_hash, partition_key
    from nepagn.pipeline.summary import SKY_MAP_ORDER
    from nepagn.preprocess import PreprocessConfig
    from nepagn.schema import TRUE_CLASS
    from nepagn.store import open_store

    store = open_store(store_path)
    info = Manifest.read(modeldir)
    settings = PreprocessConfig().to_dict()
    digest = config_hash({"preprocess": settings, "sky_map_order": SKY_MAP_ORDER})
    run_id = build_run_id(store.snapshot_id, info.model_set_id, digest)
    return [
        PartitionJob(
            store_path=str(store.path.resolve()), order=p.order, pixel=p.pixel, partition_hash=store.partition_hash(p),
            out_root=str(out / "catalogue"), done_dir=str(out / "done"),
            key=partition_key(store.partition_hash(p), info.model_set_id, digest, run_id),
            modeldir=str(modeldir.resolve()), model_set_id=info.model_set_id, run_id=run_id, preprocess=settings,
            with_truth=TRUE_CLASS in store.columns,
        )
        for p in store.partitions
    ]


def outputs_digest(out: Path) -> str:
    """SHA-256 over every output partition and done record, in path order."""
    digest = hashlib.sha256()
    for path in sorted((out / "catalogue").rglob("*.parquet")) + sorted((out / "done").glob("*.json")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=100_000, help="mock catalogue size (default 100000)")
    parser.add_argument("--folds", type=int, default=3, help="fold networks per model in the model set (default 3)")
    parser.add_argument("--max-epochs", type=int, default=2, help="epochs of the brief training (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over all partitions (default 3)")
    parser.add_argument("--workdir", type=Path, help="scratch folder, reused between runs (default: a temp dir)")
    args = parser.parse_args()

    from nepagn.cluster import apply_tf_thread_limit

    apply_tf_thread_limit(1)
    from nepagn.pipeline.partition_task import build_partition, model_set_for
    from nepagn.store import open_store

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    benchlib.print_header("per-partition overhead of build_partition (in process, 1 thread)")
    store = benchlib.make_store(workdir, args.sources)
    models = benchlib.make_model_set(workdir, args.folds, args.max_epochs)
    out = workdir / "out-partition-overhead"
    shutil.rmtree(out, ignore_errors=True)
    jobs = partition_jobs(store, models, out)

    model_set = model_set_for(jobs[0].modeldir, jobs[0].model_set_id)
    run_networks = model_set._run
    inside = [0.0]

    def timed_networks(*call_args):
        start = time.perf_counter()
        try:
            return run_networks(*call_args)
        finally:
            inside[0] += time.perf_counter() - start

    model_set._run = timed_networks  # this instance only: the one the tasks use in this process
    build_partition(jobs[0])  # untimed: builds the sessions, imports the writers
    overheads, networks = [], []
    for _ in range(args.repeats):
        inside[0] = 0.0
        start = time.perf_counter()
        for job in jobs:
            build_partition(job)
        total = time.perf_counter() - start
        networks.append(inside[0] / len(jobs))
        overheads.append((total - inside[0]) / len(jobs))
    rows = open_store(store).num_rows
    print(f"load_avg_after: {benchlib.machine_info()['load_avg_1_5_15']}")
    print(f"sources: {args.sources}  partitions: {len(jobs)}  rows per partition: {rows / len(jobs):,.0f}")
    print("per partition, each pass: networks " + ", ".join(f"{1000 * s:.0f}" for s in networks)
          + " ms; outside the networks " + ", ".join(f"{1000 * s:.1f}" for s in overheads) + " ms")
    print(f"median outside the networks: {1000 * statistics.median(overheads):.1f} ms per partition")
    print(f"RATIO networks / whole task (median): "
          f"{statistics.median(n / (n + o) for n, o in zip(networks, overheads, strict=True)):.3f}")
    print(f"outputs sha256: {outputs_digest(out)}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
