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
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from nepagn.bands import Band
from nepagn.evaluation.recipes import Recipe
from nepagn.model.cv import inner_split, network_seed, rows_of_objects, stratified_folds
from nepagn.model.hgb import fit_hgb_member
from nepagn.model.modeldir import INNER_FILE, OOF_FILE  # an EVALDIR uses the MODELDIR file names
from nepagn.schema import SOURCE_ID, agn_labels

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


def _bound_tf_threads() -> None:
    from nepagn.cluster import apply_tf_thread_limit

    apply_tf_thread_limit(int(os.environ.get("TF_NUM_INTRAOP_THREADS", "1")))


def _fit_network_member(recipe, spec, frame, y, fit_rows, monitor_rows, seed):
    from nepagn.model.loop import fit_network

    spec = spec.fit(frame.iloc[fit_rows])
    result = fit_network(
        spec.transform(frame.iloc[fit_rows]), y[fit_rows], spec.transform(frame.iloc[monitor_rows]), y[monitor_rows],
        recipe.model, recipe.training, seed=seed,
    )

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(result.model(spec.transform(frame.iloc[rows]), training=False)).reshape(-1)

    return predict, result.epochs_run, result.model


def _fit_hgb_member(frame, bands, y, fit_rows, seed, colours=None):
    member = fit_hgb_member(frame, bands, y, fit_rows, seed, colours)
    return (lambda rows: member.predict(frame.iloc[rows])), int(member.estimator.n_iter_), member


@dataclass(frozen=True)
class FittedFold:
    """A recipe's members fitted on one outer fold's training rows, their inner held-out scores and threshold."""

    predictors: list[Callable[[np.ndarray], np.ndarray]]  # per member: frame row positions -> P(AGN)
    members: list  # per member: the HgbMember (gradient boosting) or the Keras network
    inner_rows: np.ndarray
    inner_scores: np.ndarray
    threshold: float
    epochs: list[int]

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Every member's P(AGN) for the given frame rows, shape (members, rows)."""
        return np.vstack([predict(rows) for predict in self.predictors])


def _inner_splits(
    recipe: Recipe, y: np.ndarray, train_rows: np.ndarray, seed: int, groups: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) per member: an inner stratified K-fold (members > 1) or one inner split,
    drawn over objects (`groups`) so that all rows of an object fall on the same side."""
    if groups is None:
        objects, y_objects = train_rows, y[train_rows]
    else:
        objects, first = np.unique(groups[train_rows], return_index=True)
        y_objects = y[train_rows[first]]
    if recipe.members > 1:
        inner = StratifiedKFold(recipe.members, shuffle=True, random_state=seed).split(objects, y_objects)
        object_splits = [(objects[a], objects[b]) for a, b in inner]
    else:
        fraction = recipe.training.inner_fraction if recipe.training else 0.1
        object_splits = [inner_split(objects, y_objects, fraction, seed)]
    if groups is None:
        return object_splits
    in_train = groups[train_rows]
    return [(train_rows[rows_of_objects(in_train, a)], train_rows[rows_of_objects(in_train, b)])
            for a, b in object_splits]


def fit_fold(
    recipe: Recipe, bands: tuple[Band, ...], frame: pd.DataFrame, y: np.ndarray, train_rows: np.ndarray, seed: int,
    groups: np.ndarray | None = None,
) -> FittedFold:
    """Fit `recipe` on `train_rows` of `frame` only: its members, inner held-out scores and AGN threshold.

    groups: per row of `frame`, the object it belongs to (degraded copies of one labelled source share
    it); the inner splits then keep every object's rows together, so no copy of an inner held-out
    object is fitted on. None: every row is its own object.
    """
    from nepagn.features import FeatureSpec
    from nepagn.model.metrics import THRESHOLD_RULES, choose_threshold

    splits = _inner_splits(recipe, y, train_rows, seed, groups)
    spec = None
    if recipe.kind == "network":
        spec = FeatureSpec(bands=bands, **{k: v for k, v in recipe.features.items() if k in
                                           ("missing", "mask_channel", "standardise", "colour_channel")})
    predictors, members, inner_ids, inner_p, epochs = [], [], [], [], []
    for member, (fit_rows, monitor_rows) in enumerate(splits):
        if recipe.kind == "network":
            predict, n_epochs, fitted = _fit_network_member(recipe, spec, frame, y, fit_rows, monitor_rows,
                                                            seed + member)
        else:
            predict, n_epochs, fitted = _fit_hgb_member(frame, bands, y, fit_rows, seed + member,
                                                        recipe.features.get("colours"))
        predictors.append(predict)
        members.append(fitted)
        inner_ids.append(monitor_rows)
        inner_p.append(predict(monitor_rows))
        epochs.append(n_epochs)
    inner_rows, inner_scores = np.concatenate(inner_ids), np.concatenate(inner_p)
    if recipe.threshold_rule == "eq3":
        threshold = choose_threshold(y[inner_rows], inner_scores, recipe.model.weight_n)
    else:
        threshold = THRESHOLD_RULES[recipe.threshold_rule](y[inner_rows], inner_scores)
    return FittedFold(predictors, members, inner_rows, inner_scores, threshold, epochs)


def run_fold(task: FoldTask, frame: pd.DataFrame) -> dict[str, Any]:
    """Train `task.recipe` on the training folds of `task.fold`, predict the outer fold; never look at it."""
    _bound_tf_threads()
    start = time.perf_counter()
    recipe = task.recipe
    y = labels_of(frame)
    outer = stratified_folds(y, task.n_folds, task.seed)
    train_rows, valid_rows = np.flatnonzero(outer != task.fold), np.flatnonzero(outer == task.fold)
    fitted = fit_fold(recipe, task.bands, frame, y, train_rows, network_seed(task.seed, task.fold, recipe.name))
    members = fitted.scores(valid_rows)
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
    if client is not None:
        remote = client.scatter(frame, broadcast=True)
        futures = [client.submit(run_fold, task, remote, pure=False) for task in tasks]
        from distributed import as_completed

        iterator = as_completed(futures)
    else:
        iterator = (run_fold(task, frame) for task in tasks)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(tasks), desc="CV folds", unit="fold")
    results = [item.result() if client is not None else item for item in iterator]
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pd.concat([r["oof"] for r in results], ignore_index=True).to_parquet(tmp / OOF_FILE, index=False)
    pd.concat([r["inner"] for r in results], ignore_index=True).to_parquet(tmp / INNER_FILE, index=False)
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
    (tmp / RUN_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    log.info("wrote %d fold results to %s in %.0f s", len(results), out_dir, record["wall_seconds"])
    return out_dir
