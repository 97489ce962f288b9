"""`nepagn train` for HGBC: one task per (seed, outer fold) fitting the evaluated recipe HGBC on the training folds.

The fold is fitted by nepagn.model.fold_fit.fit_fold with recipe HGBC (nepagn.model.recipes):
three class-unweighted HistGradientBoosting members on an inner stratified 3-fold split of the training
folds, inputs magnitudes + errors + every pairwise colour, threshold maximising balanced accuracy on the
members' inner out-of-fold scores. The outer fold is never used for fitting or thresholding, under
either protocol: the paper's threshold 0.5 and outer-fold monitoring are rules for its networks, and an
unweighted HGB on a ~13 % AGN sample needs a chosen threshold. What the protocol changes for HGBC is the
calibration data: inner out-of-fold scores (strict) or outer out-of-fold scores (paper), as for networks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import get_bands
from nepagn.degrade import TargetPhotometry
from nepagn.model.cv import network_seed
from nepagn.model.fold_result import FoldResult
from nepagn.model.metrics import classification_metrics
from nepagn.model.modeldir import HGB_KIND
from nepagn.model.recipes import HGBC, load_recipe
from nepagn.model.training_data import TrainingData
from nepagn.schema import agn_labels

HGB_MODELS = (HGBC,)  # gradient-boosting recipes `nepagn train` accepts beside the networks


@dataclass(frozen=True)
class HgbTask:
    """One HGBC fold to fit: which recipe, which outer fold of which seed, under which protocol, on which bands."""

    name: str
    fold: int
    seed: int
    protocol: str
    bands: tuple[str, ...]
    copies: int = 0  # degraded copies per labelled row (nepagn.degrade); 0: the labelled photometry

    @property
    def key(self) -> str:
        return f"{self.name}/seed{self.seed}/fold{self.fold}"

    def config(self) -> dict[str, Any]:
        """The recipe's JSON-ready settings (run.json, manifest, config.json)."""
        return load_recipe(self.name).describe()


def train_hgb_one(
    task: HgbTask, labelled: pd.DataFrame, folds: np.ndarray, target: TargetPhotometry | None = None
) -> FoldResult:
    """Fit and score one HGBC fold (runs inside a Dask task); returns what MODELDIR stores for it.

    With `target` and task.copies > 0 the members fit on degraded copies of the training folds (inner
    splits keep each source's copies together); the outer fold is scored as it is and as copies.
    """
    from nepagn.model.fold_fit import fit_fold
    from nepagn.model.hgb import members_to_bytes

    start = time.perf_counter()
    recipe = load_recipe(task.name)
    y = agn_labels(labelled).astype(np.int8)
    outer, train = np.flatnonzero(folds == task.fold), np.flatnonzero(folds != task.fold)
    seed = network_seed(task.seed, task.fold, recipe.name)
    data = TrainingData.make(labelled, y, target, task.copies, seed)
    fitted = fit_fold(recipe, get_bands(task.bands), data.frame, data.y, data.rows(train), seed,
                      groups=data.objects if data.degraded else None)
    p_outer = fitted.predict_frame(labelled.iloc[outer]).mean(axis=0)
    degraded_outer = data.rows(outer) if data.degraded else np.empty(0, dtype=np.int64)
    p_outer_degraded = (fitted.predict_frame(data.frame.iloc[degraded_outer]).mean(axis=0) if data.degraded
                        else np.empty(0))
    estimators, inputs = members_to_bytes(fitted.members)
    strict = task.protocol == "strict"
    roles = np.full(len(labelled), "train", dtype=object)
    roles[outer] = "validation"
    inner = fitted.inner_rows if strict else np.empty(0, dtype=np.int64)
    return FoldResult(
        key=task.key, kind=HGB_KIND, model=task.name, fold=task.fold, seed=task.seed, network_seed=seed,
        threshold=float(fitted.threshold), best_epoch=None, epochs_run=int(max(fitted.epochs)),
        stop_reason=f"boosting iterations of the {len(fitted.epochs)} members: {fitted.epochs}",
        seconds=time.perf_counter() - start, outer_rows=outer, p_outer=p_outer,
        **data.held_out("inner", inner, fitted.inner_scores if strict else np.empty(0)),
        **data.held_out("outer_degraded", degraded_outer, p_outer_degraded),
        roles=roles, metrics=classification_metrics(y[outer], p_outer, fitted.threshold),
        model_bytes=estimators, inputs=inputs,
    )
