"""Physical SED components in the rest frame, as f_nu shapes on arrays of rest wavelength (micron).

Every function is vectorised over a (n_sources, n_bands) wavelength grid and per-source parameters
given as (n_sources, 1) columns, so a whole catalogue block is evaluated in a few numpy passes.
Amplitudes are relative (f_nu = 1 at the normalisation wavelength); the catalogue sets the scale.
"""

from __future__ import annotations

from functools import cache

import numpy as np

HC_OVER_K_UM_K = 14387.77  # h c / k in micron * kelvin
LYMAN_LIMIT_UM = 0.0912
LYMAN_ALPHA_UM = 0.1216

# Stellar population templates: AB magnitude relative to rest 2.2 micron (f_nu), interpolated in log wavelength.
# "old": a ~5 Gyr population (4000 A break, 1.6 micron H- bump, Rayleigh-Jeans tail);
# "young": ~100 Myr of constant star formation (flat, UV-bright f_nu).
_TEMPLATE_LOG_LAM = np.log10([0.0912, 0.15, 0.2, 0.3, 0.37, 0.40, 0.45, 0.55, 0.65, 0.8, 1.0, 1.25, 1.65, 2.2,
                              3.0, 3.6, 4.5, 6.0, 8.0, 12.0, 20.0, 50.0, 1000.0])
_OLD_MAG = np.array([9.5, 6.5, 5.3, 3.9, 3.3, 2.6, 2.2, 1.75, 1.3, 0.9, 0.5, 0.2, -0.05, 0.0,
                     0.5, 0.75, 1.1, 1.6, 2.1, 3.0, 4.1, 6.1, 12.6])
_YOUNG_MAG = np.array([-1.2, -1.6, -1.5, -1.3, -1.2, -1.0, -0.95, -0.8, -0.65, -0.5, -0.35, -0.2, -0.05, 0.0,
                       0.6, 0.9, 1.35, 1.9, 2.5, 3.4, 4.5, 6.5, 13.0])

# PAH features (Draine & Li 2007 / Smith et al. 2007 main bands): centre (micron), fractional width, peak f_nu
# relative to the 7.7 micron complex.
PAH_FEATURES = (
    (3.3, 0.012, 0.06),
    (6.2, 0.030, 0.55),
    (7.7, 0.120, 1.00),
    (8.6, 0.040, 0.40),
    (11.3, 0.032, 0.60),
    (12.7, 0.045, 0.35),
    (17.0, 0.065, 0.20),
)


GRID_LOG_LAM = np.linspace(-2.0, 4.0, 6001)  # rest wavelength grid of the tabulated components, 0.001 dex


class RestFrame:
    """Rest wavelengths of a block of sources (n_sources, n_bands) with their position on the tabulation grid.

    Components that do not depend on per-source parameters are tabulated once on GRID_LOG_LAM and
    looked up here by linear interpolation, which keeps a 10^5-source block to a few array passes.
    """

    def __init__(self, lam: np.ndarray):
        self.lam = lam
        position = (np.log10(lam) - GRID_LOG_LAM[0]) / (GRID_LOG_LAM[1] - GRID_LOG_LAM[0])
        position = np.clip(position, 0.0, GRID_LOG_LAM.size - 1.000001)
        self.index = position.astype(np.intp)
        self.frac = position - self.index

    def take(self, table: np.ndarray) -> np.ndarray:
        """A tabulated component evaluated at these wavelengths."""
        low = table[self.index]
        return low + (table[self.index + 1] - low) * self.frac


def _grid_lam() -> np.ndarray:
    return 10.0**GRID_LOG_LAM


def _interp_template(lam: np.ndarray, mags: np.ndarray) -> np.ndarray:
    """f_nu of a tabulated template at `lam` (linear in log wavelength and magnitude, flat extrapolation)."""
    mag = np.interp(np.log10(lam), _TEMPLATE_LOG_LAM, mags)
    return np.where(lam < LYMAN_LIMIT_UM, 0.0, 10.0 ** (-0.4 * mag))


@cache
def tabulated(component: str) -> np.ndarray:
    """A parameter-free SED component on GRID_LOG_LAM (old, young, calzetti, pah_warm, disk, hot_torus, silicate)."""
    lam = _grid_lam()
    tables = {
        "old": lambda: _interp_template(lam, _OLD_MAG),
        "young": lambda: _interp_template(lam, _YOUNG_MAG),
        "calzetti": lambda: calzetti_k(lam),
        "pah_warm": lambda: pah_emission(lam) + warm_grains(lam),
        "disk": lambda: accretion_disk(lam),
        "hot_torus": lambda: _normalised_mbb(lam, 1300.0, 0.0, 3.0),
        "silicate": lambda: np.exp(-0.5 * ((lam - 9.7) / 1.2) ** 2),
    }
    return tables[component]()


def stellar_continuum(rest: RestFrame, young_weight: np.ndarray) -> np.ndarray:
    """Old plus young stellar population, f_nu = 1 + young_weight at rest 2.2 micron; nothing below 912 A."""
    return rest.take(tabulated("old")) + young_weight * rest.take(tabulated("young"))


def calzetti_k(lam: np.ndarray) -> np.ndarray:
    """Calzetti et al. (2000) starburst attenuation curve k(lambda) (R_V = 4.05), extended smoothly beyond 2.2 um."""
    lam = np.maximum(lam, 0.09)
    blue = 2.659 * (-2.156 + 1.509 / lam - 0.198 / lam**2 + 0.011 / lam**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 / lam) + 4.05
    k = np.where(lam < 0.63, blue, red)
    k_22 = 2.659 * (-1.857 + 1.040 / 2.2) + 4.05
    return np.where(lam > 2.2, k_22 * (2.2 / lam) ** 1.75, np.maximum(k, 0.0))


def attenuate(flux: np.ndarray, rest: RestFrame, ebv: np.ndarray) -> np.ndarray:
    """Apply Calzetti attenuation with colour excess E(B-V) to f_nu."""
    return flux * np.exp(-0.4 * np.log(10.0) * rest.take(tabulated("calzetti")) * ebv)


def blackbody_nu(lam: np.ndarray | float, temperature: np.ndarray | float, beta: float = 0.0) -> np.ndarray:
    """Modified blackbody nu^beta B_nu(T) in relative units (lambda in micron, T in kelvin)."""
    x = HC_OVER_K_UM_K / (lam * temperature)
    with np.errstate(over="ignore"):
        return x ** (3.0 + beta) / np.expm1(np.minimum(x, 700.0))


def _normalised_mbb(
    lam: np.ndarray, temperature: np.ndarray | float, beta: float, lam_norm: np.ndarray | float
) -> np.ndarray:
    return blackbody_nu(lam, temperature, beta) / blackbody_nu(lam_norm, temperature, beta)


def pah_emission(lam: np.ndarray) -> np.ndarray:
    """Sum of Drude profiles of the main PAH bands, f_nu = 1 at the 7.7 micron peak."""
    total = np.zeros_like(lam)
    for centre, width, strength in PAH_FEATURES:
        total += strength * width**2 / ((lam / centre - centre / lam) ** 2 + width**2)
    return total


def warm_grains(lam: np.ndarray) -> np.ndarray:
    """Hot small grains: a rising mid-IR continuum (0.25 of the PAH peak at 15 um) that hands over to cold dust."""
    return 0.25 * (lam / 15.0) ** 2.5 * np.exp(-((5.0 / lam) ** 2) - (lam / 60.0) ** 2)


def star_forming_dust(rest: RestFrame, pah_amp: np.ndarray, cold_amp: np.ndarray, t_cold: np.ndarray) -> np.ndarray:
    """Dust emission of star formation: PAH bands and warm grains (scaled by pah_amp), cold dust (beta = 1.6)."""
    cold = _normalised_mbb(rest.lam, t_cold, 1.6, 3162.0 / t_cold)  # 1 at the f_nu peak
    return pah_amp * rest.take(tabulated("pah_warm")) + cold_amp * cold


def accretion_disk(lam: np.ndarray) -> np.ndarray:
    """Big-blue-bump power law f_nu ~ nu^-0.44 (Vanden Berk et al. 2001) turning over beyond ~1 micron; 1 at 0.5 um."""
    flux = (lam / 0.5) ** 0.44 * np.exp(-((lam / 2.0) ** 2))
    return np.where(lam < LYMAN_LIMIT_UM, 0.0, flux)


def torus(rest: RestFrame, alpha_ir: np.ndarray, hot_fraction: np.ndarray, tau_sil: np.ndarray) -> np.ndarray:
    """Hot (1300 K, sublimation) plus warm power-law dust of the AGN torus, with 9.7 um silicate absorption.

    f_nu = 1 at rest 3 micron before absorption; alpha_ir is the mid-IR f_nu ~ lambda^alpha slope.
    """
    lam = rest.lam
    hot = rest.take(tabulated("hot_torus"))
    warm = (lam / 3.0) ** alpha_ir * np.exp(-((1.2 / lam) ** 3) - (lam / 40.0) ** 2 + (1.2 / 3.0) ** 3)
    silicate = np.exp(-tau_sil * rest.take(tabulated("silicate")))
    return (hot_fraction * hot + (1.0 - hot_fraction) * warm) * silicate


def igm_transmission(lam_rest: np.ndarray, lam_obs: np.ndarray) -> np.ndarray:
    """Mean Lyman-alpha forest transmission (Madau 1995 single-term approximation) and zero below 912 A."""
    tau = 0.0036 * (lam_obs / LYMAN_ALPHA_UM) ** 3.46
    trans = np.where(lam_rest < LYMAN_ALPHA_UM, np.exp(-tau), 1.0)
    return np.where(lam_rest < LYMAN_LIMIT_UM, 0.0, trans)
