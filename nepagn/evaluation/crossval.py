"""Repeated stratified K-fold CV under the strict protocol, one Dask task per (recipe, seed, outer fold).

Strict: the outer validation fold is used for nothing but scoring. Early stopping, the AGN
threshold and the calibration data all come from inner rows of the training folds. Output
(an EVALDIR) uses the MODELDIR schema, so `nepagn report` reads both:
    oof_predictions.parquet    source_id, model, fold, seed, y_true, p_agn, p_agn_std, threshold, protocol
    inner_predictions.parquet  source_id, model, fold, seed, y_true, p_agn (inner out-of-fold, for calibration)
    run.json                   recipes, bands, folds, seeds, epoch caps, wall time, command
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band
from nepagn.cluster import bound_task_threads
from nepagn.files import atomic_directory
from nepagn.model.cv import network_seed, stratified_folds
from nepagn.model.fold_fit import fit_fold
from nepagn.model.modeldir import INNER_FILE, OOF_FILE  # an EVALDIR uses the MODELDIR file names
from nepagn.model.recipes import Recipe
from nepagn.schema import SOURCE_ID, agn_labels
from nepagn.tasks import run_tasks

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
PROTOCOL = "strict"


@dataclass(frozen=True)
class FoldTask:
    """One outer fold of one seed for one recipe, on one band list."""

    recipe: Recipe
    bands: tuple[Band, ...]
    seed: int
    fold: int
    n_folds: int


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """1 for AGN, 0 for SFG, from the canonical `label` column (rows must all be labelled)."""
    return agn_labels(frame).astype(np.int64)


def run_fold(task: FoldTask, frame: pd.DataFrame) -> dict[str, Any]:
    """Train `task.recipe` on the training folds of `task.fold`, predict the outer fold; never look at it."""
    bound_task_threads()
    start = time.perf_counter()
    recipe = task.recipe
    y = labels_of(frame)
    outer = stratified_folds(y, task.n_folds, task.seed)
    train_rows, valid_rows = np.flatnonzero(outer != task.fold), np.flatnonzero(outer == task.fold)
    fitted = fit_fold(recipe, task.bands, frame, y, train_rows, network_seed(task.seed, task.fold, recipe.name))
    members = fitted.predict_frame(frame.iloc[valid_rows])
    inner_rows, threshold = fitted.inner_rows, fitted.threshold
    ids = frame[SOURCE_ID].astype(str).to_numpy()
    common = {"model": recipe.name, "fold": task.fold, "seed": task.seed}
    return {
        "oof": pd.DataFrame({SOURCE_ID: ids[valid_rows], **common, "y_true": y[valid_rows],
                             "p_agn": members.mean(axis=0), "p_agn_std": members.std(axis=0),
                             "threshold": threshold, "protocol": PROTOCOL}),
        "inner": pd.DataFrame({SOURCE_ID: ids[inner_rows], **common, "y_true": y[inner_rows],
                               "p_agn": fitted.inner_scores}),
        "record": {**common, "epochs": fitted.epochs, "threshold": threshold, "seconds": time.perf_counter() - start},
    }


def run_cv(
    frame: pd.DataFrame,
    recipes: list[Recipe],
    bands: tuple[Band, ...] | dict[str, tuple[Band, ...]],
    out_dir: str | Path,
    seeds: list[int],
    n_folds: int = 10,
    client=None,
    progress: bool = False,
    note: str = "",
    command: str | None = None,
) -> Path:
    """Run every (recipe, seed, fold) as a task (on `client` if given), write an EVALDIR atomically.

    `bands` may map band-set names to band lists (an ablation): each recipe then runs on each set,
    named `<recipe>:<set>` in the output.
    """
    out_dir = Path(out_dir)
    if isinstance(bands, dict):
        variants = [(replace(r, name=f"{r.name}:{label}"), tuple(b)) for r in recipes for label, b in bands.items()]
    else:
        variants = [(r, tuple(bands)) for r in recipes]
    tasks = [FoldTask(r, b, s, k, n_folds) for r, b in variants for s in seeds for k in range(n_folds)]
    start = time.perf_counter()
    rows = client.scatter(frame, broadcast=True) if client is not None else frame
    results = run_tasks(client, run_fold, tasks, rows, description="CV folds", unit="fold", progress=progress)
    record = {
        "protocol": PROTOCOL,
        "n_folds": n_folds,
        "seeds": list(seeds),
        "bands": {r.name: [band.id for band in b] for r, b in variants},
        "n_rows": len(frame),
        "n_agn": int(labels_of(frame).sum()),
        "recipes": [r.describe() for r, _ in variants],
        "folds": sorted((r["record"] for r in results), key=lambda x: (x["model"], x["seed"], x["fold"])),
        "wall_seconds": time.perf_counter() - start,
        "command": command or " ".join(sys.argv),
        "note": note,
    }
    with atomic_directory(out_dir) as tmp:
        pd.concat([r["oof"] for r in results], ignore_index=True).to_parquet(tmp / OOF_FILE, index=False)
        pd.concat([r["inner"] for r in results], ignore_index=True).to_parquet(tmp / INNER_FILE, index=False)
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    log.info("wrote %d fold results to %s in %.0f s", len(results), out_dir, record["wall_seconds"])
    return out_dir
