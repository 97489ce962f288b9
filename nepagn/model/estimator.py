"""A nepagn classifier recipe as a scikit-learn estimator, for sklearn's CV, scoring and calibration tools.

`RecipeClassifier("A")` fits what one outer fold of nepagn's strict protocol fits (nepagn.model.fold_fit):
the recipe's members on inner splits of the rows given to `fit`, early stopping and the AGN threshold
on the inner held-out rows only. So `sklearn.model_selection.cross_val_score(RecipeClassifier("A"), X, y)`
is the strict protocol, and `CalibratedClassifierCV` can wrap it. X is a frame of canonical columns
(`<band>_mag`, `<band>_magerr`, as a store holds them); y is 1 for AGN, 0 for SFG.

For a catalogue, train a model set with `nepagn train` / `nepagn.train_model_set` and classify with
`ModelSet`: that adds the fold ensemble, calibration and the catalogue's decision rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from nepagn.bands import get_bands
from nepagn.model.fold_fit import fit_fold
from nepagn.model.recipes import catalogue_recipe, load_recipe


class RecipeClassifier(ClassifierMixin, BaseEstimator):
    """One recipe (network Model A, B, C or N, or gradient boosting HGB / HGBC), fitted under the strict protocol.

    Parameters
    ----------
    recipe : str
        A, B, C, N (networks, configs/models/) or HGB, HGBC (gradient boosting).
    catalogue : bool
        For A, B, C: the catalogue's training recipe (configs/training_catalogue.toml: standardised inputs,
        mask and colour channels, mini-batches) instead of the paper's as written.
    bands : sequence of str, optional
        Registry band ids to use; default every band whose magnitude column X has.
    max_epochs : int, optional
        Cap on a network's epochs (the recipe's own otherwise).
    seed : int
        Seed of the inner split and the members.
    """

    def __init__(self, recipe: str = "A", catalogue: bool = True, bands: Sequence[str] | None = None,
                 max_epochs: int | None = None, seed: int = 0):
        self.recipe = recipe
        self.catalogue = catalogue
        self.bands = bands
        self.max_epochs = max_epochs
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: Any) -> RecipeClassifier:
        """Fit the recipe's members on inner splits of (X, y); the threshold is chosen on their held-out rows."""
        from nepagn.model.training import default_bands

        catalogue = self.catalogue and self.recipe in ("A", "B", "C")
        recipe = catalogue_recipe(self.recipe) if catalogue else load_recipe(self.recipe)
        if self.max_epochs is not None and recipe.training is not None:
            recipe = replace(recipe, training=replace(recipe.training, max_epochs=int(self.max_epochs)))
        frame = X.reset_index(drop=True)
        labels = np.asarray(y).astype(np.int64)
        if not set(np.unique(labels)) <= {0, 1}:
            raise ValueError("y must be 1 (AGN) or 0 (SFG)")
        bands = get_bands(self.bands) if self.bands else default_bands(frame)
        self.fold_ = fit_fold(recipe, tuple(bands), frame, labels, np.arange(len(frame)), int(self.seed))
        self.threshold_ = float(self.fold_.threshold)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 2): P(SFG), P(AGN), the mean of the members' scores (uncalibrated, as the members give them)."""
        if len(X) == 0:
            return np.empty((0, 2))
        p = self.fold_.predict_frame(X.reset_index(drop=True)).mean(axis=0).astype(np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (AGN) where P(AGN) reaches the threshold chosen on the inner held-out rows, else 0."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(np.int64)
