"""Calibrated AGN probabilities: isotonic or Platt maps fitted on held-out predictions only.

A network trained with focal loss and alpha = 0.99 outputs scores, not probabilities: its
p_agn is far above the true AGN fraction. A calibrator maps scores to probabilities that
match observed AGN fractions. Evaluation uses cross-fitting (`cross_fitted_calibration`):
the map applied to fold k is fitted on the out-of-fold predictions of the other folds, so
fold k is never seen. The catalogue's map is fitted on all out-of-fold predictions, saved
as JSON in MODELDIR/calibration/, and applied with `apply_calibration(modeldir, p)`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from nepagn.errors import NepagnError

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
    path = calibrator_path(modeldir, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(calibrator.to_json())
    os.replace(tmp, path)
    log.info("saved %s calibrator of model %s (%d held-out predictions) to %s", calibrator.method, model,
             calibrator.n_fit, path)
    return path


def load_calibrator(modeldir: str | Path, model: str) -> Calibrator:
    """The calibrator saved for `model` in MODELDIR; a clear error if there is none."""
    path = calibrator_path(modeldir, model)
    if not path.is_file():
        raise NepagnError(f"{path}: no calibrator for model {model!r}; run `nepagn report --models {modeldir}` "
                          "(which fits one from the stored out-of-fold predictions) first")
    return Calibrator.from_json(path.read_text())


def apply_calibration(modeldir: str | Path, p: np.ndarray, model: str) -> np.ndarray:
    """Calibrated p_agn for raw scores `p` of `model`, with the calibrator stored in MODELDIR."""
    return load_calibrator(modeldir, model).transform(p)
