"""Mock catalogue speed and streaming memory: sources per second, and peak RSS at two catalogue sizes.

Run: python benchmarks/simulate_scale.py [--sizes 200000 800000]
Each size runs `nepagn simulate` in a fresh process streaming to Parquet; the peak resident memory of that
process should not grow with the number of sources (ratio near 1), since only one block is held at a time.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import resource, sys, time
from nepagn.cli import main
start = time.perf_counter()
status = main(["simulate", "--n-sources", sys.argv[1], "--seed", "0", "--out", sys.argv[2], "--no-progress"])
elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
sys.exit(status)
"""


def run_once(n_sources: int, folder: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one `nepagn simulate` run in a fresh process."""
    out = folder / f"mock_{n_sources}.parquet"
    result = subprocess.run([sys.executable, "-c", CHILD, str(n_sources), str(out)], capture_output=True, text=True,
                            check=True)
    seconds, rss = (float(v) for v in result.stdout.split()[-2:])
    return seconds, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[200_000, 800_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {n: run_once(n, Path(folder)) for n in args.sizes}
    small, large = args.sizes
    for n, (seconds, rss) in results.items():
        print(f"n={n:>10,d}  wall {seconds:7.1f} s  {n / seconds:9.0f} sources/s  peak RSS {rss:7.0f} MiB")
    print(f"per-source time ratio {large:,}/{small:,}: {results[large][0] / large / (results[small][0] / small):.2f}")
    print(f"peak RSS ratio {large:,}/{small:,}: {results[large][1] / results[small][1]:.2f}")
    print(f"(own process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.0f} MiB; {time.ctime()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
