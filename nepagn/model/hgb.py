"""Gradient-boosting members (recipes HGB, HGBC): their inputs, fitting, prediction and safe persistence.

One member is a scikit-learn HistGradientBoostingClassifier with the input columns it was fitted on.
The evaluation experiments and `nepagn train` both fit members here (through nepagn.model.fold_fit), so
the catalogue's HGBC is the classifier that was measured. Members are saved with skops (no pickle: loading
refuses any type not listed in TRUSTED_TYPES) and, in a MODELDIR, checked against the manifest's SHA-256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, load_registry
from nepagn.errors import NepagnError

MEMBERS_FILE = "members.skops"
INPUTS_FILE = "inputs.json"
# beyond what skops trusts by default, the one type a fitted HistGradientBoostingClassifier holds
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def hgb_inputs(frame: pd.DataFrame, bands: tuple[Band, ...], colours: str | None = None) -> np.ndarray:
    """Gradient-boosting inputs: magnitudes and errors as given (missing = NaN), and with colours="all_pairs"
    every colour m_i - m_j (i before j in band order), NaN where either band is missing."""
    mags = frame[[b.mag_column for b in bands]].to_numpy(dtype=np.float64, na_value=np.nan)
    errs = frame[[b.err_column for b in bands]].to_numpy(dtype=np.float64, na_value=np.nan)
    if colours is None:
        return np.hstack([mags, errs])
    if colours != "all_pairs":
        raise ValueError(f"colours must be None or 'all_pairs', not {colours!r}")
    first, second = np.triu_indices(len(bands), k=1)
    return np.hstack([mags, errs, mags[:, first] - mags[:, second]])


@dataclass(frozen=True)
class HgbMember:
    """A fitted HistGradientBoostingClassifier and the hgb_inputs columns (indices) it was fitted on."""

    estimator: Any
    bands: tuple[Band, ...]
    colours: str | None
    columns: np.ndarray

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """P(AGN) of the estimator for every row of `frame` (float64)."""
        x = hgb_inputs(frame, self.bands, self.colours)[:, self.columns]
        return self.estimator.predict_proba(x)[:, 1].astype(np.float64)

    def describe(self) -> dict[str, Any]:
        """JSON-ready inputs of the member (bands, colours, columns kept)."""
        return {"bands": [b.id for b in self.bands], "colours": self.colours, "columns": self.columns.tolist()}


def fit_hgb_member(
    frame: pd.DataFrame, bands: tuple[Band, ...], y: np.ndarray, fit_rows: np.ndarray, seed: int,
    colours: str | None = None,
) -> HgbMember:
    """A class-unweighted HistGradientBoostingClassifier fitted on `fit_rows` of `frame` (labels y)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = hgb_inputs(frame.iloc[fit_rows], bands, colours)
    # a column never observed in the training rows carries nothing (and sklearn's binning rejects it)
    columns = np.flatnonzero(~np.isnan(x).all(axis=0))
    model = HistGradientBoostingClassifier(random_state=seed).fit(x[:, columns], y[fit_rows])
    return HgbMember(model, tuple(bands), colours, columns)


def members_to_bytes(members: list[HgbMember]) -> tuple[bytes, str]:
    """(skops bytes of the estimators, JSON of their inputs): the two files of one saved member list."""
    import skops.io as sio

    inputs = [member.describe() for member in members]
    return sio.dumps([member.estimator for member in members]), json.dumps(inputs, indent=2) + "\n"


def load_members(estimators_path: Path, inputs_path: Path) -> list[HgbMember]:
    """The member list saved by members_to_bytes; NepagnError naming the file if it holds anything untrusted."""
    import skops.io as sio

    data = Path(estimators_path).read_bytes()
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise NepagnError(f"{estimators_path}: holds types nepagn does not load: {untrusted}")
    estimators = sio.loads(data, trusted=TRUSTED_TYPES)
    inputs = json.loads(Path(inputs_path).read_text())
    if len(inputs) != len(estimators):
        raise NepagnError(f"{inputs_path}: describes {len(inputs)} members, {estimators_path} holds {len(estimators)}")
    registry = {band.id: band for band in load_registry()}
    unknown = sorted({band for item in inputs for band in item["bands"]} - set(registry))
    if unknown:
        raise NepagnError(f"{inputs_path}: unknown band ids {unknown}")
    return [  # bands in the saved order: the colour columns depend on it
        HgbMember(estimator, tuple(registry[b] for b in item["bands"]), item["colours"],
                  np.asarray(item["columns"], dtype=np.int64))
        for estimator, item in zip(estimators, inputs, strict=True)
    ]
