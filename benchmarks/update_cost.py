"""Cost of `nepagn update` touching 1% of the sources, as a ratio to a full rebuild of the catalogue.

In one run, on one LocalCluster: the mock NEP-Wide catalogue of N sources is cut into a base
(97%) and three 1% updates: two compact sky tiles (new field data: the realistic case) and one
scattered at random over the field (worst case: it touches nearly every partition). A quick model
set is trained once (not timed). Timed:
  full:    ingest of all N sources + build-catalogue from scratch (fresh output folder);
  tile 1:  the first update of a fresh base catalogue (includes the one-off version-0 indexing and
           adding the per-row input_id column to every store partition);
  tile 2, scattered:  later updates (steady state).
Ratios are update time / full time (smaller is better); partition counts come from the runs' records.
Workers are started and warmed (models loaded) before timing.

    python benchmarks/update_cost.py --n-sources 91861 --max-rows 2000 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from nepagn.cluster import cluster_client
from nepagn.columnmap import ColumnMap
from nepagn.ingest import ingest
from nepagn.pipeline.build import build_catalogue
from nepagn.resources import catalogs_dir
from nepagn.schema import DEC, LABEL, RA
from nepagn.update.run import update_catalogue

MOCK_MAP = catalogs_dir() / "columns" / "mock.toml"


def tile(frame, n: int, centre_ra: float, centre_dec: float) -> np.ndarray:
    """Indices of the n sources nearest to a point (a compact new tile)."""
    distance = (frame[RA] - centre_ra) ** 2 * np.cos(np.radians(centre_dec)) ** 2 + (frame[DEC] - centre_dec) ** 2
    return np.argsort(distance.to_numpy())[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-sources", type=int, default=91861)
    parser.add_argument("--max-rows", type=int, default=2000, help="rows per store partition")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    from nepagn.model.training import train_model_set
    from nepagn.simulate import simulate_catalogue

    work = Path(args.workdir or tempfile.mkdtemp(prefix="update_cost_"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    full = simulate_catalogue(n_sources=args.n_sources, seed=0)
    one = max(1, args.n_sources // 100)
    first_tile = tile(full, one, 269.0, 66.2)
    rest = np.setdiff1d(np.arange(len(full)), first_tile)
    second_tile = rest[tile(full.iloc[rest], one, 271.0, 67.0)]
    rest = np.setdiff1d(rest, second_tile)
    scattered = np.random.default_rng(1).choice(rest, one, replace=False)
    base = np.setdiff1d(rest, scattered)
    files = {}
    for name, rows in (("full", np.arange(len(full))), ("base", base), ("tile1", first_tile),
                       ("tile2", second_tile), ("scattered", scattered)):
        files[name] = work / f"{name}.parquet"
        full.iloc[np.sort(rows)].to_parquet(files[name], index=False)
    cmap = ColumnMap.load(MOCK_MAP)
    with cluster_client(workers=args.workers) as client:
        ingest(files["base"], cmap, work / "store", args.max_rows, client)
        labelled = full.iloc[base]
        models = train_model_set(labelled[labelled[LABEL].notna()], work / "models", folds=2, max_epochs=5,
                                 client=client, progress=False)
        build_catalogue(work / "store", models, work / "base_out", client)  # also warms the workers' model cache

        start = time.perf_counter()
        ingest(files["full"], cmap, work / "full_store", args.max_rows, client)
        full_build = build_catalogue(work / "full_store", models, work / "full_out", client)
        t_full = time.perf_counter() - start
        n_partitions = len(full_build.computed)

        rows = []
        for name in ("tile1", "tile2", "scattered"):
            start = time.perf_counter()
            result = update_catalogue(work / "store", work / "base_out", files[name], MOCK_MAP, client)
            seconds = time.perf_counter() - start
            rows.append((name, seconds, len(result.computed), len(result.computed) + len(result.reused)))

    print(f"N = {args.n_sources} sources, {args.max_rows} rows per partition, {args.workers} workers; "
          f"1% = {one} sources per update")
    print(f"full rebuild (ingest + build-catalogue): {t_full:.1f} s, {n_partitions} partitions")
    print("| update (1% of sources) | seconds | partitions recomputed | ratio to full rebuild |")
    print("|---|---|---|---|")
    for name, seconds, computed, total in rows:
        print(f"| {name} | {seconds:.1f} | {computed} of {total} | {seconds / t_full:.3f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
