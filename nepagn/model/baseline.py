"""HGB-balanced: class-balanced histogram gradient boosting on the same inputs (FeatureSpec arrays, flattened)
and the same outer folds as the networks, threshold 0.5; the non-neural baseline `nepagn train`'s Table 1 is
read against. Not recipe HGB of nepagn.model.recipes (unweighted members on magnitudes and errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from nepagn.features import FeatureSpec
from nepagn.model.metrics import classification_metrics

BASELINE_MODEL = "HGB-balanced"  # its `model` in metrics, predictions and Table 1


def hgb_cross_validation(
    labelled: pd.DataFrame, y: np.ndarray, fold_table: dict[int, np.ndarray], spec: FeatureSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-(seed, fold) metrics and out-of-fold p_agn of class-balanced HGB, fitted on the training folds only.

    Threshold 0.5 on the balanced model's probability; the feature spec is fitted per fold like the networks'.
    One OpenMP thread: this runs in the client process beside the Dask workers, and HGB's OpenMP threads
    competing with them for the same cores slowed it by more than 10x on a 2-core machine.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        return _hgb_folds(labelled, y, fold_table, spec)


def _hgb_folds(
    labelled: pd.DataFrame, y: np.ndarray, fold_table: dict[int, np.ndarray], spec: FeatureSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    metric_rows, oof = [], []
    for seed, folds in fold_table.items():
        for fold in np.unique(folds):
            train, outer = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
            fitted = spec.fit(labelled.iloc[train])
            x = fitted.transform(labelled).reshape(len(labelled), -1)
            model = HistGradientBoostingClassifier(class_weight="balanced", random_state=int(seed))
            model.fit(x[train], y[train])
            p = model.predict_proba(x[outer])[:, 1]
            metric_rows.append(
                {"model": BASELINE_MODEL, "seed": int(seed), "fold": int(fold), **classification_metrics(y[outer], p)}
            )
            oof.append(
                pd.DataFrame({"row": outer, "model": BASELINE_MODEL, "fold": int(fold), "seed": int(seed),
                              "y_true": y[outer], "p_agn": p})
            )
    return pd.DataFrame(metric_rows), pd.concat(oof, ignore_index=True)
