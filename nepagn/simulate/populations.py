"""The three source populations (stars, star-forming galaxies, AGN hosts): physical parameters and true magnitudes.

Galaxies get a redshift from a volume-weighted prior, a rest-frame K-band luminosity, and an SED made of the
components in nepagn.simulate.sed; each band's magnitude is the SED at that band's effective wavelength
divided by (1 + z), placed at the Planck18 luminosity distance. Stars are blackbodies with Galactic number counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nepagn.simulate import sed

Z_MAX = 6.0
K_REST_UM = 2.2


@dataclass(frozen=True)
class PopulationParameters:
    """Priors of one galaxy population (see docs/mock.md for the reasoning behind each number)."""

    z0: float  # scale of the redshift prior p(z) ~ z^2 exp(-(z/z0)^1.5)
    mk_mean: float  # mean rest-frame K (AB) absolute magnitude of the host at z = 0
    mk_sigma: float
    mk_evolution: float  # mag per unit z (brighter at high z), up to z = 2
    log_young_mean: float  # log10 of the young/old stellar f_nu ratio at 2.2 micron
    log_young_sigma: float
    ebv_mean: float  # mean of the exponential E(B-V) distribution of the stellar light
    log_pah_mean: float  # log10 of the 7.7 micron PAH peak relative to the host at 2.2 micron
    log_pah_sigma: float


SFG = PopulationParameters(z0=0.55, mk_mean=-21.6, mk_sigma=1.1, mk_evolution=1.0, log_young_mean=-1.9,
                           log_young_sigma=0.5, ebv_mean=0.18, log_pah_mean=0.45, log_pah_sigma=0.3)
AGN_HOST = PopulationParameters(z0=0.9, mk_mean=-22.3, mk_sigma=0.8, mk_evolution=1.0, log_young_mean=-2.0,
                                log_young_sigma=0.5, ebv_mean=0.15, log_pah_mean=0.3, log_pah_sigma=0.35)


@dataclass(frozen=True)
class AgnParameters:
    """Priors of the nuclear emission of AGN (torus and accretion disk)."""

    log_strength_mean: float = -0.5  # log10 torus f_nu(3 um) / host f_nu(2.2 um), rest frame
    log_strength_sigma: float = 0.75
    obscured_fraction: float = 0.6  # type 2 share in the field (mid-IR selected AGN are mostly obscured)


FIELD_AGN = AgnParameters()
SPECTROSCOPIC_AGN = AgnParameters(log_strength_mean=-0.45, log_strength_sigma=0.7, obscured_fraction=0.5)


@lru_cache(maxsize=1)
def _distance_modulus_grid() -> tuple[np.ndarray, np.ndarray]:
    from astropy.cosmology import Planck18

    z = np.concatenate([np.geomspace(1e-4, 0.01, 20, endpoint=False), np.linspace(0.01, Z_MAX, 600)])
    return z, np.asarray(Planck18.distmod(z).value)


def distance_modulus(z: np.ndarray) -> np.ndarray:
    """Planck18 distance modulus, interpolated on a fine grid (vectorised)."""
    grid_z, grid_mu = _distance_modulus_grid()
    return np.interp(z, grid_z, grid_mu)


def sample_redshift(rng: np.random.Generator, n: int, z0: float) -> np.ndarray:
    """Draw z from p(z) ~ z^2 exp(-(z/z0)^1.5) on (0, Z_MAX] by inverse transform on a grid."""
    grid = np.linspace(0.0, Z_MAX, 3001)
    cdf = np.cumsum(grid**2 * np.exp(-((grid / z0) ** 1.5)))
    cdf /= cdf[-1]
    return np.maximum(np.interp(rng.random(n), cdf, grid), 0.01)


def _column(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)[:, None]


def galaxy_magnitudes(
    rng: np.random.Generator,
    n: int,
    wavelengths_um: np.ndarray,
    is_agn: bool,
    agn: AgnParameters = FIELD_AGN,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """True AB magnitudes (n, n_bands) of n galaxies, their redshifts and their physical parameters."""
    pop = AGN_HOST if is_agn else SFG
    z = sample_redshift(rng, n, pop.z0)
    mk = rng.normal(pop.mk_mean, pop.mk_sigma, n) - pop.mk_evolution * np.minimum(z, 2.0)
    young = 10.0 ** rng.normal(pop.log_young_mean, pop.log_young_sigma, n)
    ebv = rng.exponential(pop.ebv_mean, n)
    # more star formation and more dust absorbed -> stronger dust emission (energy balance, in spirit)
    log_pah = rng.normal(pop.log_pah_mean, pop.log_pah_sigma, n) + 0.3 * np.log10(young / 0.0126) + 0.8 * ebv
    pah_amp = 10.0**log_pah
    cold_amp = pah_amp * 10.0 ** rng.normal(1.5, 0.25, n)
    t_cold = np.clip(rng.normal(26.0, 4.0, n) + 4.0 * np.minimum(z, 2.0), 15.0, 50.0)

    lam = wavelengths_um[None, :] / (1.0 + z[:, None])
    rest = sed.RestFrame(lam)
    host = sed.stellar_continuum(rest, _column(young)) / (1.0 + _column(young))
    flux = sed.attenuate(host, rest, _column(ebv))
    flux += sed.star_forming_dust(rest, _column(pah_amp), _column(cold_amp), _column(t_cold))
    params = {"z": z, "mk": mk, "young": young, "ebv": ebv, "pah_amp": pah_amp, "t_cold": t_cold}
    if is_agn:
        flux += _agn_emission(rng, n, rest, agn, params)
    flux *= sed.igm_transmission(lam, wavelengths_um[None, :])
    with np.errstate(divide="ignore"):
        shape_mag = -2.5 * np.log10(flux)
    mags = (mk + distance_modulus(z) - 2.5 * np.log10(1.0 + z))[:, None] + shape_mag
    return mags, z, params


def _agn_emission(
    rng: np.random.Generator, n: int, rest: sed.RestFrame, agn: AgnParameters, params: dict
) -> np.ndarray:
    """Torus plus accretion disk f_nu relative to the host at 2.2 micron; obscured AGN lose the disk."""
    obscured = rng.random(n) < agn.obscured_fraction
    strength = 10.0 ** rng.normal(agn.log_strength_mean, agn.log_strength_sigma, n)
    alpha_ir = np.where(obscured, rng.normal(1.4, 0.4, n), rng.normal(0.9, 0.4, n))
    hot = np.where(obscured, rng.uniform(0.05, 0.25, n), rng.uniform(0.3, 0.6, n))
    tau_sil = np.where(obscured, rng.uniform(0.3, 1.5, n), rng.uniform(-0.3, 0.1, n))
    disk_ratio = np.where(obscured, 0.0, 10.0 ** rng.normal(-1.2, 0.4, n))
    torus_ebv = np.where(obscured, rng.uniform(0.2, 1.0, n), 0.0)
    nucleus = sed.torus(rest, _column(alpha_ir), _column(hot), _column(tau_sil))
    nucleus = sed.attenuate(nucleus, rest, _column(torus_ebv))
    nucleus += _column(disk_ratio) * rest.take(sed.tabulated("disk"))
    params.update(obscured=obscured, agn_strength=strength, alpha_ir=alpha_ir)
    return _column(strength) * nucleus


def star_magnitudes(rng: np.random.Generator, n: int, wavelengths_um: np.ndarray) -> tuple[np.ndarray, dict]:
    """True AB magnitudes of Galactic stars: blackbody photospheres with K-band number counts dN/dm ~ 10^(0.25 m)."""
    cool = rng.random(n) < 0.65
    temperature = np.where(cool, rng.uniform(2900.0, 4200.0, n), rng.uniform(4200.0, 7500.0, n))
    slope, bright, faint = 0.25, 11.0, 22.5
    lo, hi = 10.0 ** (slope * bright), 10.0 ** (slope * faint)
    k_mag = np.log10(lo + rng.random(n) * (hi - lo)) / slope
    lam = wavelengths_um[None, :]
    flux = sed.blackbody_nu(lam, temperature[:, None]) / sed.blackbody_nu(K_REST_UM, temperature[:, None])
    # molecular (TiO) absorption of M dwarfs suppresses their optical light below ~0.75 micron
    tio = np.where((temperature < 3900.0)[:, None] & (lam < 0.75), 10.0 ** (-0.4 * 0.8), 1.0)
    mags = k_mag[:, None] - 2.5 * np.log10(flux * tio)
    return mags, {"temperature": temperature, "k_mag": k_mag}
