"""RecipeClassifier: a nepagn recipe as a scikit-learn estimator that sklearn's own CV and cloning accept."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_score

from nepagn.model.estimator import RecipeClassifier
from nepagn.schema import agn_labels
from nepagn.simulate import simulate_catalogue

BANDS = ("hsc_g", "hsc_r", "hsc_i", "hsc_z", "akari_n2", "akari_n3", "akari_n4", "akari_s7", "akari_s11",
         "akari_l15", "akari_l18w")


@pytest.fixture(scope="module")
def labelled():
    catalogue = simulate_catalogue(12000, seed=5)
    rows = catalogue[catalogue["label"].notna()].reset_index(drop=True)
    return rows, agn_labels(rows).astype(int)


def test_sklearn_cross_validation_of_gradient_boosting_recipe(labelled):
    X, y = labelled
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    auc = cross_val_score(RecipeClassifier("HGBC", bands=BANDS), X, y, cv=cv, scoring="roc_auc")
    assert len(auc) == 3 and auc.mean() > 0.7
    model = clone(RecipeClassifier("HGBC", bands=BANDS, seed=3))
    assert model.get_params()["seed"] == 3 and model.get_params()["recipe"] == "HGBC"


def test_network_recipe_fits_predicts_and_thresholds_on_its_inner_rows(labelled):
    X, y = labelled
    model = RecipeClassifier("A", bands=BANDS, max_epochs=3).fit(X.iloc[:180], y[:180])
    proba = model.predict_proba(X.iloc[180:])
    assert proba.shape == (len(X) - 180, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1] and 0.0 <= model.threshold_ <= 1.0
    np.testing.assert_array_equal(model.predict(X.iloc[180:]), (proba[:, 1] >= model.threshold_).astype(int))
    assert model.predict_proba(X.iloc[:0]).shape == (0, 2)
    assert set(model.fold_.inner_rows) <= set(range(180))  # early stopping and threshold saw fit rows only
    with pytest.raises(ValueError, match="y must be 1"):
        RecipeClassifier("HGBC").fit(X.iloc[:50], np.full(50, 2))
