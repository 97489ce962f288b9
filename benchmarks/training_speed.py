"""Training speed: seconds per epoch against the FLOP bound of one epoch, and the full paper-protocol CV wall time.

In one run:
1. the labelled rows of the paper-sized mock (1,870 AGN + SFG, 44 bands; the mock's labelled
   fractions follow the paper's) are split by the 10-fold protocol; one network (Model A's loss)
   trains on 9 folds for a fixed number of epochs (Eq. 3 disabled so every run has the same
   length), in this process with TensorFlow bound to one thread, as on a one-thread Dask worker;
   a run of --epochs and one of a fifth of them: their difference is the cost of the epochs alone,
   the rest the fixed cost of a network (building it, tracing its compiled steps);
2. the FLOP bound of one epoch: training rows x (forward + backward = 3 forward passes) + monitor
   rows x 1 forward pass, at numpy's float32 matmul GFLOP/s on one thread measured in this run;
   steps 1 and 2 again for the catalogue's protocol (128-row mini-batches, 4 input channels);
3. fold 0 of Models A, B, C trained as `nepagn train` does (Eq. 3, epoch cap), here one after
   another: the full CV's wall time projected as 10 x their time / --workers;
4. with --cv: the full 10-fold x 3-model paper-protocol CV (`nepagn train` defaults: Eq. 3, up to
   3000 epochs) on a LocalCluster of --workers processes; its wall time, against the target of 30 min.

    python benchmarks/training_speed.py --epochs 100 --cv --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

PROTOCOLS: dict[str, dict[str, Any]] = {
    # the paper's: full-batch epochs on magnitude and error (2 channels), configs/training.toml
    "paper": {"recipe": "paper", "features": {}},
    # the catalogue's (`nepagn train`, build-catalogue's quick set): 128-row mini-batches on standardised inputs with
    # mask and colour channels (4 channels), configs/training_catalogue.toml, here without the photometric
    # augmentation (numpy work per epoch, not the network's; the quick set trains on degraded copies without it)
    "catalogue": {"recipe": "catalogue", "features": {"standardise": True, "mask_channel": True,
                                                      "colour_channel": True}},
}


def epoch_timing(epochs: int, protocol: str = "paper") -> dict[str, Any]:
    """Seconds per epoch of one network on 9 of 10 folds of the mock's labels (one TF thread), trained as
    `protocol` trains it."""
    from nepagn.cluster import apply_tf_thread_limit

    apply_tf_thread_limit(1)
    from nepagn.features import FeatureSpec
    from nepagn.model.config import load_model_config, load_training_config
    from nepagn.model.cv import stratified_folds
    from nepagn.model.loop import fit_network
    from nepagn.model.training import default_bands

    labelled = benchlib.labelled_mock()
    y = (labelled["label"].astype("string") == "AGN").to_numpy()
    folds = stratified_folds(y, 10, 0)
    setting = PROTOCOLS[protocol]
    spec = FeatureSpec(bands=default_bands(labelled), **setting["features"]).fit(labelled[folds != 0])
    x = spec.transform(labelled)
    model = dataclasses.replace(load_model_config("A"), delta=float("-inf"))  # never stops early: fixed length
    training = load_training_config(recipe=setting["recipe"])  # fit_network augments only when given `augment`

    def timed_fit(epochs: int) -> float:
        start = time.perf_counter()
        result = fit_network(x[folds != 0], y[folds != 0], x[folds == 0], y[folds == 0], model, training, seed=0,
                             max_epochs=epochs)
        assert result.epochs_run == epochs
        return time.perf_counter() - start

    timed_fit(3)  # TensorFlow's first use in this process, outside the timing
    # every fit builds its network and traces its compiled steps anew: the difference of a short and a long
    # run is the cost of the epochs alone, the rest the fixed cost of a network
    short = max(1, epochs // 5)
    short_s, long_s = timed_fit(short), timed_fit(epochs)
    per_epoch = (long_s - short_s) / (epochs - short)
    return {
        "protocol": protocol,
        "batch_size": training.batch_size,
        "rows": len(labelled),
        "train_rows": int((folds != 0).sum()),
        "monitor_rows": int((folds == 0).sum()),
        "n_bands": x.shape[1],
        "n_channels": x.shape[2],
        "epochs": f"{short} and {epochs}",
        "seconds_per_epoch": per_epoch,
        "fixed_seconds": short_s - short * per_epoch,
        "matmul_gflops_1thread": benchlib.matmul_gflops(threads=1),
    }


def report_epochs(timing: dict[str, Any]) -> float:
    """Print one protocol's epoch cost against its FLOP bound; return seconds per epoch."""
    forward = benchlib.forward_flops(int(timing["n_bands"]), int(timing["n_channels"]))["total"]
    epoch_flops = 3 * forward * timing["train_rows"] + forward * timing["monitor_rows"]
    bound = epoch_flops / (timing["matmul_gflops_1thread"] * 1e9)
    per_epoch = timing["seconds_per_epoch"]
    batches = f"mini-batches of {timing['batch_size']}" if timing["batch_size"] else "full batch"
    print(f"[{timing['protocol']} protocol: {batches}, {timing['n_channels']} channels] labelled rows: "
          f"{timing['rows']} (train {timing['train_rows']}, monitor {timing['monitor_rows']}), "
          f"bands {timing['n_bands']}; runs of {timing['epochs']} epochs")
    print(f"  FLOP per epoch: {epoch_flops / 1e9:.2f} GFLOP (forward pass {forward} FLOP/row); "
          f"numpy float32 matmul, 1 thread: {timing['matmul_gflops_1thread']:.1f} GFLOP/s")
    print(f"  seconds per epoch: {per_epoch * 1e3:.1f} ms; FLOP bound {bound * 1e3:.1f} ms; "
          f"RATIO bound / measured {bound / per_epoch:.3f} ({epoch_flops / per_epoch / 1e9:.1f} GFLOP/s achieved)")
    print(f"  fixed cost of a network (building it, tracing its compiled steps): {timing['fixed_seconds']:.2f} s")
    return per_epoch


def full_cv(workers: int, workdir: Path) -> dict[str, float]:
    """Wall time of the 10-fold x 3-model paper-protocol CV on a LocalCluster; epochs each network ran."""
    import pandas as pd

    from nepagn.model.training import train_model_set

    labelled = benchlib.labelled_mock()
    out = workdir / f"cv-{time.time_ns()}"
    with benchlib.local_cluster(workers) as client:
        start = time.perf_counter()
        train_model_set(labelled, out, folds=10, protocol="paper", client=client, progress=True)
        wall = time.perf_counter() - start
    metrics = pd.read_csv(out / "metrics.csv")
    return {
        "wall_s": wall,
        "networks": len(metrics),
        "epochs_total": int(metrics["epochs_run"].sum()),
        "epochs_min": int(metrics["epochs_run"].min()),
        "epochs_max": int(metrics["epochs_run"].max()),
        "stopped_by_eq3": int((metrics["stop_reason"] == "eq3").sum()),
    }


def cv_subset(folds: int = 10) -> dict[str, Any]:
    """Fold 0 of Models A, B, C trained as `nepagn train` trains them (Eq. 3, epoch cap), one after another here."""
    from nepagn.features import FeatureSpec
    from nepagn.model.config import load_training_config
    from nepagn.model.cv import stratified_folds
    from nepagn.model.training import TrainingTask, default_bands, make_tasks, train_one

    labelled = benchlib.labelled_mock()
    y = (labelled["label"].astype("string") == "AGN").to_numpy()
    fold_table = stratified_folds(y, folds, 0)
    tasks = make_tasks(("A", "B", "C"), folds, (0,), "paper", load_training_config(),
                       FeatureSpec(bands=default_bands(labelled)), None)
    chosen = [task for task in tasks if isinstance(task, TrainingTask) and task.fold == 0]
    start = time.perf_counter()
    results = [train_one(task, labelled, fold_table) for task in chosen]
    return {
        "seconds": time.perf_counter() - start,
        "networks": len(results),
        "epochs": [r.epochs_run for r in results],
        "stop": [r.stop_reason for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="epochs of the timed network (default 100)")
    parser.add_argument("--cv", action="store_true", help="also run the full 10-fold x 3-model CV")
    parser.add_argument("--epochs-only", action="store_true",
                        help="time the epochs of both protocols only (no fold-0 training, no CV projection)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers for --cv (default 2)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp dir)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nepagn-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    benchlib.print_header("training speed")
    per_epoch = report_epochs(epoch_timing(args.epochs, "paper"))
    report_epochs(epoch_timing(args.epochs, "catalogue"))
    if args.epochs_only:
        print(f"load_avg_after: {benchlib.machine_info()['load_avg_1_5_15']}")
        return
    worst = 30 * 3000 * per_epoch / args.workers
    print(f"worst-case CV (30 networks x 3000 epochs, {args.workers} workers): {worst / 60:.0f} min projected")
    subset = cv_subset()
    projected = subset["seconds"] / subset["networks"] * 30 / args.workers
    print(f"CV subset (fold 0 of A, B, C, paper protocol, Eq. 3, one thread): {subset['seconds']:.0f} s, "
          f"epochs {subset['epochs']} ({subset['stop']}); projected full CV (30 networks, {args.workers} workers, "
          f"perfect sharing): {projected / 60:.1f} min (target < 30 min)")
    if args.cv:
        cv = full_cv(args.workers, workdir)
        print(f"load_avg_after_cv: {benchlib.machine_info()['load_avg_1_5_15']}")
        print(f"full CV (10 folds x A, B, C, paper protocol, {args.workers} workers): {cv['wall_s'] / 60:.1f} min "
              f"(target < 30 min); {cv['networks']} networks, {cv['epochs_total']} epochs in all "
              f"(min {cv['epochs_min']}, max {cv['epochs_max']}), {cv['stopped_by_eq3']} stopped by Eq. 3; "
              f"{cv['wall_s'] * args.workers / max(1, cv['epochs_total']) * 1e3:.1f} ms per epoch per worker")
    print(f"load_avg_after: {benchlib.machine_info()['load_avg_1_5_15']}")


if __name__ == "__main__":
    main()
