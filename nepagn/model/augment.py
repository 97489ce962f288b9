"""Photometric augmentation of a network's fit rows: a fresh noisy draw of their inputs every epoch.

A labelled source's magnitudes are one draw of its photometry; the network sees, each epoch, another
draw consistent with the catalogue's own errors, so it cannot learn the noise of the few hundred AGN
it is shown. Optionally a detected band is hidden at random, as the sparse infrared coverage of the
sources it will classify hides bands (`band_dropout`).

The draws go through the task's fitted `FeatureSpec`, the one input builder of training and
inference: the spec is fitted on the fit rows as they are, and only the training inputs change; the
monitoring rows, the threshold and every held-out score see the photometry as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nepagn.features import FeatureSpec


@dataclass(frozen=True)
class PhotometryAugmenter:
    """Draws noisy training inputs for a set of fit rows.

    Parameters
    ----------
    spec : FeatureSpec
        The task's fitted input builder.
    mags, errs : ndarray
        The fit rows' magnitudes and errors, (n, n_bands), NaN where not detected (`FeatureSpec.photometry`).
    noise : float
        Each detected magnitude moves by a Gaussian draw of `noise` times its error (0: unchanged).
    band_dropout : float
        Each detected band is hidden with this probability, but a row keeps at least one (0: none hidden).
    """

    spec: FeatureSpec
    mags: np.ndarray
    errs: np.ndarray
    noise: float = 0.0
    band_dropout: float = 0.0

    @classmethod
    def for_rows(cls, spec: FeatureSpec, frame: pd.DataFrame, noise: float, band_dropout: float
                 ) -> PhotometryAugmenter | None:
        """The augmenter of `frame`'s rows, or None when both noise and band_dropout are 0 (no augmentation)."""
        check_augmentation(noise, band_dropout)
        if noise == 0 and band_dropout == 0:
            return None
        mags, errs = spec.photometry(frame)
        return cls(spec, mags, errs, float(noise), float(band_dropout))

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One augmented input array, (n, n_bands, n_channels, 1) float32, rows in the fit rows' order."""
        mags = self.mags
        errs = self.errs
        if self.noise:
            mags = mags + self.noise * np.nan_to_num(errs) * rng.standard_normal(mags.shape)
        if self.band_dropout:
            detected = ~np.isnan(mags)
            hide = detected & (rng.random(mags.shape) < self.band_dropout)
            # a row never loses its last detected band: keep the first of the hidden ones where all would go
            emptied = ~(detected & ~hide).any(axis=1) & detected.any(axis=1)
            keep = np.argmax(hide, axis=1)
            hide[np.flatnonzero(emptied), keep[emptied]] = False
            mags = np.where(hide, np.nan, mags)
            errs = np.where(hide, np.nan, errs)
        return self.spec.transform_photometry(mags, errs)


def check_augmentation(noise: float, band_dropout: float) -> None:
    """Raise ValueError unless noise >= 0 and 0 <= band_dropout < 1."""
    if not noise >= 0:
        raise ValueError(f"noise_augment must be >= 0 (0: off), not {noise}")
    if not 0 <= band_dropout < 1:
        raise ValueError(f"band_dropout must be in [0, 1) (0: off), not {band_dropout}")
