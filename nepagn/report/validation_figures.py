"""Issue-7 validation figures and tables from stored out-of-fold predictions (no retraining).

Inputs are MODELDIRs (`nepagn train`) or EVALDIRs (`nepagn evaluate`): both hold
oof_predictions.parquet (source_id, model, fold, seed, y_true, p_agn, threshold); EVALDIRs add
inner_predictions.parquet (inner out-of-fold scores, used to fit calibration) and, for the mock,
selections.parquet (colour-cut flags); MODELDIRs add baseline_hgb_oof.parquet (the HGB-balanced baseline on
the same folds). Per-fold metrics use each fold's stored threshold. Runs of one setting that differ only in
their CV seeds (say seed 0 trained first, seeds 1-2 later) can be pooled into one (`load_run`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

from nepagn.calibration import brier, fit_calibrator, reliability_curve  # noqa: E402
from nepagn.errors import InputError  # noqa: E402
from nepagn.files import save_figure
from nepagn.model.baseline import BASELINE_MODEL  # noqa: E402
from nepagn.model.figures import PAPER_TABLE1  # noqa: E402
from nepagn.model.metrics import classification_metrics, summarise  # noqa: E402
from nepagn.model.modeldir import BASELINE_OOF_FILE, INNER_FILE, OOF_FILE  # noqa: E402
from nepagn.model.recipes import HGBC  # noqa: E402
from nepagn.selections import SELECTIONS  # noqa: E402

log = logging.getLogger(__name__)

SELECTIONS_FILE = "selections.parquet"
LEGACY_BASELINE_MODEL = "HGB"  # BASELINE_MODEL as older MODELDIRs stored it
RUN_FILE = "run.json"
OOF_COLUMNS = ("source_id", "model", "fold", "seed", "y_true", "p_agn")
FPR_GRID = np.linspace(0.0, 1.0, 201)
MIN_PER_CLASS = 5  # fewer AGN or SFG than this where a cut applies: no classifier ROC or AUC is quoted there
TABLE_METRICS = ("roc_auc", "balanced_accuracy", "agn_completeness", "precision", "sfg_completeness", "accuracy")
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "balanced_accuracy": "bal. acc.",
    "agn_completeness": "AGN compl.",
    "precision": "precision",
    "sfg_completeness": "SFG compl.",
    "accuracy": "accuracy",
}

plt.rcParams.update({"font.size": 11, "axes.labelsize": 12, "legend.fontsize": 9, "figure.dpi": 110})


@dataclass
class Predictions:
    """Stored predictions of one run directory, or of several pooled runs of one setting."""

    name: str
    oof: pd.DataFrame
    inner: pd.DataFrame | None
    selections: pd.DataFrame | None
    run: dict
    sources: tuple[Path, ...] = ()


def load_predictions(directory: str | Path) -> Predictions:
    """Read a MODELDIR or EVALDIR; a clear error naming the file if predictions are absent or malformed.

    A MODELDIR's HGB-balanced baseline (same outer folds, class-balanced, threshold 0.5) joins its
    predictions, so the report sets it beside the networks as `nepagn train` does in table1.md.
    """
    directory = Path(directory)
    path = directory / OOF_FILE
    if not path.is_file():
        raise InputError(path, "no out-of-fold predictions here (expected a MODELDIR or EVALDIR)")
    oof = _read_oof(path)
    baseline = directory / BASELINE_OOF_FILE
    if baseline.is_file():
        # MODELDIRs written before the baseline had its own name stored it as "HGB", recipe HGB's name
        baseline_oof = _read_oof(baseline).replace({"model": {LEGACY_BASELINE_MODEL: BASELINE_MODEL}})
        oof = pd.concat([oof, baseline_oof], ignore_index=True)
    inner = pd.read_parquet(directory / INNER_FILE) if (directory / INNER_FILE).is_file() else None
    selections = pd.read_parquet(directory / SELECTIONS_FILE) if (directory / SELECTIONS_FILE).is_file() else None
    run = json.loads((directory / RUN_FILE).read_text()) if (directory / RUN_FILE).is_file() else {}
    return Predictions(directory.name, oof, inner, selections, run, (directory,))


def _read_oof(path: Path) -> pd.DataFrame:
    oof = pd.read_parquet(path)
    missing = [c for c in OOF_COLUMNS if c not in oof.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}", column=missing[0])
    if "threshold" not in oof.columns:
        oof["threshold"] = 0.5
    return oof


def load_run(spec: str) -> Predictions:
    """`DIR`, or `[NAME=]DIR+DIR+...`: runs of one setting that differ only in their CV seeds, pooled into one."""
    name, _, paths = spec.rpartition("=") if "=" in spec else ("", "", spec)
    preds = [load_predictions(part) for part in paths.split("+")]
    if len(preds) == 1:
        return replace(preds[0], name=name or preds[0].name)
    return pool_predictions(preds, name or "+".join(p.name for p in preds))


def pool_predictions(preds: list[Predictions], name: str) -> Predictions:
    """One Predictions from several runs of the same objects, models and protocol over disjoint seeds.

    Refuses runs that could not be one experiment: different objects or labels, different models,
    different protocols, or a seed present in two of them (the same folds counted twice).
    """
    first = preds[0]
    reference = _labels(first)
    seen: dict[int, str] = {}
    for pred in preds:
        where = pred.sources[0] / OOF_FILE
        if not _labels(pred).equals(reference):
            raise InputError(where, f"its objects or labels differ from {first.sources[0]}; only runs on the "
                             "same labelled set can be pooled")
        if set(pred.oof["model"]) != set(first.oof["model"]):
            raise InputError(where, f"models {sorted(pred.oof['model'].unique())} differ from "
                             f"{sorted(first.oof['model'].unique())} of {first.sources[0]}", column="model")
        if _protocol(pred) != _protocol(first):
            raise InputError(where, f"protocol {_protocol(pred)!r} differs from {_protocol(first)!r} of "
                             f"{first.sources[0]}", column="protocol")
        for seed in sorted(pred.oof["seed"].unique()):
            if int(seed) in seen:
                raise InputError(where, f"seed {seed} is also in {seen[int(seed)]}; pooled runs need disjoint "
                                 "seeds", column="seed")
            seen[int(seed)] = str(pred.sources[0])

    def stacked(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
        present = [f for f in frames if f is not None]
        return pd.concat(present, ignore_index=True) if len(present) == len(frames) else None

    first_info = run_info(first)
    run = {
        "protocol": first_info["protocol"],
        "seeds": sorted(seen),
        "n_folds": first_info["n_folds"],
        "note": first_info["note"],
        "n_rows": len(reference),
        "n_agn": int(reference.sum()),
        "command": list(dict.fromkeys(run_info(pred)["command"] for pred in preds)),
    }
    sources = tuple(source for pred in preds for source in pred.sources)
    return Predictions(name, stacked([p.oof for p in preds]), stacked([p.inner for p in preds]),
                       first.selections, run, sources)


def _labels(pred: Predictions) -> pd.Series:
    return pred.oof.groupby("source_id")["y_true"].first().sort_index()


def _protocol(pred: Predictions) -> str:
    if "protocol" in pred.run:
        return str(pred.run["protocol"])
    values = pred.oof["protocol"].dropna().unique() if "protocol" in pred.oof.columns else []
    return str(values[0]) if len(values) == 1 else "?"


def run_info(pred: Predictions) -> dict:
    """Protocol, folds, seeds, data note, size and command of a run, whichever tool wrote its run.json."""
    run = pred.run
    labels = _labels(pred)
    return {
        "protocol": _protocol(pred),
        "n_folds": run.get("n_folds", run.get("folds", pred.oof["fold"].nunique())),
        "seeds": run.get("seeds", sorted(int(s) for s in pred.oof["seed"].unique())),
        "note": run.get("note", ""),
        "n_rows": run.get("n_rows", run.get("n_labelled", len(labels))),
        "n_agn": run.get("n_agn", int(labels.sum())),
        "command": run.get("command") or "not recorded in run.json",
    }


def run_description(pred: Predictions) -> str:
    """A figure title's account of a run: its data, size and protocol (not the run directory's name)."""
    info = run_info(pred)
    seeds = info["seeds"] if isinstance(info["seeds"], list) else list(info["seeds"])
    data = info["note"] or "labelled objects"
    return (f"{data}: {info['n_rows']} objects ({info['n_agn']} AGN), {info['protocol']} protocol, "
            f"{info['n_folds']}-fold CV, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}")


def fold_metrics(oof: pd.DataFrame) -> pd.DataFrame:
    """Metrics of every (model, seed, fold) on its outer fold, at that fold's stored threshold."""
    rows = []
    for (model, seed, fold), group in oof.groupby(["model", "seed", "fold"], sort=True):
        metrics = classification_metrics(
            group["y_true"].to_numpy(), group["p_agn"].to_numpy(), float(group["threshold"].iloc[0])
        )
        rows.append({"model": model, "seed": seed, "fold": fold, **metrics})
    return pd.DataFrame(rows)


def metrics_table(oof: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof=1) of each metric over folds and seeds, one row per model."""
    return summarise(fold_metrics(oof), by=("model",))


def markdown_table(summary: pd.DataFrame, metrics: tuple[str, ...] = TABLE_METRICS,
                   labels: dict[str, str] = METRIC_LABELS, first: str = "model") -> str:
    """A `summarise` result as a Markdown table, its rows in order: mean +- std per metric, and runs (folds x
    seeds); `first` heads the model column."""
    head = f"| {first} | " + " | ".join(labels[m] for m in metrics) + " | runs |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for _, row in summary.iterrows():
        cells = [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_std']:.3f}" for m in metrics]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {int(row['n_runs'])} |")
    return "\n".join(lines)


def combined_table(preds: list[Predictions]) -> str:
    """One Markdown table of every (run, model): the headline comparison across runs and band sets."""
    head = "| run | model | " + " | ".join(METRIC_LABELS[m] for m in TABLE_METRICS) + " | runs |"
    lines = [head, "|" + "---|" * (len(TABLE_METRICS) + 3)]
    for pred in preds:
        for _, row in metrics_table(pred.oof).iterrows():
            cells = [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_std']:.3f}" for m in TABLE_METRICS]
            lines.append(f"| {pred.name} | {row['model']} | " + " | ".join(cells) + f" | {int(row['n_runs'])} |")
    return "\n".join(lines)


def published_table1(models: set[str]) -> str:
    """Chen et al. 2021 Table 1 for the paper models among `models` (their data and protocol), or ''."""
    shown = [m for m in sorted(models) if m in PAPER_TABLE1]
    if not shown:
        return ""
    metrics = [m for m in TABLE_METRICS if any(m in PAPER_TABLE1[name] for name in shown)]
    lines = [
        "Published for comparison (Chen et al. 2021, Table 1: their NEP-Wide labelled set, their protocol):",
        "",
        "| model | " + " | ".join(METRIC_LABELS[m] for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for name in shown:
        lines.append(f"| {name} (paper) | " + " | ".join(f"{PAPER_TABLE1[name][m]:.3f}" for m in metrics) + " |")
    return "\n".join(lines)


def mean_roc(oof: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float, float]:
    """ROC over each seed's pooled out-of-fold scores, interpolated on FPR_GRID: mean/std TPR and AUC."""
    tprs, aucs = [], []
    for _, group in oof.groupby("seed"):
        y, p = group["y_true"].to_numpy(), group["p_agn"].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        tprs.append(np.interp(FPR_GRID, fpr, tpr))
        aucs.append(roc_auc_score(y, p))
    curves = np.asarray(tprs)
    spread = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0
    return curves.mean(axis=0), curves.std(axis=0), float(np.mean(aucs)), spread


def _roc_axes(ax, title: str) -> None:
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls=":")
    ax.set_xlabel("false positive rate (SFG classified as AGN)")
    ax.set_ylabel("true positive rate (AGN completeness)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)


def _plot_curves(ax, oof: pd.DataFrame, models: list[str], labels: dict[str, str] | None = None) -> None:
    for model in models:
        mean, std, auc, auc_std = mean_roc(oof[oof["model"] == model])
        label = (labels or {}).get(model, model)
        (line,) = ax.plot(FPR_GRID, mean, lw=1.8, label=f"{label}: AUC {auc:.3f} ± {auc_std:.3f}")
        ax.fill_between(
            FPR_GRID, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color=line.get_color(), alpha=0.15
        )


def roc_figure(pred: Predictions, path: Path, title: str) -> Path:
    """Mean ROC curve per model with its +-1 std band across seeds."""
    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    _plot_curves(ax, pred.oof, sorted(pred.oof["model"].unique()))
    _roc_axes(ax, title)
    ax.legend(loc="lower right", title="AUC: mean ± std over seeds")
    return _save(fig, path)


def ablation_figure(pred: Predictions, path: Path, title: str) -> Path:
    """Fig. 12 style: ROC with each band group removed (left) and alone (right), all bands in both."""
    models = list(pd.unique(pred.oof["model"]))  # the run's order: all bands, then groups UV ... FIR
    full = [m for m in models if m.endswith(":all")]
    removed = full + [m for m in models if ":-" in m]
    alone = full + [m for m in models if m.endswith(" only")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), sharey=True)
    labels = {m: m.split(":", 1)[1].replace("-", "without ") for m in models}
    for ax, chosen, sub in ((axes[0], removed, "one band group removed"), (axes[1], alone, "one band group alone")):
        _plot_curves(ax, pred.oof, chosen, labels)
        _roc_axes(ax, f"{title}: {sub}")
        ax.legend(loc="lower right", title="AUC: mean ± std over seeds")
    return _save(fig, path)


def ablation_table(pred: Predictions) -> str:
    """Markdown: AUC mean +- std over folds x seeds per band set, in the run's order (all, -UV, ..., FIR only)."""
    summary = metrics_table(pred.oof).set_index("model").loc[pd.unique(pred.oof["model"])].reset_index()
    lines = ["| band set | ROC AUC | bal. acc. | runs |", "|---|---|---|---|"]
    for _, row in summary.iterrows():
        lines.append(
            f"| {row['model'].split(':', 1)[1]} | {row['roc_auc_mean']:.3f} ± {row['roc_auc_std']:.3f} | "
            f"{row['balanced_accuracy_mean']:.3f} ± {row['balanced_accuracy_std']:.3f} | {int(row['n_runs'])} |"
        )
    return "\n".join(lines)


def _selections(pred: Predictions) -> pd.DataFrame:
    """The run's colour-cut table; callers ask only when it was stored."""
    assert pred.selections is not None, "the colour cuts are asked for only where the run stored them"
    return pred.selections


def selection_rows(pred: Predictions, model: str) -> pd.DataFrame:
    """Per colour cut: objects it applies to, its TPR/FPR/precision, and the network's TPR at the cut's FPR."""
    rows = []
    oof = pred.oof[pred.oof["model"] == model]
    sel = _selections(pred)
    for name, spec in SELECTIONS.items():
        column = f"sel_{name}_applicable"
        if column not in sel.columns:
            continue
        applicable = sel.loc[sel[column], ["source_id", "y_true", f"sel_{name}_agn"]]
        y, flag = applicable["y_true"].to_numpy().astype(bool), applicable[f"sel_{name}_agn"].to_numpy()
        if len(applicable) == 0 or y.all() or not y.any():
            continue
        tpr, fpr = float((flag & y).sum() / y.sum()), float((flag & ~y).sum() / (~y).sum())
        subset = oof[oof["source_id"].isin(applicable["source_id"])]
        mean, _, auc, auc_std = mean_roc(subset)
        rows.append(
            {
                "selection": name,
                "label": spec.label,
                "n": len(applicable),
                "n_agn": int(y.sum()),
                "tpr": tpr,
                "fpr": fpr,
                "precision": float((flag & y).sum() / max(1, flag.sum())),
                "network_tpr_at_fpr": float(np.interp(fpr, FPR_GRID, mean)),
                "network_auc": auc,
                "network_auc_std": auc_std,
            }
        )
    return pd.DataFrame(rows)


def selection_figure(pred: Predictions, model: str, path: Path, title: str) -> Path:
    """Fig. 11 style: per colour cut, the classifier's ROC on the objects the cut applies to, and the cut's point.

    Only cuts that apply to at least MIN_PER_CLASS AGN and SFG get a panel (fewer give no ROC to
    draw); the others are named below the panels, as the report table names them.
    """
    return _save(selection_fig(pred, model, title), path, tight=False)  # laid out with room for the note


def selection_fig(pred: Predictions, model: str, title: str):
    """The Figure of selection_figure (one panel per cut with enough objects of each class)."""
    rows = selection_rows(pred, model)
    enough = rows[[min(r["n_agn"], r["n"] - r["n_agn"]) >= MIN_PER_CLASS for _, r in rows.iterrows()]] \
        if len(rows) else rows
    skipped = rows.drop(index=enough.index) if len(rows) else rows
    n = max(1, len(enough))
    cols = min(4, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 4.0 * nrows + 0.6), squeeze=False)
    oof = pred.oof[pred.oof["model"] == model]
    sel = _selections(pred)
    for ax, (_, row) in zip(axes.flat, enough.iterrows(), strict=False):
        ids = sel.loc[sel[f"sel_{row['selection']}_applicable"], "source_id"]
        mean, std, auc, auc_std = mean_roc(oof[oof["source_id"].isin(ids)])
        ax.plot(FPR_GRID, mean, lw=1.8, label=f"classifier {model}: AUC {auc:.3f} ± {auc_std:.3f}")
        ax.fill_between(FPR_GRID, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), alpha=0.2)
        ax.plot(row["fpr"], row["tpr"], "r*", ms=14, label=f"{row['label']} cut", clip_on=False, zorder=5)
        _roc_axes(ax, f"{row['label']}: {row['n']} objects ({row['n_agn']} AGN)")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.03)
        ax.legend(loc="lower right", fontsize=8)
    for ax in list(axes.flat)[len(enough):]:
        ax.axis("off")
    if not len(enough):
        axes.flat[0].text(0.5, 0.5, f"no cut applies to {MIN_PER_CLASS} or more AGN and SFG", ha="center",
                          va="center", transform=axes.flat[0].transAxes)
    if len(skipped):
        names = ", ".join(f"{r['label']} ({r['n']} objects, {r['n_agn']} AGN)" for _, r in skipped.iterrows())
        fig.text(0.5, 0.005, f"Not shown (fewer than {MIN_PER_CLASS} AGN or SFG where the cut applies): {names}",
                 ha="center", va="bottom", fontsize=8, wrap=True)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04 if len(skipped) else 0, 1, 1))
    return fig


def selection_table(rows: pd.DataFrame) -> str:
    """Markdown table of the colour cuts against the network on the same objects."""
    lines = [
        "| cut | objects (AGN) | cut TPR | cut FPR | cut precision | classifier TPR at cut FPR "
        "| classifier AUC on them |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.iterrows():
        if min(r["n_agn"], r["n"] - r["n_agn"]) < MIN_PER_CLASS:
            classifier = f"- | - (fewer than {MIN_PER_CLASS} objects of a class)"
        else:
            classifier = f"{r['network_tpr_at_fpr']:.3f} | {r['network_auc']:.3f} ± {r['network_auc_std']:.3f}"
        lines.append(
            f"| {r['label']} | {r['n']} ({r['n_agn']}) | {r['tpr']:.3f} | {r['fpr']:.3f} | {r['precision']:.3f} "
            f"| {classifier} |"
        )
    return "\n".join(lines)


def calibrated_outer(pred: Predictions, model: str, method: str = "isotonic") -> pd.DataFrame:
    """Outer-fold scores of `model` with calibrated p: each (seed, fold) mapped by a calibrator fitted on
    that fold's inner out-of-fold scores (EVALDIR), or, without inner scores, on the other folds' OOF scores."""
    oof = pred.oof[pred.oof["model"] == model].copy()
    oof["p_cal"] = np.nan
    for (seed, fold), group in oof.groupby(["seed", "fold"]):
        if pred.inner is not None and model in set(pred.inner["model"]):
            inner = pred.inner[
                (pred.inner["model"] == model) & (pred.inner["seed"] == seed) & (pred.inner["fold"] == fold)
            ]
        else:
            inner = oof[(oof["seed"] == seed) & (oof["fold"] != fold)]
        calibrator = fit_calibrator(inner["p_agn"].to_numpy(), inner["y_true"].to_numpy(), method)
        oof.loc[group.index, "p_cal"] = calibrator.transform(group["p_agn"].to_numpy())
    return oof


CONSENSUS_METRICS = ("roc_auc", "brier", "balanced_accuracy", "agn_completeness", "sfg_completeness")
CONSENSUS_LABELS = {**METRIC_LABELS, "brier": "Brier"}


def consensus_members(pred: Predictions) -> list[str]:
    """The models of a run whose calibrated probabilities a catalogue would average: all but the baseline."""
    return sorted(m for m in pred.oof["model"].unique() if m != BASELINE_MODEL)


def consensus_metrics(pred: Predictions) -> pd.DataFrame:
    """Per (model, seed, fold), on the outer fold: each model's calibrated probability and their means.

    Each model of the run (the HGB-balanced baseline aside) is calibrated per outer fold as
    `calibrated_outer` does; "mean of M1, M2, ..." is the mean of their calibrated probabilities, which
    is what a catalogue built from a model set of those models gives as `p_agn_mean`. With HGBC and two or
    more other models, the mean of the others is given too. The class is p >= the AGN fraction of the
    training folds: for calibrated probabilities that is the rule of maximum balanced accuracy, and it
    needs no threshold fitted anywhere. Columns: model, seed, fold, the CONSENSUS_METRICS.
    """
    models = consensus_members(pred)
    calibrated = pd.concat([calibrated_outer(pred, model) for model in models], ignore_index=True)
    keys = ["seed", "fold", "source_id"]
    wide = calibrated.pivot_table(index=keys, columns="model", values="p_cal").dropna()
    wide["y_true"] = calibrated.groupby(keys)["y_true"].first().reindex(wide.index).to_numpy()
    means = [models] if len(models) > 1 else []
    others = [m for m in models if m != HGBC]
    if HGBC in models and len(others) > 1:
        means.append(others)
    rows = []
    for (seed, fold), group in wide.groupby(level=["seed", "fold"], sort=True):
        training = wide.xs(seed, level="seed")
        prior = float(training.loc[training.index.get_level_values("fold") != fold, "y_true"].mean())
        y = group["y_true"].to_numpy()
        scores = {m: group[m].to_numpy() for m in models}
        scores.update({"mean of " + ", ".join(chosen): group[chosen].mean(axis=1).to_numpy() for chosen in means})
        for name, p in scores.items():
            rows.append({"model": name, "seed": seed, "fold": fold, **classification_metrics(y, p, prior),
                         "brier": brier(y, p)})
    return pd.DataFrame(rows)


def consensus_table(per_fold: pd.DataFrame) -> str:
    """`consensus_metrics` as a Markdown table: mean ± std over (seed, fold), members first, then the means."""
    names = dict.fromkeys(per_fold["model"])  # in the order consensus_metrics gives them; sorted() keeps it
    order = sorted(names, key=lambda n: n.startswith("mean of "))
    summary = summarise(per_fold, metrics=CONSENSUS_METRICS).set_index("model").loc[order].reset_index()
    return markdown_table(summary, CONSENSUS_METRICS, CONSENSUS_LABELS, first="model (calibrated p)")


def calibration_figure(pred: Predictions, model: str, path: Path, title: str) -> tuple[Path, dict[str, float]]:
    """Reliability diagram before/after calibration, with Brier scores (mean +- std over folds x seeds)."""
    fig, scores = calibration_fig(pred, model, title)
    return _save(fig, path), scores


def calibration_fig(pred: Predictions, model: str, title: str):
    """The Figure of calibration_figure and its Brier scores; the histogram counts objects (1/seeds per prediction)."""
    oof = calibrated_outer(pred, model)
    per_fold = oof.groupby(["seed", "fold"]).apply(
        lambda g: pd.Series({"raw": brier(g["y_true"], g["p_agn"]), "cal": brier(g["y_true"], g["p_cal"])}),
        include_groups=False,
    )
    scores = {
        "brier_raw_mean": float(per_fold["raw"].mean()),
        "brier_raw_std": float(per_fold["raw"].std(ddof=1)),
        "brier_cal_mean": float(per_fold["cal"].mean()),
        "brier_cal_std": float(per_fold["cal"].std(ddof=1)),
        "agn_fraction": float(oof["y_true"].mean()),
    }
    n_seeds = int(oof["seed"].nunique())
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(6.2, 7.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.5", ls=":", lw=1, label="perfect calibration")
    for column, label, key in (
        ("p_agn", "raw classifier score", "raw"),
        ("p_cal", "calibrated (isotonic, inner folds)", "cal"),
    ):
        rel = reliability_curve(oof["y_true"].to_numpy(), oof[column].to_numpy(), n_bins=10)
        ok = rel.counts > 0
        ax.errorbar(
            rel.mean_predicted[ok],
            rel.observed_fraction[ok],
            yerr=rel.observed_error[ok],
            marker="o",
            capsize=3,
            label=f"{label}: Brier {scores[f'brier_{key}_mean']:.3f} ± {scores[f'brier_{key}_std']:.3f}",
        )
        # one held-out prediction per object and seed: weighted 1/seeds, the bars count objects
        hist.hist(oof[column], bins=rel.bin_edges, histtype="step", lw=1.5, label=label,
                  weights=np.full(len(oof), 1.0 / n_seeds))
    ax.set_ylabel("observed AGN fraction")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title, fontsize=11)
    hist.set_yscale("log")
    hist.set_xlabel("raw score, or calibrated AGN probability")
    hist.set_ylabel("objects" if n_seeds == 1 else f"objects (mean of {n_seeds} seeds)")
    return fig, scores


def uncertainty_figure(pred: Predictions, model: str, path: Path, title: str) -> tuple[Path, dict[str, float]]:
    """Per-object spread of the raw score across seeds (each seed's held-out model), against its mean, by class.

    The stored out-of-fold predictions are raw network scores (column p_agn of the files), not
    calibrated probabilities: the axes say so.
    """
    fig, stats = uncertainty_fig(pred, model, title)
    return _save(fig, path), stats


def seed_spread(oof: pd.DataFrame) -> pd.DataFrame:
    """Per model of held-out predictions `oof` (Predictions.oof): the spread over seeds of each object's held-out
    raw score (the std over the seeds' models that held it out), summarised over objects. Columns: model,
    median_std, p90_std, n_seeds; one row per model.

    This is the per-object stability of a model: how much an object's score depends on the seed that trained it.
    """
    rows = []
    for model, held_out in oof.groupby("model", sort=True):
        spread = held_out.groupby("source_id")["p_agn"].std()
        rows.append({"model": model, "median_std": float(spread.median()), "p90_std": float(spread.quantile(0.9)),
                     "n_seeds": int(held_out["seed"].nunique())})
    return pd.DataFrame(rows)


def seed_spread_table(spread: pd.DataFrame) -> str:
    """`seed_spread` as a Markdown table."""
    lines = ["| model | median std over seeds | 90th percentile | seeds |", "|---|---|---|---|"]
    lines += [f"| {row.model} | {row.median_std:.3f} | {row.p90_std:.3f} | {row.n_seeds} |"
              for row in spread.itertuples(index=False)]
    return "\n".join(lines)


def uncertainty_fig(pred: Predictions, model: str, title: str):
    """The Figure of uncertainty_figure and its summary statistics (`seed_spread`'s row of the model)."""
    oof = pred.oof[pred.oof["model"] == model]
    per_object = oof.groupby("source_id").agg(p_mean=("p_agn", "mean"), p_std=("p_agn", "std"), y=("y_true", "first"))
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(11, 4.6))
    for value, label, colour in ((0, "SFG", "tab:blue"), (1, "AGN", "tab:red")):
        sub = per_object[per_object["y"] == value]
        ax.scatter(sub["p_mean"], sub["p_std"], s=6, alpha=0.5, color=colour, label=f"{label} ({len(sub)})")
        hist.hist(sub["p_std"].dropna(), bins=30, histtype="step", lw=1.5, color=colour, label=label, density=True)
    ax.set_xlabel("mean raw score over seeds (held-out, uncalibrated)")
    ax.set_ylabel("std of the raw score over seeds")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    hist.set_xlabel("std of the raw score over seeds")
    hist.set_ylabel("probability density")
    hist.legend()
    fig.suptitle(title)
    return fig, seed_spread(oof).iloc[0].drop("model").to_dict()


def _save(fig, path: Path, tight: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    save_figure(fig, path, dpi=130)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
