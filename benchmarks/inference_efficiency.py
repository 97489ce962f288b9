"""Inference efficiency: build-catalogue's partition stage against a bare loop over the same model sessions.

In one run, on a LocalCluster of one single-threaded worker process (the unit a cluster scales):
1. a mock catalogue is simulated, ingested, and Models A, B, C are trained briefly (the cost of
   inference depends on the number of member networks, not on how well they fit);
2. every worker loads the model set and builds its ONNX Runtime sessions (untimed, as in any long build);
3. build-catalogue runs; the stage time is the span of its per-partition tasks (read partition,
   preprocess, features, all member networks, merge, write the partition and its done record);
4. on the same worker, the same sessions run in a bare loop on the same input arrays
   held in memory; then numpy's float32 matmul is timed on one thread in that process.
Figures: stage throughput / bare throughput (target >= 0.7), the stage's and the bare loop's GFLOP/s
(the network's exact FLOP count) against the matmul
GFLOP/s (stage target >= 0.5). The model set has the catalogue recipe's inputs (4 channels per band,
one feature spec per fold).

    python benchmarks/inference_efficiency.py --sources 200000 --folds 10
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
    parser.add_argument("--folds", type=int, default=10, help="fold networks per model in the model set (default 10)")
    parser.add_argument("--max-epochs", type=int, default=2, help="epochs of the brief training (default 2)")
    parser.add_argument("--workdir", type=Path, help="scratch folder, reused between runs (default: a temp dir)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    benchlib.print_header("inference efficiency (1 worker process, 1 thread)")
    with benchlib.local_cluster(workers=1) as client:
        store = benchlib.make_store(workdir, args.sources, client=client)
        models = benchlib.make_model_set(workdir, args.folds, args.max_epochs, client=client)
        benchlib.warm_up(store, models, client)
        out = workdir / "out-efficiency"
        shutil.rmtree(out, ignore_errors=True)
        build = benchlib.timed_build(store, models, out, client)
        bare = client.submit(benchlib.bare_inference, str(store), str(models), pure=False).result()
    shutil.rmtree(out, ignore_errors=True)

    objects = bare["objects"]
    flops = benchlib.forward_flops(int(bare["n_bands"]), int(bare["n_channels"]))
    per_object = flops["total"] * bare["members"]
    stage_rate = objects / build["stage_s"]
    bare_rate = objects / bare["bare_s"]
    bare_gflops = per_object * bare_rate / 1e9
    stage_gflops = per_object * stage_rate / 1e9
    print(f"load_avg_after: {benchlib.machine_info()['load_avg_1_5_15']}")
    print(f"sources: {args.sources}  classified (through the networks): {objects}  partitions: {build['partitions']}")
    print(f"member networks: {bare['members']} (3 models x {args.folds} folds), bands: {bare['n_bands']}, "
          f"channels per band: {bare['n_channels']}")
    print(f"FLOP per forward pass: {flops['total']} ({flops})")
    print(f"FLOP per object, all members: {per_object / 1e6:.2f} MFLOP")
    print(f"build-catalogue wall (incl. single-file Parquet, FITS, figures): {build['wall_s']:.2f} s")
    print(f"partition stage: {build['stage_s']:.2f} s = {stage_rate:,.0f} objects/s = {stage_gflops:.1f} GFLOP/s")
    print(f"bare loop: {bare['bare_s']:.2f} s = {bare_rate:,.0f} objects/s = {bare_gflops:.1f} GFLOP/s")
    print(f"numpy float32 matmul, 1 thread: {bare['matmul_gflops_1thread']:.1f} GFLOP/s")
    print(f"RATIO stage / bare throughput: {stage_rate / bare_rate:.3f}  (target >= 0.7)")
    print(f"RATIO bare loop / matmul GFLOP/s: {bare_gflops / bare['matmul_gflops_1thread']:.3f}")
    stage_share = stage_gflops / bare['matmul_gflops_1thread']
    print(f"RATIO partition stage / matmul GFLOP/s: {stage_share:.3f}  (target >= 0.5)")
    print(f"RATIO whole command / bare throughput: {objects / build['wall_s'] / bare_rate:.3f}")
    print(f"worker peak RSS: {build['worker_peak_rss_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
