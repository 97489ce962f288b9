"""What the mock's faint photometry allows: a classifier trained on the inference set's own true classes.

Only a mock has a true class for every source it classifies. Gradient boosting with colours (the HGBC
inputs: magnitudes, errors, every pairwise colour) is cross-validated within the mock's inference set
(status `classified`, stars the chi2 test kept counting as not AGN), training on up to `--train-rows`
of the other folds: the ROC AUC it reaches is the ceiling a classifier trained on the labelled sources
can be judged against. Per 1-mag bin of the summary band as well.

Run (documented in docs/validation.md):
    nepagn evaluate ceiling --sources 91861 --seed 0 --folds 3 --out runs/mock_ceiling.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from nepagn.bands import load_registry, mag_column
from nepagn.model.cv import stratified_folds
from nepagn.model.hgb import fit_hgb_member
from nepagn.pipeline.summary import magnitude_bins
from nepagn.preprocess import STATUS, STATUS_CLASSIFIED, preprocess
from nepagn.schema import TRUE_CLASS


def ceiling(inference: pd.DataFrame, folds: int = 3, train_rows: int = 30_000, seed: int = 0,
            band: str = "hsc_i") -> dict[str, Any]:
    """Cross-validated ROC AUC of HGBC trained on the inference set's true classes, overall and per bin."""
    bands = load_registry()
    y = inference[TRUE_CLASS].eq("AGN").to_numpy(dtype=bool, na_value=False)
    assignment = stratified_folds(y, folds, seed)
    scores = np.empty(len(y))
    rng = np.random.default_rng(seed)
    for fold in range(folds):
        train = np.flatnonzero(assignment != fold)
        train = np.sort(rng.choice(train, size=min(train_rows, len(train)), replace=False))
        member = fit_hgb_member(inference, bands, y.astype(np.int8), train, seed, colours="all_pairs")
        held = np.flatnonzero(assignment == fold)
        scores[held] = member.predict(inference.iloc[held])
    labels = magnitude_bins(inference[mag_column(band)].to_numpy(dtype=float, na_value=np.nan))
    bins = {}
    for label in sorted(set(labels), key=lambda t: float("inf") if not t[0].isdigit() else float(t.split("-")[0])):
        rows = labels == label
        if y[rows].sum() >= 5 and (~y[rows]).sum() >= 5:
            bins[str(label)] = {"n": int(rows.sum()), "roc_auc": float(roc_auc_score(y[rows], scores[rows]))}
    return {"n": int(len(y)), "true_agn_fraction": float(y.mean()), "folds": folds, "train_rows": train_rows,
            "roc_auc": float(roc_auc_score(y, scores)), "band": band, "bins": bins}


def run_from_args(args: argparse.Namespace) -> str:
    """Simulate the mock, measure the ceiling, write it as JSON to the file `args.out`.

    Parameters
    ----------
    args : argparse.Namespace
        The options of `nepagn evaluate ceiling` (nepagn.commands.evaluate), with `command_line`.

    Returns
    -------
    str
        What the command prints: the JSON written.
    """
    from nepagn.simulate import simulate_catalogue

    frame = preprocess(simulate_catalogue(args.sources, args.seed))
    inference = frame[frame[STATUS] == STATUS_CLASSIFIED].reset_index(drop=True)
    result = ceiling(inference, args.folds, args.train_rows, args.seed)
    result["command"] = args.command_line
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return json.dumps(result, indent=2)
