"""FITS export memory: peak RSS of the streaming FITS writer at N and 10N rows, and rows per second.

Run: python benchmarks/fits_export_memory.py [--sizes 1000000 10000000] [--rows-per-partition 10000]

Synthetic partition files with the catalogue's column types (float64 and float32 with nulls, int64,
nullable int16, text with nulls, booleans and nullable booleans) are written first; then one fresh
process runs nepagn.fits_writer.write_fits_table over them while its resident memory is sampled
(benchlib.PeakRss). Memory should be set by one partition, not by the row count: ratio near 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from benchlib import PeakRss, machine_info, print_header

CHILD = """
import sys, time
from pathlib import Path
from nepagn.fits_writer import write_fits_table
files = sorted(Path(sys.argv[1]).glob("part-*.parquet"))
start = time.perf_counter()
rows = write_fits_table(files, sys.argv[2], {})
print(rows, time.perf_counter() - start)
"""


def write_partitions(folder: Path, n_rows: int, rows_per_partition: int, seed: int = 0) -> int:
    """n_rows synthetic catalogue rows as Parquet files of rows_per_partition rows; returns the file count."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    starts = range(0, n_rows, rows_per_partition)
    for index, start in enumerate(starts):
        n = min(rows_per_partition, n_rows - start)
        null = rng.random(n) < 0.3
        table = pa.table(
            {
                "source_id": pa.array([f"NEPW-{i:010d}" for i in range(start, start + n)]),
                "ra": rng.uniform(260, 280, n),
                "dec": rng.uniform(60, 70, n),
                "_healpix_29": rng.integers(0, 2**60, n, dtype=np.int64),
                "akari_n2_mag": pa.array(rng.normal(19, 1, n).astype(np.float32), mask=null),
                "p_agn_A": pa.array(rng.random(n), mask=null),
                "class_A": pa.array(np.where(rng.random(n) < 0.2, "AGN", "SFG"), mask=null),
                "n_agn_votes": pa.array(rng.integers(0, 4, n).astype(np.int16), mask=null),
                "training_object": rng.random(n) < 0.02,
                "unanimous": pa.array(rng.random(n) < 0.8, mask=null),
            }
        )
        pq.write_table(table, folder / f"part-{index:06d}.parquet")
    return len(starts)


def run_once(n_rows: int, rows_per_partition: int, workdir: Path) -> dict[str, float]:
    """Write the partitions, then the FITS file in a fresh process; its wall time, peak RSS and file size."""
    parts, out = workdir / f"parts-{n_rows}", workdir / f"cat-{n_rows}.fits"
    start = time.perf_counter()
    files = write_partitions(parts, n_rows, rows_per_partition)
    prepare = time.perf_counter() - start
    with PeakRss(interval=0.05) as peak:
        process = subprocess.Popen([sys.executable, "-c", CHILD, str(parts), str(out)], stdout=subprocess.PIPE,
                                   text=True)
        peak.watch([process.pid])
        stdout, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the FITS writer failed with exit status {process.returncode}")
    rows, seconds = stdout.split()[-2:]
    if int(rows) != n_rows:
        raise RuntimeError(f"the FITS writer wrote {rows} rows, not {n_rows}")
    size = out.stat().st_size
    for path in parts.iterdir():
        path.unlink()
    parts.rmdir()
    out.unlink()
    return {"files": files, "prepare_s": prepare, "write_s": float(seconds), "peak_gib": peak.max_gib(),
            "fits_mib": size / 1024**2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000_000, 10_000_000])
    parser.add_argument("--rows-per-partition", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp dir); files are removed")
    args = parser.parse_args()
    print_header("FITS export memory (nepagn.fits_writer)")
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        results = {n: run_once(n, args.rows_per_partition, Path(folder)) for n in args.sizes}
    for n, r in results.items():
        print(f"rows={n:>11,d}  files {r['files']:5d}  FITS {r['fits_mib']:6.0f} MiB  write {r['write_s']:6.1f} s "
              f"({n / r['write_s']:9,.0f} rows/s)  writer peak RSS {r['peak_gib']:5.2f} GiB  "
              f"(partitions prepared in {r['prepare_s']:.0f} s)")
    small, large = args.sizes
    print(f"peak RSS ratio {large:,}/{small:,}: {results[large]['peak_gib'] / results[small]['peak_gib']:.2f}")
    print(f"load_avg_after: {machine_info()['load_avg_1_5_15']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
