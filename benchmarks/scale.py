"""Scale: build-catalogue wall time per source and peak memory per worker at growing catalogue sizes.

For each size, in one run: `nepagn simulate` writes the mock (a subprocess; its peak RSS shows the
streaming writer's bound), it is ingested into a HATS store on the cluster, every worker loads the
model set (untimed), then build-catalogue runs while a sampler reads the resident memory of every
worker process (and of this client process) every 0.2 s. Figures: seconds per source (partition
stage and whole command), their ratio to the previous size (target for 10^7 / 10^6: <= 1.2), and
peak RSS per worker (target < 2 GiB, independent of size). Sizes whose projected time exceeds
--max-minutes are not run: their projection from the largest measured size is printed instead.

    python benchmarks/scale.py --sizes 100000 1000000 10000000 --workers 2 --folds 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import benchlib
import cloudpickle

cloudpickle.register_pickle_by_value(benchlib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    parser.add_argument("--folds", type=int, default=3,
                        help="fold networks per model (default 3: build-catalogue's quick model set)")
    parser.add_argument("--max-epochs", type=int, default=2, help="epochs of the brief training (default 2)")
    parser.add_argument("--max-minutes", type=float, default=25.0,
                        help="skip a size whose projected simulate+ingest+build time exceeds this (default 25)")
    parser.add_argument("--workdir", type=Path, help="scratch folder, reused between runs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the mock inputs and stores for the next run")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    benchlib.print_header(f"scale ({args.workers} worker processes, 1 thread each)")
    rows = []
    seconds_per_source = None
    with benchlib.local_cluster(workers=args.workers) as client:
        models = benchlib.make_model_set(workdir, args.folds, args.max_epochs, client=client)
        for size in sorted(args.sizes):
            if seconds_per_source is not None and size * seconds_per_source / 60 > args.max_minutes:
                print(f"size {size}: NOT RUN; projected {size * seconds_per_source / 60:.0f} min "
                      f"(at {seconds_per_source * 1e6:.0f} us/source: the previous size's simulate, ingest and build, "
                      "less the steps whose output was reused) "
                      f"> --max-minutes {args.max_minutes:g}")
                continue
            start = time.perf_counter()
            source = workdir / f"mock-{size}-0.parquet"
            simulated = benchlib.write_mock_parquet(source, size) if not source.is_file() else None
            store = benchlib.make_store(workdir, size, client=client)
            benchlib.warm_up(store, models, client)
            out = workdir / f"out-scale-{size}"
            shutil.rmtree(out, ignore_errors=True)
            build = benchlib.timed_build(store, models, out, client)
            shutil.rmtree(out, ignore_errors=True)
            seconds_per_source = (time.perf_counter() - start) / size
            row = {"size": size, **build, "simulate": simulated}
            rows.append(row)
            print(f"size {size}: build wall {build['wall_s']:.1f} s ({build['wall_s'] / size * 1e6:.1f} us/source), "
                  f"partition stage {build['stage_s']:.1f} s ({build['stage_s'] / size * 1e6:.1f} us/source), "
                  f"{build['partitions']} partitions; peak RSS: worker {build['worker_peak_rss_gib']:.2f} GiB, "
                  f"client {build['client_peak_rss_gib']:.2f} GiB" +
                  (f"; simulate {simulated['seconds']:.0f} s, peak RSS {simulated['peak_rss_gib']:.2f} GiB"
                   if simulated else ""), flush=True)
            if not args.keep:
                source.unlink(missing_ok=True)
    print(f"load_avg_after: {benchlib.machine_info()['load_avg_1_5_15']}")
    for previous, current in pairwise(rows):
        factor = current["size"] / previous["size"]
        stage = (current["stage_s"] / current["size"]) / (previous["stage_s"] / previous["size"])
        wall = (current["wall_s"] / current["size"]) / (previous["wall_s"] / previous["size"])
        print(f"RATIO per-source time {current['size']}/{previous['size']} (x{factor:g} sources): "
              f"stage {stage:.3f}, whole command {wall:.3f}  (target <= 1.2)")
    if rows:
        print(f"MAX worker peak RSS over sizes: {max(r['worker_peak_rss_gib'] for r in rows):.2f} GiB (target < 2)")


if __name__ == "__main__":
    main()
