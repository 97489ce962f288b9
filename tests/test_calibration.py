"""Calibration: maps fitted on held-out scores only, Brier improves, JSON round trip in MODELDIR."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from nepagn.calibration import (
    INNER_SPLIT,
    OUT_OF_FOLD,
    OUTER_DEGRADED,
    apply_calibration,
    brier,
    calibration_provenance,
    calibration_rows,
    calibrator_path,
    cross_fitted_calibration,
    fit_calibrator,
    fit_model_set_calibrators,
    load_calibrator,
    manifest_calibration,
    reliability_curve,
    save_calibrator,
)
from nepagn.errors import NepagnError


def overconfident_scores(n: int = 4000, seed: int = 0):
    """True AGN probability q, labels drawn from it, and a focal-loss-like inflated score q**0.3."""
    rng = np.random.default_rng(seed)
    q = rng.beta(0.5, 3.0, n)  # mostly SFG-like objects, as in NEP-Wide (AGN fraction ~ 14%)
    y = (rng.random(n) < q).astype(int)
    folds = rng.integers(0, 10, n)
    return q ** 0.3, y, folds, q


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_cross_fitted_calibration_lowers_brier(method):
    raw, y, folds, _ = overconfident_scores()
    calibrated = cross_fitted_calibration(raw, y, folds, method)
    assert np.isfinite(calibrated).all()
    assert brier(y, calibrated) < 0.8 * brier(y, raw)
    # calibrated probabilities average to the AGN fraction; the raw scores do not
    assert calibrated.mean() == pytest.approx(y.mean(), abs=0.02)
    assert raw.mean() > y.mean() + 0.2


def test_fold_is_never_seen_by_its_own_calibrator():
    raw, y, folds, _ = overconfident_scores()
    before = cross_fitted_calibration(raw, y, folds)
    y_changed = y.copy()
    y_changed[folds == 3] = 1 - y_changed[folds == 3]  # corrupt fold 3's labels only
    after = cross_fitted_calibration(raw, y_changed, folds)
    np.testing.assert_array_equal(before[folds == 3], after[folds == 3])
    assert not np.array_equal(before[folds != 3], after[folds != 3])


def test_platt_recovers_known_map():
    rng = np.random.default_rng(1)
    raw = rng.uniform(0.01, 0.99, 20000)
    logit = np.log(raw / (1 - raw))
    y = (rng.random(raw.size) < 1 / (1 + np.exp(-(2.0 * logit - 1.0)))).astype(int)
    calibrator = fit_calibrator(raw, y, "platt")
    assert calibrator.slope == pytest.approx(2.0, abs=0.1)
    assert calibrator.intercept == pytest.approx(-1.0, abs=0.1)


def test_isotonic_map_is_monotone_and_keeps_nan():
    raw, y, _, _ = overconfident_scores()
    calibrator = fit_calibrator(raw, y)
    grid = np.linspace(0, 1, 101)
    assert (np.diff(calibrator.transform(grid)) >= 0).all()
    assert np.isnan(calibrator.transform(np.array([np.nan, 0.5]))[0])


def test_reliability_curve_by_hand():
    # bins of width 0.1: 0.05 -> bin 0; 0.12, 0.18 -> bin 1 (AGN fraction 1/2, error sqrt(.25/2) = 0.354); 0.95 -> bin 9
    rel = reliability_curve(np.array([0, 1, 0, 1]), np.array([0.05, 0.12, 0.18, 0.95]), n_bins=10)
    assert rel.counts.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert rel.mean_predicted[1] == pytest.approx(0.15)
    assert rel.observed_fraction[1] == pytest.approx(0.5)
    assert rel.observed_error[1] == pytest.approx(0.3536, abs=1e-4)
    assert np.isnan(rel.observed_fraction[4])


def test_brier_by_hand():
    # ((0.8-1)^2 + (0.3-0)^2) / 2 = (0.04 + 0.09) / 2 = 0.065
    assert brier(np.array([1, 0]), np.array([0.8, 0.3])) == pytest.approx(0.065)


def test_calibrator_round_trip_in_modeldir(tmp_path):
    raw, y, _, _ = overconfident_scores()
    calibrator = fit_calibrator(raw, y, fitted_on="out-of-fold, strict, seeds 0-4")
    path = save_calibrator(calibrator, tmp_path, "N")
    assert path == tmp_path / "calibration" / "N.json"
    assert load_calibrator(tmp_path, "N").fitted_on == "out-of-fold, strict, seeds 0-4"
    probe = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(apply_calibration(tmp_path, probe, "N"), calibrator.transform(probe))
    assert not list((tmp_path / "calibration").glob("*.tmp"))


def test_missing_calibrator_and_single_class_are_clear_errors(tmp_path):
    with pytest.raises(NepagnError, match="no calibrator for model 'A'"):
        apply_calibration(tmp_path, np.array([0.5]), "A")
    with pytest.raises(NepagnError, match="both classes"):
        fit_calibrator(np.array([0.2, 0.7]), np.array([1, 1]))


def test_model_set_calibrators_and_what_the_manifest_says(tmp_path, caplog):
    raw, y, _, _ = overconfident_scores(600)
    held_out = pd.concat([pd.DataFrame({"model": "A", "y_true": y, "p_agn": raw}),
                          pd.DataFrame({"model": "B", "y_true": 0, "p_agn": raw})])  # B: no AGN held out
    with caplog.at_level(logging.WARNING, logger="nepagn.calibration"):
        calibrators, section = fit_model_set_calibrators(held_out, ["A", "B"], INNER_SPLIT)
    assert section["fitted_on"] == "inner_split" and section["models"]["A"]["file"] == "calibration/A.json"
    assert section["models"]["B"]["file"] is None and "both classes" in section["models"]["B"]["reason"]
    assert "UNCALIBRATED" in caplog.text and set(calibrators) == {"A"}
    assert calibrator_path(tmp_path, "A").relative_to(tmp_path).as_posix() == section["models"]["A"]["file"]
    manifest = {"models": ["A", "B"], "calibration": section, "file_hashes": {"calibration/A.json": "f00"}}
    calibrations = manifest_calibration(manifest)
    assert calibrations["A"].phrase == "calibrated (isotonic, fitted on inner splits)"
    assert calibrations["A"].sha256 == "f00" and not calibrations["B"].calibrated
    record = calibration_provenance(manifest)
    assert record["status"] == "partly calibrated" and record["models"]["A"]["sha256"] == "f00"
    assert record["models"]["B"]["status"] == "uncalibrated"
    # a manifest from before calibration: every model uncalibrated, and it says why
    older = calibration_provenance({"models": ["A"], "file_hashes": {}})
    assert older["status"] == "uncalibrated" and "no calibration" in older["models"]["A"]["reason"]


def test_calibration_rows_keep_the_strict_protocols_outer_folds_unless_training_for_a_target():
    assert calibration_rows("paper", target_given=False) == calibration_rows("paper", target_given=True) == OUT_OF_FOLD
    assert calibration_rows("strict", target_given=False) == INNER_SPLIT
    assert calibration_rows("strict", target_given=True) == OUTER_DEGRADED
