"""The paper's metrics (section 3.2: AGN and SFG completeness, accuracy, ROC AUC) plus precision and
balanced accuracy (for comparison with Poliszczuk et al. 2021), per fold and as mean +- std."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

METRIC_NAMES = ("agn_completeness", "sfg_completeness", "accuracy", "roc_auc", "precision", "balanced_accuracy")


def classification_metrics(y_true: np.ndarray, p_agn: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of AGN iff p_agn >= threshold against y_true (1 AGN, 0 SFG); NaN where undefined."""
    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(p_agn) >= threshold
    tp, fn = int(np.sum(pred & y)), int(np.sum(~pred & y))
    tn, fp = int(np.sum(~pred & ~y)), int(np.sum(pred & ~y))
    agn = tp / (tp + fn) if tp + fn else float("nan")
    sfg = tn / (tn + fp) if tn + fp else float("nan")
    both = y.any() and (~y).any()
    return {
        "agn_completeness": agn,
        "sfg_completeness": sfg,
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "roc_auc": float(roc_auc_score(y, p_agn)) if both else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "balanced_accuracy": (agn + sfg) / 2,
    }


def choose_threshold(y_true: np.ndarray, p_agn: np.ndarray, weight_n: float) -> float:
    """The threshold maximising the Eq. 3 monitor (N * AGN completeness + accuracy) on the given rows.

    Used by the strict protocol on the inner split only; ties go to the threshold closest to 0.5.
    """
    candidates = np.unique(np.concatenate([np.asarray(p_agn, dtype=np.float64), [0.5]]))
    y = np.asarray(y_true).astype(bool)
    best, best_value = 0.5, -np.inf
    for threshold in candidates:
        pred = np.asarray(p_agn) >= threshold
        agn = np.sum(pred & y) / max(1, np.sum(y))
        acc = np.mean(pred == y)
        value = weight_n * agn + acc
        if value > best_value + 1e-12 or (abs(value - best_value) <= 1e-12 and abs(threshold - 0.5) < abs(best - 0.5)):
            best, best_value = float(threshold), value
    return best


def best_balanced_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The score threshold maximising balanced accuracy (Youden's J) on the given rows."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y, p)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def equal_completeness_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The score threshold at which AGN and SFG completeness are closest to equal on the given rows.

    The paper's balance (Chen et al. 2021 report about 85 % of each class recovered). On a minority of AGN
    the balanced-accuracy optimum is flat and often lands on the SFG side; this rule does not. Among
    thresholds equally close, the one with the higher balanced accuracy wins.
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y, p)
    gap = np.round(np.abs(tpr - (1.0 - fpr)), 12)
    best = int(np.lexsort((-(tpr - fpr), gap))[0])
    return float(min(thresholds[best], 1.0))


#: Threshold rules of the strict protocol, chosen on inner held-out scores (TrainingConfig.threshold_rule),
#: and how a table names them.
THRESHOLD_RULES = {
    "balanced_accuracy": best_balanced_threshold,
    "equal_completeness": equal_completeness_threshold,
}
THRESHOLD_WORDS = {
    "balanced_accuracy": "maximum balanced accuracy",
    "equal_completeness": "equal AGN and SFG completeness",
}


def summarise(
    per_fold: pd.DataFrame, by: tuple[str, ...] = ("model",), metrics: tuple[str, ...] = METRIC_NAMES
) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and count of every metric (of `metrics`, where present) over folds
    (and seeds), per `by` group."""
    present = [name for name in metrics if name in per_fold.columns]
    grouped = per_fold.groupby(list(by), sort=True)[present]
    mean = grouped.mean().add_suffix("_mean")
    std = grouped.std(ddof=1).add_suffix("_std")
    count = grouped.size().rename("n_runs")
    return pd.concat([mean, std, count], axis=1).reset_index()
