"""The paper's training figures from a MODELDIR: Fig. 7 (training history), Fig. 8 (ROC), Table 1 (with spreads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from nepagn.files import save_figure
from nepagn.model.baseline import BASELINE_MODEL  # noqa: E402
from nepagn.model.metrics import THRESHOLD_WORDS  # noqa: E402
from nepagn.model.modeldir import network_files  # noqa: E402

PAPER_TABLE1 = {
    "A": {"agn_completeness": 0.8542, "sfg_completeness": 0.8509, "accuracy": 0.8514, "roc_auc": 0.8838},
    "B": {"agn_completeness": 0.8583, "sfg_completeness": 0.8312, "accuracy": 0.8360, "roc_auc": 0.8889},
    "C": {"agn_completeness": 0.8643, "sfg_completeness": 0.8117, "accuracy": 0.8210, "roc_auc": 0.8856},
}
TABLE_METRICS = ("agn_completeness", "sfg_completeness", "accuracy", "roc_auc", "precision", "balanced_accuracy")


def plot_history(root: Path, model: str, out: Path) -> None:
    """Fig. 7: validation AGN completeness, SFG completeness, accuracy and training focal loss per epoch,
    one thin line per network of `model`, the best epoch of each marked."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), sharex=True)
    panels = (
        ("agn_completeness", "AGN completeness"),
        ("sfg_completeness", "SFG completeness"),
        ("accuracy", "accuracy"),
        ("loss", "focal loss (training)"),
    )
    for history_path, best in _histories(Path(root) / "networks" / model):
        history = pd.read_csv(history_path)
        for ax, (column, _) in zip(axes.flat, panels, strict=True):
            line = ax.plot(history["epoch"], history[column], lw=0.7, alpha=0.6)[0]
            ax.plot(best, history[column].iloc[best], "o", ms=3, color=line.get_color())
    for ax, (_, title) in zip(axes.flat, panels, strict=True):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    fig.suptitle(f"Model {model}: training history of every fold network (dots: kept best epoch)")
    fig.tight_layout()
    save_figure(fig, out, dpi=120)
    plt.close(fig)


def _histories(model_dir: Path) -> list[tuple[Path, int]]:
    """Every network's history file with its own best epoch: history.csv is network 0 of a fold,
    history_r<r>.csv network r (config.json lists each network's record under `networks`)."""
    out = []
    for config_path in sorted(model_dir.glob("seed*/fold*/config.json")):
        config = json.loads(config_path.read_text())
        networks = config.get("networks") or [{"best_epoch": config["best_epoch"]}]
        for restart, network in enumerate(networks):
            path = config_path.with_name(network_files(restart)[1])
            if path.is_file():
                out.append((path, int(network["best_epoch"])))
    return out


def plot_roc(oof: pd.DataFrame, out: Path) -> None:
    """Fig. 8: ROC curve of each model from its out-of-fold predictions (pooled per seed, first seed drawn)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, group in oof.groupby("model", sort=True):
        seed = group["seed"].min()
        first = group[group["seed"] == seed]
        fpr, tpr, _ = roc_curve(first["y_true"], first["p_agn"])
        aucs = group.groupby(["seed", "fold"]).apply(_fold_auc, include_groups=False)
        ax.plot(fpr, tpr, label=f"Model {model} (fold AUC {np.nanmean(aucs):.3f} +- {np.nanstd(aucs, ddof=1):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (AGN completeness)")
    ax.set_title("ROC, out-of-fold predictions")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out, dpi=120)
    plt.close(fig)


def _fold_auc(group: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    if group["y_true"].nunique() < 2:
        return float("nan")
    return float(roc_auc_score(group["y_true"], group["p_agn"]))


def threshold_sentence(protocol: str, threshold_rule: str, models: list[str]) -> str:
    """Which threshold the completeness, accuracy and precision columns of Table 1 are at, per kind of model."""
    if protocol == "strict":
        parts = [f"the networks: {THRESHOLD_WORDS[threshold_rule]} on their inner held-out rows"]
    else:
        parts = ["the networks: 0.5, as the paper"]
    if "HGBC" in models:
        parts.append(f"HGBC: {THRESHOLD_WORDS['balanced_accuracy']} on its inner out-of-fold scores")
    if BASELINE_MODEL in models:
        parts.append(f"{BASELINE_MODEL} baseline: 0.5 on its class-balanced probability")
    return "Thresholds of the class metrics: " + "; ".join(parts) + " (ROC AUC needs none)."


def table1_markdown(
    summary: pd.DataFrame, model_configs: dict[str, dict[str, Any]], protocol: str, folds: int, seeds: list[int],
    threshold_rule: str = "balanced_accuracy",
) -> str:
    """Table 1 as markdown: hyperparameters, mean +- std of every metric over folds x seeds, the paper's values,
    and the thresholds the class metrics are at."""
    lines = [
        f"Protocol `{protocol}`, {folds}-fold stratified CV, seeds {seeds}; mean +- standard deviation over "
        f"the {folds * len(seeds)} (fold, seed) networks of each model. Paper: Chen et al. 2021 Table 1.",
        threshold_sentence(protocol, threshold_rule, [str(m) for m in summary["model"]]),
        "",
        "| model | alpha | gamma | M | N | delta | " + " | ".join(TABLE_METRICS) + " | networks |",
        "|---|---|---|---|---|---|" + "---|" * len(TABLE_METRICS) + "---|",
    ]
    for _, row in summary.iterrows():
        cfg = model_configs.get(row["model"], {})
        cells = [f"{row[f'{m}_mean']:.4f} +- {row[f'{m}_std']:.4f}" for m in TABLE_METRICS]
        hyper = [cfg.get(k, "") for k in ("alpha", "gamma", "patience_m", "weight_n", "delta")]
        lines.append(
            f"| {row['model']} | "
            + " | ".join(str(h) for h in hyper)
            + " | "
            + " | ".join(cells)
            + f" | {int(row['n_runs'])} |"
        )
        paper = PAPER_TABLE1.get(str(row["model"]))
        if paper:
            lines.append(
                f"| {row['model']} (paper) | | | | | | "
                + " | ".join(f"{paper[m]:.4f}" if m in paper else "" for m in TABLE_METRICS)
                + " | |"
            )
    return "\n".join(lines) + "\n"
