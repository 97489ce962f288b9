"""Adding a new survey by position (`nepagn update --match-radius`): match quality against the simulated truth,
cost as a ratio to a full rebuild, and peak memory, in one run.

The mock NEP-Wide catalogue of N sources (`nepagn simulate`, seed 0) is the store; `nepagn simulate-survey`'s
model (nepagn.simulate.survey, default settings: 0.3 arcsec scatter per coordinate, 3% missed, 2% resolved
into a companion, blends closer than 2 arcsec, 3% extra sources, four new Euclid-like bands, no labels) is
the new survey. A quick model set is trained and the base catalogue built once (untimed). Each timed run
gets a fresh LocalCluster with TensorFlow imported on its workers, as the command it stands for starts
one (a worker reused from earlier runs keeps their memory: the 10x figures of 2026-11-30 04:25 were
measured that way), with every worker's and the client's resident memory sampled every 0.2 s:
  full:    ingest of the N sources + build-catalogue into a fresh folder (what a rebuild costs);
  drop:    the survey added by position to a copy of the base (unmatched survey sources left out):
           the store gains the survey's columns, no catalogue partition changes;
  append:  the same on another copy with unmatched survey sources appended as new rows (they fall in
           nearly every partition, so nearly every catalogue partition is recomputed).
The crossmatch itself (LSDB pairs, the match rule, the re-keyed rows) is timed inside each update; one
untimed crossmatch first compiles hats' numba functions in the client process (a one-off per process).
Completeness and false-match rate come from nepagn.crossmatch.quality against the survey's truth columns.

    python benchmarks/crossmatch_update.py --n-sources 91861 --workers 2 --workdir /tmp/nepagn-xmatch
    python benchmarks/crossmatch_update.py --n-sources 918610 --workers 2 --workdir /tmp/nepagn-xmatch10
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402


def timed_position_update():
    """Wrap nepagn.crossmatch.rows.position_update so each call's seconds are recorded (the update imports it
    at call time)."""
    import nepagn.crossmatch.rows as rows

    original = rows.position_update
    seconds: list[float] = []

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    rows.position_update = wrapper
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-sources", type=int, default=91861)
    parser.add_argument("--max-rows", type=int, default=5000, help="rows per store partition")
    parser.add_argument("--radius", type=float, default=1.5, help="match radius, arcsec")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from nepagn.columnmap import ColumnMap
    from nepagn.crossmatch.options import MatchOptions
    from nepagn.crossmatch.pairs import candidate_pairs
    from nepagn.crossmatch.quality import match_quality
    from nepagn.ingest import ingest
    from nepagn.model.training import train_model_set
    from nepagn.pipeline.build import build_catalogue
    from nepagn.resources import catalogs_dir
    from nepagn.simulate.footprint import sample_positions
    from nepagn.simulate.survey import SurveyConfig, column_map_text, registry_text, simulate_survey
    from nepagn.update.bands import activate
    from nepagn.update.run import update_catalogue

    benchlib.print_header(f"crossmatch update, {args.n_sources} sources")
    work = Path(args.workdir or f"/tmp/nepagn-xmatch-{args.n_sources}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mock = work / "mock.parquet"
    made = benchlib.write_mock_parquet(mock, args.n_sources, seed=0)
    print(f"mock: {args.n_sources} sources in {made['seconds']:.1f} s")
    start = time.perf_counter()
    config = SurveyConfig()
    frame = pd.read_parquet(mock)
    survey = simulate_survey(frame, config, seed=0)
    labelled = frame[frame["label"].notna()].reset_index(drop=True)
    del frame
    survey.to_parquet(work / "survey.parquet", index=False)
    (work / "survey.toml").write_text(column_map_text(config))
    (work / "survey_bands.csv").write_text(registry_text(config))
    kinds = survey["TRUE_KIND"].value_counts().to_dict()
    print(f"survey: {len(survey)} sources {kinds} in {time.perf_counter() - start:.1f} s")
    del survey
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")
    seconds = timed_position_update()
    with benchlib.local_cluster(args.workers) as client:
        ingest(mock, cmap, work / "store", args.max_rows, client)
        models = train_model_set(labelled, work / "models", folds=2, max_epochs=5, client=client, progress=False)
        build_catalogue(work / "store", models, work / "base_out", client)
    start = time.perf_counter()  # a first crossmatch in a process compiles hats' numba functions: untimed
    warm_ra, warm_dec = sample_positions(np.random.default_rng(1), 5000)
    candidate_pairs(work / "store", warm_ra, warm_dec, args.radius, None, 32, args.max_rows)
    print(f"warm-up crossmatch (numba compilation in this process): {time.perf_counter() - start:.1f} s")
    rows = []
    with benchlib.local_cluster(args.workers, tensorflow=True) as client, benchlib.PeakRss() as peak:
        peak.watch(benchlib.worker_pids(client))
        peak.watch([os.getpid()])
        load = os.getloadavg()[0]
        start = time.perf_counter()
        ingest(mock, cmap, work / "full_store", args.max_rows, client)
        full = build_catalogue(work / "full_store", models, work / "full_out", client)
        t_full = time.perf_counter() - start
        rows.append(("full rebuild (ingest + build-catalogue)", t_full, None, len(full.computed),
                     len(full.computed), load, _peaks(peak), None))
    for mode in ("drop", "append"):
        store, out = work / f"store_{mode}", work / f"out_{mode}"
        shutil.copytree(work / "store", store)
        shutil.copytree(work / "base_out", out, symlinks=True)
        with benchlib.local_cluster(args.workers, tensorflow=True) as client:
            with benchlib.PeakRss() as peak:
                peak.watch(benchlib.worker_pids(client))
                peak.watch([os.getpid()])
                load = os.getloadavg()[0]
                start = time.perf_counter()
                result = update_catalogue(store, out, work / "survey.parquet", work / "survey.toml", client,
                                          band_registry=work / "survey_bands.csv",
                                          match=MatchOptions(args.radius, unmatched=mode))
                elapsed = time.perf_counter() - start
            activate(None, client)
        quality = match_quality(store, work / "survey.parquet")
        rows.append((f"survey by position, --unmatched {mode}", elapsed, seconds[-1], len(result.computed),
                     len(result.computed) + len(result.reused), load, _peaks(peak),
                     (quality, result.crossmatch["counts"])))

    print(f"\nN = {args.n_sources} sources, {args.max_rows} rows per partition, {args.workers} workers, "
          f"radius {args.radius} arcsec; load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| run | seconds | of which crossmatch | partitions recomputed | ratio to full rebuild | load (1 min) at "
          "start | worker peak RSS | client peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for name, secs, match_s, computed, total, load, (worker, client_peak), _ in rows:
        crossmatch = f"{match_s:.1f}" if match_s is not None else "-"
        print(f"| {name} | {secs:.1f} | {crossmatch} | {computed} of {total} | {secs / t_full:.3f} | {load:.2f} | "
              f"{worker:.2f} GiB | {client_peak:.2f} GiB |")
    print("\n| run | completeness | false-match rate | attached (correct) | with counterpart | appended "
          "(with a stored counterpart) | matched | secondary | left out | survey sources with >1 stored "
          "candidate | stored sources with >1 survey candidate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, *_, extra in rows:
        if extra is None:
            continue
        quality, counts = extra
        print(f"| {name} | {quality['completeness']:.4f} | {quality['false_match_rate']:.4f} | "
              f"{quality['attached']} ({quality['attached_correctly']}) | {quality['with_stored_counterpart']} | "
              f"{quality['appended']} ({quality['appended_with_stored_counterpart']}) | {counts['matched']} | "
              f"{counts['secondary']} | {counts['left_out']} | "
              f"{counts['survey_sources_with_several_stored_candidates']} | "
              f"{counts['stored_sources_with_several_survey_candidates']} |")
        print(f"  by kind: {quality['by_kind']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _peaks(peak) -> tuple[float, float]:
    """(largest worker peak, client peak) in GiB."""
    me = os.getpid()
    workers = max((v for k, v in peak.peaks.items() if k != me), default=0) / benchlib.GIB
    return workers, peak.peaks.get(me, 0) / benchlib.GIB


if __name__ == "__main__":
    main()
