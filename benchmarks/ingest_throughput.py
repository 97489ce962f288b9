"""Ingest throughput (rows/s) as a ratio to pyarrow reading and writing the same data unpartitioned.

For each size, in one run: the mock NEP-Wide catalogue (nepagn.simulate) is written once as a
Parquet input; then timed, on the same machine: (a) baseline, pyarrow.parquet.read_table +
write_table of that file (one unpartitioned file); (b) `nepagn.ingest.ingest` in this process;
(c) `ingest` on a LocalCluster (worker processes started, and warmed by a tiny ingest, before
timing; the in-process path is warmed the same way). Ratios are baseline time / ingest time
(1.0 = as fast as plain pyarrow I/O).

    python benchmarks/ingest_throughput.py --sizes 91861 918610 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nepagn.columnmap import ColumnMap
from nepagn.ingest import DEFAULT_MAX_ROWS, ingest
from nepagn.resources import catalogs_dir


def make_input(path: Path, n_rows: int, seed: int) -> None:
    """The mock catalogue of n_rows sources as one Parquet file, written chunk by chunk."""
    from nepagn.simulate import iter_catalogue_chunks

    writer = None
    for frame in iter_catalogue_chunks(n_rows, seed=seed):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def timed_ingest(source: Path, cmap: ColumnMap, store: Path, max_rows: int, client=None) -> tuple[float, int]:
    """Seconds for one ingest and the number of partitions it wrote."""
    start = time.perf_counter()
    report = ingest(source, cmap, store, max_rows, client=client, overwrite=True)
    return time.perf_counter() - start, report.partitions


def baseline(source: Path, target: Path) -> float:
    """Seconds for pyarrow to read the input and write it back as one unpartitioned file."""
    return timed(lambda: pq.write_table(pq.read_table(source), target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[91_861, 918_610])
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (0: skip Dask)")
    parser.add_argument("--max-rows-per-partition", type=int, default=DEFAULT_MAX_ROWS)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")
    warm = workdir / "warm.parquet"
    make_input(warm, 2000, args.seed)
    ingest(warm, cmap, workdir / "warm-store", overwrite=True)  # imports and caches out of the timings
    client = cluster = None
    if args.workers:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
        ingest(warm, cmap, workdir / "warm-store", client=client, overwrite=True)
    print(f"max_rows_per_partition={args.max_rows_per_partition}, workers={args.workers}")
    print(
        "rows | input MB | pyarrow read+write: s, rows/s | ingest in-process: s, rows/s, ratio "
        "| ingest Dask: s, rows/s, ratio | partitions"
    )
    try:
        for n_rows in args.sizes:
            source = workdir / f"mock-{n_rows}.parquet"
            if not source.exists():
                make_input(source, n_rows, args.seed)
            base = baseline(source, workdir / "baseline.parquet")
            local, partitions = timed_ingest(source, cmap, workdir / "store-local", args.max_rows_per_partition)
            line = (
                f"{n_rows} | {source.stat().st_size / 1e6:.0f} | {base:.2f}, {n_rows / base:,.0f} "
                f"| {local:.2f}, {n_rows / local:,.0f}, {base / local:.3f}"
            )
            if client is not None:
                on_dask, partitions = timed_ingest(
                    source, cmap, workdir / "store-dask", args.max_rows_per_partition, client=client
                )
                line += f" | {on_dask:.2f}, {n_rows / on_dask:,.0f}, {base / on_dask:.3f}"
            line += f" | {partitions}"
            print(line, flush=True)
    finally:
        if client is not None:
            client.close()
            cluster.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
