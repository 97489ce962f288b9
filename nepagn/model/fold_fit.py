"""One outer fold of a classifier recipe fitted on its training rows only: members, inner scores, threshold.

The members fit on inner splits of the training rows (an inner stratified K-fold, or one inner split
for early stopping), drawn over objects so that degraded copies of one source stay on one side. Their
inner held-out scores choose the AGN threshold by the recipe's rule. `nepagn train` fits its HGBC folds
here and the evaluation experiments (nepagn.evaluation) fit every recipe here, so the catalogue's
classifier is the one that was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from nepagn.bands import Band
from nepagn.model.cv import inner_split, rows_of_objects
from nepagn.model.hgb import fit_hgb_member
from nepagn.model.recipes import Recipe


def _fit_network_member(recipe, spec, frame, y, fit_rows, monitor_rows, seed):
    from nepagn.model.loop import fit_network

    spec = spec.fit(frame.iloc[fit_rows])
    result = fit_network(
        spec.transform(frame.iloc[fit_rows]), y[fit_rows], spec.transform(frame.iloc[monitor_rows]), y[monitor_rows],
        recipe.model, recipe.training, seed=seed,
    )

    def predict(rows_of: pd.DataFrame) -> np.ndarray:
        return np.asarray(result.model(spec.transform(rows_of), training=False)).reshape(-1)

    return predict, result.epochs_run, result.model


def _fit_hgb_member(frame, bands, y, fit_rows, seed, colours=None):
    member = fit_hgb_member(frame, bands, y, fit_rows, seed, colours)
    return member.predict, int(member.estimator.n_iter_), member


@dataclass(frozen=True)
class FittedFold:
    """A recipe's members fitted on one outer fold's training rows, their inner held-out scores and threshold."""

    predictors: list[Callable[[pd.DataFrame], np.ndarray]]  # per member: canonical rows -> P(AGN)
    members: list  # per member: the HgbMember (gradient boosting) or the Keras network
    inner_rows: np.ndarray
    inner_scores: np.ndarray
    threshold: float
    epochs: list[int]

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Every member's P(AGN) for the rows of any frame of canonical columns, shape (members, rows)."""
        return np.vstack([predict(frame) for predict in self.predictors])


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
    from nepagn.features import OPTIONS, FeatureSpec
    from nepagn.model.metrics import THRESHOLD_RULES, choose_threshold

    splits = _inner_splits(recipe, y, train_rows, seed, groups)
    spec = None
    if recipe.kind == "network":
        spec = FeatureSpec(bands=bands, **{k: v for k, v in recipe.features.items() if k in OPTIONS})
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
        inner_p.append(predict(frame.iloc[monitor_rows]))
        epochs.append(n_epochs)
    inner_rows, inner_scores = np.concatenate(inner_ids), np.concatenate(inner_p)
    if recipe.threshold_rule == "eq3":
        if recipe.model is None:
            raise ValueError(f"recipe {recipe.name}: the Eq. 3 threshold needs a network model's weight_n")
        threshold = choose_threshold(y[inner_rows], inner_scores, recipe.model.weight_n)
    else:
        threshold = THRESHOLD_RULES[recipe.threshold_rule](y[inner_rows], inner_scores)
    return FittedFold(predictors, members, inner_rows, inner_scores, threshold, epochs)
