"""How the catalogue's classes and probabilities compare with the simulation truth (mock catalogues only).

A real catalogue has no truth beyond its labelled sources; the mock has `true_class` for every source,
so a build of it can say what a user of a real catalogue cannot check: the true AGN fraction of the
inference set, each model's ROC AUC, Brier score (against the constant true fraction), precision and
completeness of its class, the true purity and completeness of the named subsets, per 1-mag bin of the
summary band, and the reliability diagram. Stars wrongly kept as galaxies count as not AGN.

Partitions are read back (catalogue columns beside the input store's summary-band magnitude, the
same rows in the same order) into a compact frame (booleans and floats, no text), sampled evenly to
at most about `max_rows` classified rows: the client's memory stays bounded at any catalogue size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from nepagn.calibration import reliability_curve
from nepagn.model.decision import AGN_COMPLETE, AGN_RELIABLE
from nepagn.model.predictions import P_AGN_MEAN, p_agn_column
from nepagn.pipeline.catalogue_schema import CLASS_AGN, CONSENSUS_CLASS, class_column
from nepagn.pipeline.summary import CONSENSUS, magnitude_bins
from nepagn.preprocess import STATUS, STATUS_CLASSIFIED
from nepagn.schema import SOURCE_ID, TRUE_CLASS
from nepagn.store import Store, partition_path

log = logging.getLogger(__name__)

MAX_ROWS = 1_000_000  # AUC's sampling error at 10^6 rows is ~0.001
MIN_PER_CLASS = 5  # no AUC where a bin has fewer AGN or non-AGN than this


def complete_summary(
    summary: dict[str, Any], *, store: Store, catalogue_root: Path, wanted: Sequence[tuple[int, int]],
    models: Sequence[str], band: str | None, decision: dict[str, Any], degradation: dict[str, Any],
    domain_recorded: bool | None = None,
) -> dict[str, Any]:
    """Add to a build's summary what the counts cannot hold: the summary band, how the model set decides
    and what it trained on, and (where the store has `true_class`) the comparison with the truth."""
    from nepagn.bands import mag_column

    summary["magnitude_band"] = band
    summary["model_set"] = {"degradation": degradation, "decision": decision, "domain_recorded": domain_recorded}
    if TRUE_CLASS in store.columns:
        column = mag_column(band) if band is not None else None
        column = column if column in store.columns else None
        summary["truth"] = evaluate_truth(read_inference_set(catalogue_root, store, wanted, models, column),
                                          models, band)
    return summary


def read_inference_set(
    catalogue_root: Path, store: Store, wanted: Sequence[tuple[int, int]], models: Sequence[str],
    band_column: str | None, max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """The inference set as the truth section needs it, one compact row per source (no text column).

    Columns: `y` (true_class is AGN), per key of `models` and CONSENSUS `p_<key>` (its p_agn) and
    `called_<key>` (its class is AGN), the subset flags, and `magnitude` (the summary band) when
    `band_column` is given.
    """
    columns = [SOURCE_ID, STATUS, TRUE_CLASS, P_AGN_MEAN, CONSENSUS_CLASS, AGN_RELIABLE, AGN_COMPLETE]
    columns += [p_agn_column(m) for m in models] + [class_column(m) for m in models]
    sources = {**{m: (p_agn_column(m), class_column(m)) for m in models}, CONSENSUS: (P_AGN_MEAN, CONSENSUS_CLASS)}
    total = store.num_rows
    step = max(1, round(total / max_rows)) if total > max_rows else 1
    by_pixel = {(p.order, p.pixel): p for p in store.partitions}
    parts = []
    for order, pixel in wanted:
        frame = pd.read_parquet(partition_path(catalogue_root, order, pixel), columns=columns)
        keep = np.flatnonzero((frame[STATUS] == STATUS_CLASSIFIED).to_numpy(dtype=bool))[::step]
        part = {"y": _is_agn(frame[TRUE_CLASS].iloc[keep])}
        for key, (p_column, called_column) in sources.items():
            part[f"p_{key}"] = frame[p_column].to_numpy(dtype=np.float64, na_value=np.nan)[keep]
            part[f"called_{key}"] = _is_agn(frame[called_column].iloc[keep])
        for name in (AGN_RELIABLE, AGN_COMPLETE):
            part[name] = pd.array(frame[name].iloc[keep], dtype="boolean")  # a set without subsets: all NA
        if band_column is not None:
            source = store.read_partition(by_pixel[(order, pixel)], [SOURCE_ID, band_column])
            if not (source[SOURCE_ID].to_numpy() == frame[SOURCE_ID].to_numpy()).all():
                raise RuntimeError(f"partition {order}/{pixel}: catalogue and store rows are not in the same order")
            part["magnitude"] = source[band_column].to_numpy(dtype=np.float64, na_value=np.nan)[keep]
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["y"])


def _is_agn(classes: pd.Series) -> np.ndarray:
    return classes.eq(CLASS_AGN).to_numpy(dtype=bool, na_value=False)


def evaluate_truth(frame: pd.DataFrame, models: Sequence[str], band: str | None) -> dict[str, Any] | None:
    """Metrics of every model and the consensus against the truth, on `read_inference_set`'s frame (None where
    it has no row)."""
    if len(frame) == 0:
        return None
    y = frame["y"].to_numpy(dtype=bool)
    keys = [*models, CONSENSUS]
    probabilities = {key: frame[f"p_{key}"].to_numpy(dtype=np.float64) for key in keys}
    calls = {key: frame[f"called_{key}"].to_numpy(dtype=bool) for key in keys}
    truth: dict[str, Any] = {
        "n": int(len(y)),
        "true_agn_fraction": float(y.mean()),
        "brier_constant": _brier(y, np.full(len(y), y.mean())),
        "overall": {key: _metrics(y, probabilities[key], calls[key]) for key in probabilities},
        "subsets": _subsets(frame, y),
        "reliability": {key: _reliability(y, p) for key, p in probabilities.items()},
        "band": band,
    }
    if "magnitude" in frame:
        labels = magnitude_bins(frame["magnitude"].to_numpy())
        bins = {}
        for label in sorted(set(labels), key=lambda text: float("inf") if not text[0].isdigit()
                            else float(text.split("-")[0])):
            rows = labels == label
            p = probabilities[CONSENSUS][rows]
            bins[str(label)] = {
                "n": int(rows.sum()),
                "true_agn_fraction": float(y[rows].mean()),
                "estimated": float(np.nanmean(p)),
                "roc_auc": _auc(y[rows], p),
                "brier": _brier(y[rows], p),
                "brier_constant": _brier(y[rows], np.full(int(rows.sum()), y[rows].mean())),
                "reliable_purity": _subsets(frame[rows], y[rows]).get(AGN_RELIABLE, {}).get("purity"),
                "complete_completeness": _subsets(frame[rows], y[rows]).get(AGN_COMPLETE, {}).get("completeness"),
            }
        truth["bins"] = bins
    return truth


def _metrics(y: np.ndarray, p: np.ndarray, called: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(called & y))
    return {
        "called": float(called.mean()),
        "estimated": float(np.nanmean(p)),
        "roc_auc": _auc(y, p),
        "brier": _brier(y, p),
        "precision": tp / int(called.sum()) if called.any() else None,
        "completeness": tp / int(y.sum()) if y.any() else None,
    }


def _subsets(frame: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    out = {}
    for name in (AGN_RELIABLE, AGN_COMPLETE):
        if name not in frame or frame[name].isna().all():
            continue
        flag = frame[name].to_numpy(dtype=bool, na_value=False)
        tp = int(np.sum(flag & y))
        out[name] = {"n": int(flag.sum()), "purity": tp / int(flag.sum()) if flag.any() else None,
                     "completeness": tp / int(y.sum()) if y.any() else None}
    return out


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    if y.sum() < MIN_PER_CLASS or (~y).sum() < MIN_PER_CLASS:
        return None
    return float(roc_auc_score(y, p))


def _brier(y: np.ndarray, p: np.ndarray) -> float | None:
    ok = np.isfinite(p)
    return float(np.mean((p[ok] - y[ok]) ** 2)) if ok.any() else None


def _reliability(y: np.ndarray, p: np.ndarray) -> dict[str, list]:
    ok = np.isfinite(p)
    curve = reliability_curve(y[ok], p[ok], n_bins=10)
    return {"mean_predicted": _plain(curve.mean_predicted), "observed_fraction": _plain(curve.observed_fraction),
            "observed_error": _plain(curve.observed_error), "counts": curve.counts.tolist()}


def _plain(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]
