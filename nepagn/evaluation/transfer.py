"""Bright-to-faint transfer on the real labelled sample: train on the brighter two thirds, score the fainter third.

The labelled sources of a survey are brighter than the sources its catalogue classifies. The real
14-band sample (Poliszczuk et al. 2021) has no unlabelled sources, but it has a spread in brightness:
sorted by HSC i (and separately by AKARI N2), its brightest two thirds train a classifier and its
faintest third is scored, against random splits of the same sizes. Each classifier runs as it is
and trained on copies of the bright rows degraded to the faint third's depth (nepagn.degrade; the
faint third's photometry is read, never its labels), so the shift remedy is measured on real data,
not only on the mock. Reported per (split, classifier, degradation): ROC AUC, balanced accuracy at
the threshold chosen for it on inner rows of the training part, the true AGN fraction of the test
part and the fraction the classifier's calibrated probabilities estimate (mean p after an isotonic
map fitted on its inner held-out scores) over seeds.

Run (documented in docs/validation.md):
    nepagn evaluate transfer --data ../shared/data/nepw_poliszczuk2021/training_sample.csv \\
        --seeds 0,1,2 --out runs/real_transfer
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from nepagn.bands import Band
from nepagn.cluster import client_from_args
from nepagn.evaluation.real_sample import band_set, load_real_sample
from nepagn.schema import agn_labels

log = logging.getLogger(__name__)

SPLIT_BANDS = ("hsc_i", "akari_n2")
RANDOM_SPLITS = 5
COPIES = 5


@dataclass(frozen=True)
class TransferTask:
    """One (split, classifier, degradation, seed) to train and score."""

    split: str  # "hsc_i", "akari_n2" or "random<k>"
    classifier: str
    degraded: bool
    seed: int


def split_rows(frame: pd.DataFrame, split: str, bands: tuple[Band, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows): the brighter two thirds and the fainter third by a band, or a random split."""
    n_train = int(round(len(frame) * 2 / 3))
    if split.startswith("random"):
        order = np.random.default_rng(int(split.removeprefix("random"))).permutation(len(frame))
    else:
        band = next(b for b in bands if b.id == split)
        order = np.argsort(frame[band.mag_column].to_numpy(dtype=float), kind="stable")  # NaN (undetected) last
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def run_transfer(task: TransferTask, frame: pd.DataFrame, bands: tuple[Band, ...]) -> dict[str, Any]:
    """Train on the split's training part (degraded to its test part's depth if asked), score the test part."""
    from nepagn.calibration import fit_calibrator
    from nepagn.cluster import bound_task_threads
    from nepagn.degrade import ROW, TargetPhotometry
    from nepagn.model.cv import network_seed
    from nepagn.model.fold_fit import fit_fold
    from nepagn.model.recipes import catalogue_recipe, load_recipe

    bound_task_threads()
    y = agn_labels(frame).astype(np.int64)
    train, test = split_rows(frame, task.split, bands)
    recipe = load_recipe("HGBC") if task.classifier == "HGBC" else catalogue_recipe(task.classifier)
    seed = network_seed(task.seed, 0, f"{task.split}/{task.classifier}")
    training_frame, training_y, groups, rows = frame.iloc[train].reset_index(drop=True), y[train], None, None
    if task.degraded:
        target = TargetPhotometry.fit(frame.iloc[test], bands, f"faint part of split {task.split}")
        training_frame = target.degrade(frame.iloc[train].reset_index(drop=True), COPIES, seed)
        groups = training_frame[ROW].to_numpy()
        training_y = y[train][groups]
    rows = np.arange(len(training_frame))
    fitted = fit_fold(recipe, bands, training_frame, training_y, rows, seed, groups=groups)
    test_frame = frame.iloc[test].reset_index(drop=True)
    if task.classifier == "HGBC":
        scores = np.mean([member.predict(test_frame) for member in fitted.members], axis=0)
    else:
        scores = _network_scores(fitted, recipe, bands, training_frame, rows, test_frame)
    calibrator = fit_calibrator(fitted.inner_scores, training_y[fitted.inner_rows])
    p = calibrator.transform(scores)
    called = scores >= fitted.threshold
    y_test = y[test].astype(bool)
    return {
        "split": task.split, "classifier": task.classifier, "degraded": task.degraded, "seed": task.seed,
        "n_train": int(len(train)), "n_test": int(len(test)),
        "roc_auc": float(roc_auc_score(y_test, scores)),
        "balanced_accuracy": float((np.mean(called[y_test]) + np.mean(~called[~y_test])) / 2),
        "true_agn_fraction": float(y_test.mean()),
        "estimated_agn_fraction": float(np.mean(p)),
        "train_agn_fraction": float(y[train].mean()),
    }


def _network_scores(fitted, recipe, bands, training_frame, rows, test_frame) -> np.ndarray:
    """Test-part scores of a network recipe's members (their feature specs are refitted as fit_fold did)."""
    from nepagn.features import OPTIONS, FeatureSpec

    spec = FeatureSpec(bands=bands, **{k: v for k, v in recipe.features.items() if k in OPTIONS})
    out = []
    fit_rows = np.setdiff1d(rows, fitted.inner_rows)
    fitted_spec = spec.fit(training_frame.iloc[fit_rows])
    for network in fitted.members:
        out.append(np.asarray(network(fitted_spec.transform(test_frame), training=False)).reshape(-1))
    return np.mean(out, axis=0)


def summarise_transfer(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds (random splits pooled as one 'random' row) per (split, classifier, degraded)."""
    table = results.assign(split=results["split"].where(~results["split"].str.startswith("random"), "random"))
    metrics = ["roc_auc", "balanced_accuracy", "true_agn_fraction", "estimated_agn_fraction"]
    grouped = table.groupby(["split", "classifier", "degraded"])[metrics]
    return pd.concat([grouped.mean().add_suffix("_mean"), grouped.std(ddof=1).add_suffix("_std"),
                      grouped.size().rename("runs")], axis=1).reset_index()


def run_from_args(args: argparse.Namespace) -> str:
    """Every transfer task on the cluster; results, their summary and the run record into the folder `args.out`.

    Parameters
    ----------
    args : argparse.Namespace
        The options of `nepagn evaluate transfer` (nepagn.commands.evaluate), with `command_line`.

    Returns
    -------
    str
        What the command prints: the summary table.
    """
    frame = load_real_sample(args.data)
    bands = band_set("all")
    seeds = [int(s) for s in args.seeds.split(",")]
    classifiers = [c.strip() for c in args.classifiers.split(",") if c.strip()]
    tasks = [TransferTask(split, c, degraded, seed) for split in SPLIT_BANDS for c in classifiers
             for degraded in (False, True) for seed in seeds]
    tasks += [TransferTask(f"random{k}", c, False, 0) for k in range(RANDOM_SPLITS) for c in classifiers]
    with client_from_args(args) as client:
        remote = client.scatter(frame, broadcast=True)
        futures = [client.submit(run_transfer, task, remote, bands, pure=False) for task in tasks]
        results = pd.DataFrame([future.result() for future in futures])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    summary = summarise_transfer(results)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "run.json").write_text(json.dumps({"command": args.command_line, "copies": COPIES, "seeds": seeds},
                                             indent=2))
    return summary.round(3).to_string(index=False)
