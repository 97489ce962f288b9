"""Photometric augmentation: fresh noisy draws of the fit rows each epoch, the held-out rows untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nepagn.errors import NepagnError
from nepagn.features import FeatureSpec
from nepagn.model.augment import PhotometryAugmenter
from nepagn.model.config import ModelConfig, load_training_config
from nepagn.model.loop import fit_network
from nepagn.model.training import train_model_set

BANDS = ("hsc_g", "hsc_i", "akari_n2", "akari_n4", "akari_s11", "akari_l18w")


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spec = FeatureSpec(bands=BANDS)
    columns = {}
    for i, band in enumerate(spec.bands):
        mag = rng.normal(20 + i * 0.3, 1.0, n)
        err = rng.uniform(0.02, 0.3, n)
        missing = rng.random(n) < (0.0 if i < 3 else 0.4)
        columns[band.mag_column] = np.where(missing, np.nan, mag)
        columns[band.err_column] = np.where(missing, np.nan, err)
    return pd.DataFrame(columns)


def _spec(frame: pd.DataFrame) -> FeatureSpec:
    return FeatureSpec(bands=BANDS, mask_channel=True, standardise=True, colour_channel=True).fit(frame)


def test_noise_moves_detected_magnitudes_by_their_errors_and_leaves_missing_bands_missing():
    frame = _frame()
    spec = _spec(frame)
    augmenter = PhotometryAugmenter.for_rows(spec, frame, noise=1.0, band_dropout=0.0)
    mags, errs = spec.photometry(frame)
    scale = np.asarray(spec.scale)
    draws = np.stack([augmenter.draw(np.random.default_rng(seed)) for seed in range(200)])
    assert draws.shape == (200, *spec.transform(frame).shape)
    # channel 0 is the standardised magnitude: undo the scaling and compare the spread with the errors
    moved = draws[:, :, :, 0, 0] * scale[:, 1] + scale[:, 0] - mags
    detected = ~np.isnan(mags)
    pulls = moved[:, detected] / errs[detected]
    assert abs(pulls.std() - 1.0) < 0.02 and abs(pulls.mean()) < 0.02
    # the mask channel and the error channel are those of the photometry as it is
    assert np.array_equal(draws[:, :, :, 2, 0], np.broadcast_to(spec.transform(frame)[:, :, 2, 0], draws.shape[:3]))
    assert np.allclose(draws[:, :, :, 1, 0], spec.transform(frame)[:, :, 1, 0])
    # a missing band is never filled in
    assert np.all(draws[:, ~detected, 0, 0] == 0)


def test_band_dropout_hides_detected_bands_at_its_rate_but_never_a_rows_last_one():
    frame = _frame()
    frame.loc[:9, [c for c in frame.columns if not c.startswith("hsc_g")]] = np.nan  # rows seen in one band only
    spec = _spec(frame)
    augmenter = PhotometryAugmenter.for_rows(spec, frame, noise=0.0, band_dropout=0.3)
    detected = spec.transform(frame)[:, :, 2, 0] == 1
    kept = np.stack([augmenter.draw(np.random.default_rng(seed))[:, :, 2, 0] == 1 for seed in range(100)])
    assert not np.any(kept & ~detected)  # nothing appears
    assert np.all(kept.any(axis=2))  # every row keeps a band in every draw, the single-band rows included
    assert np.all(kept[:, :10, 0])
    hidden = 1 - kept[:, 10:][:, detected[10:]].mean()
    assert 0.27 < hidden < 0.31


def test_draws_repeat_with_the_seed_and_no_augmentation_is_none():
    frame = _frame()
    spec = _spec(frame)
    augmenter = PhotometryAugmenter.for_rows(spec, frame, noise=0.5, band_dropout=0.1)
    first, again = (augmenter.draw(np.random.default_rng(7)) for _ in range(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, augmenter.draw(np.random.default_rng(8)))
    assert PhotometryAugmenter.for_rows(spec, frame, noise=0.0, band_dropout=0.0) is None
    with pytest.raises(ValueError, match="band_dropout"):
        PhotometryAugmenter.for_rows(spec, frame, noise=0.0, band_dropout=1.0)


def test_training_config_rejects_bad_augmentation_naming_the_key(tmp_path):
    with pytest.raises(NepagnError, match="noise_augment must be >= 0"):
        load_training_config(noise_augment=-0.5)
    config = tmp_path / "training.toml"
    config.write_text("band_dropout = 1.5\n")
    with pytest.raises(NepagnError, match=r"training\.toml: band_dropout must be in \[0, 1\)"):
        load_training_config(config)
    catalogue, paper = load_training_config(recipe="catalogue"), load_training_config(recipe="paper")
    assert (catalogue.noise_augment, catalogue.band_dropout) == (1.0, 0.2)  # the recipe's (docs/training.md)
    assert (paper.noise_augment, paper.band_dropout) == (0.0, 0.0)  # the paper trains on the photometry as it is


def test_fit_network_trains_on_each_epochs_draw_and_monitors_the_rows_as_they_are():
    """The augmenter is asked for one draw per epoch and the network trains on those draws: draws in which the
    SFG carry the AGN's signal teach the reverse of the monitoring rows, which are read as they are."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (300, 6, 2, 1)).astype("float32")
    y = (rng.random(300) < 0.4).astype(int)
    x[y == 1, 3:, 0, 0] += 2.0
    model = ModelConfig("T", alpha=0.5, gamma=2.0, patience_m=50, weight_n=1.0, delta=-10.0)
    training = load_training_config(batch_size=50)
    calls = []

    def reversed_signal(generator: np.random.Generator) -> np.ndarray:
        calls.append(generator)
        draw = x[:200].copy()
        draw[:, 3:, 0, 0] += np.where(y[:200] == 1, -2.0, 2.0)[:, None]
        return draw

    plain = fit_network(x[:200], y[:200], x[200:], y[200:], model, training, seed=1, max_epochs=8)
    taught = fit_network(x[:200], y[:200], x[200:], y[200:], model, training, seed=1, max_epochs=8,
                         augment=reversed_signal)
    assert len(calls) == 8 and all(isinstance(c, np.random.Generator) for c in calls)
    # the monitor of each epoch: the reversed lesson is learnt (and the best epoch kept is the first)
    assert plain.history["accuracy"][-1] > 0.85 and taught.history["accuracy"][-1] < 0.3


def test_a_model_set_trained_with_augmentation_keeps_its_inputs_fitted_on_the_rows_as_they_are(tmp_path):
    """`noise_augment` and `band_dropout` in the recipe: the run records them, every member's feature spec is
    the one fitted on the unaugmented fit rows (inference builds its inputs exactly as before), and the
    networks trained are not those of the unaugmented run."""
    import json

    from nepagn.simulate import simulate_catalogue

    catalogue = simulate_catalogue(6000, seed=3)
    labelled = catalogue[catalogue["label"].notna()].reset_index(drop=True)
    runs = {}
    for name, extra in (("plain", {"noise_augment": 0.0, "band_dropout": 0.0}),
                        ("augmented", {"noise_augment": 1.0, "band_dropout": 0.2})):
        runs[name] = train_model_set(
            labelled, tmp_path / name, models=("A",), folds=2, protocol="strict", max_epochs=3, bands=BANDS,
            progress=False, baseline=False, training=load_training_config(recipe="catalogue", networks=1, **extra),
        )
    recorded = json.loads((runs["augmented"] / "run.json").read_text())["training"]
    assert (recorded["noise_augment"], recorded["band_dropout"]) == (1.0, 0.2)
    specs = {name: sorted((root / "networks").rglob("*spec*.json")) for name, root in runs.items()}
    assert specs["plain"] and len(specs["plain"]) == len(specs["augmented"])
    for plain, augmented in zip(specs["plain"], specs["augmented"], strict=True):
        assert json.loads(plain.read_text()) == json.loads(augmented.read_text())
    scores = {name: pd.read_parquet(root / "oof_predictions.parquet").p_agn.to_numpy() for name, root in runs.items()}
    assert not np.allclose(scores["plain"], scores["augmented"])
