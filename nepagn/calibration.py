"""Calibrated AGN probabilities: isotonic or Platt maps fitted on held-out predictions only.

A network trained with focal loss and alpha = 0.99 outputs scores, not probabilities: its
p_agn is far above the true AGN fraction. A calibrator maps scores to probabilities that
match observed AGN fractions. Evaluation uses cross-fitting (`cross_fitted_calibration`):
the map applied to fold k is fitted on the out-of-fold predictions of the other folds, so
fold k is never seen.

The catalogue's maps are fitted by `nepagn train` (`fit_model_set_calibrators`), one isotonic map
per model on held-out predictions (`calibration_rows` says which): under the strict protocol the
inner-split predictions (the outer folds stay untouched, so oof_predictions.parquet remains an honest
test of the calibrated model), or, for a model set trained for a target catalogue, the outer folds
scored as degraded copies (five times the rows, and fold-ensemble scores at the target's depth, the
kind the catalogue applies the map to; calibration is then tested by cross-fitting, `nepagn report`);
the out-of-fold predictions under the paper protocol (there is no inner split).
They are saved as JSON in MODELDIR/calibration/<model>.json, listed with their SHA-256 in the
manifest, and applied by `nepagn.model.inference.ModelSet` to the fold-ensemble mean.
`manifest_calibration` reads what a manifest says (older manifests: uncalibrated).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from nepagn.errors import NepagnError
from nepagn.files import write_text_atomic

log = logging.getLogger(__name__)

METHODS = ("isotonic", "platt")
CALIBRATION_DIR = "calibration"
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A monotone map from raw p_agn to calibrated probability, serialisable as JSON."""

    method: str
    x: list[float] = field(default_factory=list)  # isotonic knots (raw p)
    y: list[float] = field(default_factory=list)  # isotonic values (calibrated p)
    slope: float = 1.0  # Platt: p = sigmoid(slope * logit(raw) + intercept)
    intercept: float = 0.0
    n_fit: int = 0
    fitted_on: str = ""

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores `p` (NaN stays NaN)."""
        p = np.asarray(p, dtype="float64")
        if self.method == "isotonic":
            out = np.interp(p, self.x, self.y)
        else:
            out = 1.0 / (1.0 + np.exp(-(self.slope * _logit(p) + self.intercept)))
        return np.where(np.isnan(p), np.nan, out)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        return cls(**json.loads(text))


def fit_calibrator(p: np.ndarray, y_true: np.ndarray, method: str = "isotonic", fitted_on: str = "") -> Calibrator:
    """Fit an isotonic (default) or Platt calibrator on held-out scores `p` with labels `y_true` (1 = AGN)."""
    if method not in METHODS:
        raise NepagnError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    p = np.asarray(p, dtype="float64")
    y_true = np.asarray(y_true, dtype="int64")
    keep = np.isfinite(p)
    p, y_true = p[keep], y_true[keep]
    if len(np.unique(y_true)) < 2:
        raise NepagnError("calibration needs held-out predictions of both classes (AGN and SFG)")
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y_true)
        return Calibrator(method, x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist(),
                          n_fit=int(len(p)), fitted_on=fitted_on)
    platt = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y_true)
    return Calibrator(method, slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]),
                      n_fit=int(len(p)), fitted_on=fitted_on)


def cross_fitted_calibration(
    p: np.ndarray, y_true: np.ndarray, folds: np.ndarray, method: str = "isotonic"
) -> np.ndarray:
    """Calibrated out-of-fold predictions: fold k is mapped by a calibrator fitted on every other fold."""
    p, y_true, folds = np.asarray(p, dtype="float64"), np.asarray(y_true), np.asarray(folds)
    out = np.full_like(p, np.nan)
    for fold in np.unique(folds):
        held = folds == fold
        calibrator = fit_calibrator(p[~held], y_true[~held], method, fitted_on=f"folds != {fold}")
        out[held] = calibrator.transform(p[held])
    return out


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data: per probability bin, mean prediction, AGN fraction and its binomial error."""

    bin_edges: np.ndarray
    mean_predicted: np.ndarray
    observed_fraction: np.ndarray
    observed_error: np.ndarray
    counts: np.ndarray


def reliability_curve(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10) -> Reliability:
    """Bin predictions into `n_bins` equal-width bins in [0, 1]; empty bins give NaN."""
    y_true, p = np.asarray(y_true, dtype="float64"), np.asarray(p, dtype="float64")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=n_bins) / counts
        frac = np.bincount(which, weights=y_true, minlength=n_bins) / counts
        err = np.sqrt(frac * (1 - frac) / counts)
    return Reliability(edges, mean_p, frac, err, counts)


def brier(y_true: np.ndarray, p: np.ndarray) -> float:
    """Brier score (mean squared error of the probability; lower is better)."""
    return float(brier_score_loss(np.asarray(y_true, dtype="int64"), np.asarray(p, dtype="float64")))


def calibrator_path(modeldir: str | Path, model: str) -> Path:
    """Where MODELDIR keeps the calibrator of one model (or ensemble) name."""
    return Path(modeldir) / CALIBRATION_DIR / f"{model}.json"


def save_calibrator(calibrator: Calibrator, modeldir: str | Path, model: str) -> Path:
    """Write the calibrator atomically (temp file + rename) into MODELDIR/calibration/<model>.json."""
    path = write_text_atomic(calibrator_path(modeldir, model), calibrator.to_json())
    log.info("saved %s calibrator of model %s (%d held-out predictions) to %s", calibrator.method, model,
             calibrator.n_fit, path)
    return path


def load_calibrator(modeldir: str | Path, model: str) -> Calibrator:
    """The calibrator saved for `model` in MODELDIR; a clear error if there is none."""
    path = calibrator_path(modeldir, model)
    if not path.is_file():
        raise NepagnError(f"{path}: no calibrator for model {model!r}; `nepagn train` fits one per model "
                          f"(for an EVALDIR, run `nepagn report --models {modeldir} --save-calibration`)")
    return Calibrator.from_json(path.read_text())


def apply_calibration(modeldir: str | Path, p: np.ndarray, model: str) -> np.ndarray:
    """Calibrated p_agn for raw scores `p` of `model`, with the calibrator stored in MODELDIR."""
    return load_calibrator(modeldir, model).transform(p)


# --- the calibration a model set carries (fitted by `nepagn train`, applied to the catalogue's p_agn) ---

CATALOGUE_METHOD = "isotonic"
INNER_SPLIT, OUT_OF_FOLD, OUTER_DEGRADED = "inner_split", "out_of_fold", "outer_degraded"
FITTED_ON_PHRASE = {INNER_SPLIT: "inner splits", OUT_OF_FOLD: "outer folds",
                    OUTER_DEGRADED: "outer folds' degraded copies"}
FITTED_ON_DESCRIPTION = {
    INNER_SPLIT: (
        "the pooled inner-split predictions of the model's member networks (strict protocol): each network's "
        "scores on the inner monitoring rows of its training folds, which it never trained on (they chose its "
        "stopping epoch and threshold); the outer folds are not used, so oof_predictions.parquet stays an "
        "independent test of the calibrated probabilities"
    ),
    OUT_OF_FOLD: (
        "the pooled out-of-fold predictions of the model's member networks (paper protocol): each network's "
        "scores on the outer fold it never trained on; that fold also chose the network's stopping epoch "
        "(Eq. 3), so the fit is slightly optimistic"
    ),
    OUTER_DEGRADED: (
        "the pooled out-of-fold predictions on degraded copies (strict protocol, trained for a target "
        "catalogue): each fold's networks' mean score on degraded copies of the outer fold, which they never "
        "trained on and which chose neither their stopping epoch nor their threshold (inner rows did); five "
        "times the inner splits' rows, at the target's depth. The outer rows are no longer an independent test "
        "of the calibrated probabilities: `nepagn report` tests calibration by cross-fitting"
    ),
}
ENSEMBLE_NOTE = (
    "fitted on held-out scores of one fold's networks and applied to the mean over every fold: the only held-out "
    "scores there are (every labelled row is in the training folds of K-1 of the folds). The mean over folds "
    "is a little less extreme than one fold's score, so the map fits it closely, not exactly"
)


def calibration_rows(protocol: str, target_given: bool) -> str:
    """Which held-out predictions a model set's calibrators are fitted on (INNER_SPLIT, OUT_OF_FOLD or
    OUTER_DEGRADED): the paper protocol has only the outer folds; the strict protocol keeps them for testing,
    except for a model set trained for a target catalogue, whose outer folds scored as degraded copies give
    five times the inner rows at the target's depth (on the mock's default build over six training seeds:
    Brier score 0.114 against 0.115, agn_reliable 892-1,672 sources against 110-1,826; docs/validation.md)."""
    if protocol == "paper":
        return OUT_OF_FOLD
    return OUTER_DEGRADED if target_given else INNER_SPLIT
UNCALIBRATED_OLD = "the model set has no calibration (trained before `nepagn train` fitted one)"


@dataclass(frozen=True)
class ModelCalibration:
    """What a model set's manifest says about one model's calibration (file None: uncalibrated, and why)."""

    model: str
    file: str | None = None
    sha256: str | None = None
    method: str | None = None
    fitted_on: str | None = None
    n_fit: int = 0
    reason: str = ""

    @property
    def calibrated(self) -> bool:
        return self.file is not None

    @property
    def phrase(self) -> str:
        """Short wording for column descriptions, e.g. 'calibrated (isotonic, fitted on inner splits)'."""
        if self.calibrated:
            return f"calibrated ({self.method}, fitted on {FITTED_ON_PHRASE.get(str(self.fitted_on), self.fitted_on)})"
        return "UNCALIBRATED (raw score, no calibrator)"

    def record(self) -> dict[str, Any]:
        """Plain dict for provenance."""
        if self.calibrated:
            return {"status": "calibrated", "file": self.file, "sha256": self.sha256, "method": self.method,
                    "fitted_on": self.fitted_on, "n_fit": self.n_fit}
        return {"status": "uncalibrated", "reason": self.reason}


def manifest_calibration(manifest: Mapping[str, Any]) -> dict[str, ModelCalibration]:
    """Per model name, its calibration as recorded in a model-set manifest; all uncalibrated for older manifests."""
    section = manifest.get("calibration")
    if not section:
        return {name: ModelCalibration(name, reason=UNCALIBRATED_OLD) for name in manifest["models"]}
    result = {}
    for name in manifest["models"]:
        entry = section["models"].get(name) or {}
        file = entry.get("file")
        if file is None:
            result[name] = ModelCalibration(name, reason=str(entry.get("reason", "no calibrator recorded")))
            continue
        if file not in manifest["file_hashes"]:
            raise NepagnError(f"manifest: calibrator {file} of model {name} is not among the hashed files")
        result[name] = ModelCalibration(name, file, manifest["file_hashes"][file], section["method"],
                                        section["fitted_on"], int(entry["n_fit"]))
    return result


def calibration_provenance(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance record of a model set's calibration: status, method, fitted on what, files and SHA-256."""
    calibrations = manifest_calibration(manifest)
    section = manifest.get("calibration") or {}
    calibrated = [name for name, item in calibrations.items() if item.calibrated]
    if len(calibrated) == len(calibrations):
        status = "calibrated"
    else:
        status = "partly calibrated" if calibrated else "uncalibrated"
    return {
        "status": status,
        "method": section.get("method"),
        "fitted_on": section.get("fitted_on"),
        "description": section.get("description"),
        "ensemble_note": section.get("ensemble_note"),
        "class_rule": "class_<model> thresholds the raw score score_agn_<model> (models.decision); for a rule with "
                      "a census cut, the calibrated probabilities set how many sources are called AGN",
        "models": {name: item.record() for name, item in calibrations.items()},
    }


def warn_if_uncalibrated(calibrations: Mapping[str, ModelCalibration], where: str) -> None:
    """Log a warning naming every model whose p_agn stays an uncalibrated raw score."""
    missing = {name: item.reason for name, item in calibrations.items() if not item.calibrated}
    if missing:
        log.warning("%s: p_agn of model(s) %s is UNCALIBRATED (the raw ensemble score): %s", where,
                    ", ".join(missing), "; ".join(sorted(set(missing.values()))))


def fit_model_set_calibrators(
    held_out: pd.DataFrame, models: Sequence[str], fitted_on: str
) -> tuple[dict[str, Calibrator], dict[str, Any]]:
    """Fit one isotonic calibrator per model on held-out predictions.

    held_out: columns model, y_true, p_agn: the held-out predictions `fitted_on` names (`calibration_rows`:
    INNER_SPLIT, OUT_OF_FOLD or OUTER_DEGRADED). Every (fold, seed) task's scores are pooled. A model whose
    held-out predictions lack a class stays uncalibrated, with a warning and the reason in the section (never
    a silent raw p_agn).

    Returns the calibrators by model (to save with `save_calibrator` into the MODELDIR) and the
    manifest's `calibration` section, which names their files there.
    """
    calibrators: dict[str, Calibrator] = {}
    entries: dict[str, Any] = {}
    for name in models:
        rows = held_out[held_out["model"] == name]
        try:
            calibrator = fit_calibrator(rows["p_agn"].to_numpy(), rows["y_true"].to_numpy(), CATALOGUE_METHOD,
                                        fitted_on=f"{fitted_on}: {len(rows)} single-network held-out predictions")
        except NepagnError as exc:
            log.warning("model %s: no calibrator fitted (%s); its catalogue p_agn will be UNCALIBRATED", name, exc)
            entries[name] = {"file": None, "reason": f"not fitted: {exc}"}
            continue
        calibrators[name] = calibrator
        entries[name] = {"file": f"{CALIBRATION_DIR}/{name}.json", "n_fit": calibrator.n_fit,
                         "n_agn": int(rows["y_true"].sum())}
    return calibrators, {
        "method": CATALOGUE_METHOD,
        "fitted_on": fitted_on,
        "description": f"{CATALOGUE_METHOD} map per model, fitted on {FITTED_ON_DESCRIPTION[fitted_on]}",
        "ensemble_note": ENSEMBLE_NOTE,
        "models": entries,
    }
