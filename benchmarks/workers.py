"""Workers: build-catalogue with 1 and with 2 worker processes (1 thread each) on the same store, speed-up.

Both clusters load the model set on every worker before timing (untimed), then run the same
build into a fresh output folder.

    python benchmarks/workers.py --sources 200000 --folds 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import benchlib
import cloudpickle

cloudpickle.register_pickle_by_value(benchlib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=200_000, help="mock catalogue size (default 200000)")
    parser.add_argument("--folds", type=int, default=3, help="fold networks per model (default 3)")
    parser.add_argument("--max-epochs", type=int, default=2, help="epochs of the brief training (default 2)")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--workdir", type=Path, help="scratch folder, reused between runs (default: a temp dir)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    benchlib.print_header("workers (build-catalogue, 1 thread per worker process)")
    with benchlib.local_cluster(workers=max(args.counts)) as client:
        store = benchlib.make_store(workdir, args.sources, client=client)
        models = benchlib.make_model_set(workdir, args.folds, args.max_epochs, client=client)
    results = {}
    for count in args.counts:
        with benchlib.local_cluster(workers=count) as client:
            benchlib.warm_up(store, models, client)
            out = workdir / f"out-workers-{count}"
            shutil.rmtree(out, ignore_errors=True)
            results[count] = benchlib.timed_build(store, models, out, client)
            shutil.rmtree(out, ignore_errors=True)
        r = results[count]
        print(f"{count} worker(s): build wall {r['wall_s']:.1f} s, partition stage {r['stage_s']:.1f} s, "
              f"worker peak RSS {r['worker_peak_rss_gib']:.2f} GiB", flush=True)
    print(f"load_avg_after: {benchlib.machine_info()['load_avg_1_5_15']}")
    base = results[min(args.counts)]
    for count, r in results.items():
        if count != min(args.counts):
            stage = base["stage_s"] / r["stage_s"]
            print(f"SPEED-UP {count} vs {min(args.counts)} workers: partition stage {stage:.2f}x, "
                  f"whole command {base['wall_s'] / r['wall_s']:.2f}x  (sources {args.sources})")


if __name__ == "__main__":
    main()
