"""Degraded training photometry (nepagn.degrade): copies of bright labelled sources look like the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nepagn.bands import load_registry
from nepagn.degrade import COPY, ROW, TargetPhotometry, target_from_store
from nepagn.features import FeatureSpec
from nepagn.preprocess import STATUS, preprocess
from nepagn.simulate import simulate_catalogue

BANDS = load_registry()


@pytest.fixture(scope="module")
def mock_rows():
    """Labelled rows and the rows to classify (the target) of an 8,000-source mock."""
    frame = preprocess(simulate_catalogue(n_sources=8000, seed=5))
    labelled = frame[frame[STATUS] == "labelled"].reset_index(drop=True)
    target = frame[frame[STATUS] == "classified"].reset_index(drop=True)
    return labelled, target


@pytest.fixture(scope="module")
def target(mock_rows):
    return TargetPhotometry.fit(mock_rows[1], BANDS, "mock seed 5")


def _detected(frame: pd.DataFrame) -> np.ndarray:
    return ~np.isnan(FeatureSpec(bands=BANDS).observed_magnitudes(frame))


def test_copies_reach_the_targets_depth_and_band_coverage(mock_rows, target):
    labelled, rows = mock_rows
    copies = target.degrade(labelled, copies=10, seed=0)
    n_labelled, n_copies, n_target = (np.median(_detected(f).sum(axis=1)) for f in (labelled, copies, rows))
    # the labelled sources are detected in far more bands than the target; the copies are not
    assert n_labelled - n_target >= 5
    assert abs(n_copies - n_target) <= 2
    # per well-measured band, the detected fraction of the copies follows the target's, not the labelled set's
    labelled_frac, copy_frac, target_frac = (_detected(f).mean(axis=0) for f in (labelled, copies, rows))
    common = target_frac > 0.2
    assert np.mean(np.abs(copy_frac - target_frac)[common]) < 0.5 * np.mean(np.abs(labelled_frac - target_frac)[common])
    # and the copies are as faint as the target in the AKARI selection band
    n2 = [b.id for b in BANDS].index("akari_n2")
    mags = [FeatureSpec(bands=BANDS).observed_magnitudes(f)[:, n2] for f in (labelled, copies, rows)]
    assert abs(np.nanmedian(mags[1]) - np.nanmedian(mags[2])) < 0.5 < np.nanmedian(mags[2]) - np.nanmedian(mags[0])


def test_copies_carry_the_targets_errors_at_their_magnitude(mock_rows, target):
    labelled, rows = mock_rows
    copies = target.degrade(labelled, copies=5, seed=1)
    for band_id in ("hsc_i", "akari_n2", "akari_s9w"):
        depth = next(d for d in target.bands if d.id == band_id)
        band = next(b for b in BANDS if b.id == band_id)
        mag = copies[band.mag_column].to_numpy(dtype=float)
        err = copies[band.err_column].to_numpy(dtype=float)
        seen = np.isfinite(mag)
        np.testing.assert_allclose(err[seen], depth.error_at(mag[seen]), rtol=1e-5)
        # no detection fainter than the target's own detection limit
        assert (1.0857 / err[seen] >= depth.snr_min * (1 - 1e-5)).all()


def test_copies_keep_identity_label_and_missing_bands(mock_rows, target):
    labelled, _ = mock_rows
    copies = target.degrade(labelled, copies=3, seed=2)
    assert len(copies) == 3 * len(labelled)
    rows = copies[ROW].to_numpy()
    assert (copies["source_id"].to_numpy() == labelled["source_id"].to_numpy()[rows]).all()
    assert (copies["label"].to_numpy() == labelled["label"].to_numpy()[rows]).all()
    assert (copies[COPY].to_numpy() == np.tile(np.arange(3), len(labelled))).all()
    # a band the labelled source lacks stays missing in all its copies
    assert not (_detected(copies) & ~_detected(labelled)[rows]).any()
    # deterministic for a seed, different for another
    again = target.degrade(labelled, copies=3, seed=2)
    pd.testing.assert_frame_equal(copies, again)
    other = target.degrade(labelled, copies=3, seed=3)
    assert not copies.equals(other)


def test_target_photometry_round_trips_through_its_files(target, mock_rows, tmp_path):
    target.save(tmp_path)
    loaded = TargetPhotometry.load(tmp_path)
    assert loaded.bands == target.bands and loaded.n_rows == target.n_rows
    pd.testing.assert_frame_equal(loaded.sample, target.sample)
    labelled, _ = mock_rows
    pd.testing.assert_frame_equal(loaded.degrade(labelled, 2, 7), target.degrade(labelled, 2, 7))
    assert TargetPhotometry.load(tmp_path / "nothing") is None


def test_target_from_store_reads_only_the_sources_to_classify(tiny_mock_store):
    from nepagn.store import open_store

    target = target_from_store(tiny_mock_store, BANDS)
    frame = preprocess(open_store(tiny_mock_store).to_dask().compute(scheduler="synchronous"))
    assert target.n_rows == int((frame[STATUS] == "classified").sum())
    assert "snapshot" in target.description
