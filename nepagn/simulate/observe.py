"""The observation model: noisy magnitudes and errors from each band's 5-sigma depth, LePhare-like products.

A band's flux noise is fixed by its depth (SNR = 5 at the depth), so the quoted error is
1.0857 / SNR with SNR = 5 * 10^(-0.4 (m - depth)): about 0.217 mag at the depth. A source is detected
in a band where its survey covered it and its noisy flux lies above the 5-sigma limit; elsewhere the
band is missing (NaN). Photometric redshifts and the galaxy/star template chi2 mimic LePhare's behaviour.
"""

from __future__ import annotations

import numpy as np

ERROR_FLOOR_MAG = 0.003  # calibration floor added in quadrature (bright sources)
SIGMA_FLUX_AT_DEPTH = 0.2  # flux noise in units of the 5-sigma limiting flux


def observe(
    rng: np.random.Generator, true_mag: np.ndarray, covered: np.ndarray, depth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy observed magnitudes and errors (NaN where not covered or below the 5-sigma depth)."""
    with np.errstate(over="ignore"):
        flux = 10.0 ** (-0.4 * (true_mag - depth[None, :]))  # in units of the limiting flux
    flux = np.nan_to_num(flux, nan=0.0, posinf=0.0)
    # background noise fixed by the depth, plus a calibration floor proportional to the flux
    noise = rng.standard_normal(flux.shape, dtype=np.float32)
    sigma = np.sqrt(SIGMA_FLUX_AT_DEPTH**2 + (ERROR_FLOOR_MAG / 1.0857 * flux) ** 2)
    observed = flux + sigma * noise
    detected = covered & (observed >= 1.0)
    safe = np.where(detected, observed, 1.0)
    mag = np.where(detected, depth[None, :] - 2.5 * np.log10(safe), np.nan)
    err = np.where(detected, np.hypot(1.0857 * SIGMA_FLUX_AT_DEPTH / safe, ERROR_FLOOR_MAG), np.nan)
    return mag, err


def photometric_redshift(
    rng: np.random.Generator, z_true: np.ndarray, is_star: np.ndarray, is_agn: np.ndarray, n_fit_bands: np.ndarray,
    i_mag: np.ndarray,
) -> np.ndarray:
    """LePhare-like photo-z: Gaussian scatter growing with faintness and fewer bands, plus catastrophic outliers.

    Galaxies: sigma = 0.03 (1+z) sqrt(12 / n_bands) (1 + 10^(0.4 (i - 24))); outliers 4% (SFG) and 15%
    (AGN, whose power laws the galaxy templates fit poorly) drawn uniformly in 0-4. Stars get the low
    redshift of their best (wrong) galaxy template.
    """
    n = z_true.size
    faint = 1.0 + 10.0 ** (0.4 * (np.nan_to_num(i_mag, nan=26.0) - 24.0))
    sigma = 0.03 * (1.0 + z_true) * np.sqrt(12.0 / np.maximum(n_fit_bands, 3)) * faint
    z_phot = z_true + rng.normal(0.0, 1.0, n) * sigma
    outlier = rng.random(n) < np.where(is_agn, 0.15, 0.04)
    z_phot = np.where(outlier, rng.uniform(0.0, 4.0, n), z_phot)
    z_phot = np.where(is_star, rng.uniform(0.0, 1.0, n) ** 2, z_phot)
    return np.clip(z_phot, 0.0, 6.0)


def template_chi2(
    rng: np.random.Generator, is_star: np.ndarray, is_agn: np.ndarray, flagged_star: np.ndarray,
    n_fit_bands: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimum chi2 of galaxy and of stellar templates; chi2_gal > chi2_star exactly where flagged_star.

    The better family fits like a chi2 with n_bands - 1 degrees of freedom times a template mismatch
    (AGN 2.5: no AGN templates; galaxies 1.2; stars 1.0). The other family is worse by a margin growing
    with the number of bands; where the flag disagrees with the truth (mis-flagged sources) the margin is small.
    """
    n = is_star.size
    dof = np.maximum(n_fit_bands - 1, 1)
    mismatch = np.where(is_star, 1.0, np.where(is_agn, 2.5, 1.2))
    best = mismatch * rng.chisquare(dof)
    correct = flagged_star == is_star
    margin = dof * 10.0 ** np.where(correct, rng.normal(0.6, 0.5, n), rng.normal(-0.8, 0.5, n))
    chi2_star = np.where(flagged_star, best, best + margin)
    chi2_gal = np.where(flagged_star, best + margin, best)
    return chi2_gal, chi2_star
