"""Figures of a mock catalogue's classifications against the simulation truth: the reliability diagram of
the inference set and, per magnitude bin, the true and estimated AGN fractions and the ROC AUC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from nepagn.files import save_figure


def truth_figure(truth: dict[str, Any], path: str | Path) -> Path:
    """Reliability diagram (calibrated p_agn of every model against the true AGN fraction) and per-bin panel."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    for key, curve in truth["reliability"].items():
        x = np.array([np.nan if v is None else v for v in curve["mean_predicted"]], dtype=float)
        y = np.array([np.nan if v is None else v for v in curve["observed_fraction"]], dtype=float)
        err = np.array([np.nan if v is None else v for v in curve["observed_error"]], dtype=float)
        label = "p_agn_mean" if key == "mean" else f"p_agn_{key}"
        left.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, label=label)
    left.set_xlabel("predicted P(AGN), 10 bins")
    left.set_ylabel("true AGN fraction in the bin")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.set_title(f"Reliability on the inference set ({truth['n']} sources)")
    left.legend(fontsize=8)

    bins = truth.get("bins") or {}
    labels = list(bins)
    if labels:
        x = np.arange(len(labels))
        true = [bins[b]["true_agn_fraction"] for b in labels]
        est = [bins[b]["estimated"] for b in labels]
        auc = [np.nan if bins[b]["roc_auc"] is None else bins[b]["roc_auc"] for b in labels]
        right.plot(x, true, "k-o", label="true AGN fraction")
        right.plot(x, est, "C1-s", label="estimated (mean p_agn_mean)")
        right.plot(x, auc, "C2-^", label="ROC AUC of p_agn_mean")
        right.set_xticks(x, labels, rotation=45, fontsize=8)
        right.set_xlabel(f"{truth.get('band')} (AB mag)")
        right.set_ylim(0, 1)
        right.legend(fontsize=8)
        right.set_title("Per magnitude bin")
    else:
        right.set_axis_off()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
