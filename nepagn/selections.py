"""Classic colour selections of AGN (IRAC, WISE, AKARI), applied to canonical AB magnitudes.

These are the "traditional" baselines the networks are compared against (Chen et al. 2021,
Fig. 11). Each cut is written in the photometric system its paper used: IRAC Lacy 2004 and
Donley 2012 in flux ratios (from AB magnitudes directly, log10(f_a/f_b) = -0.4 (m_a - m_b)),
IRAC Stern 2005 and the WISE cuts in Vega magnitudes (m_Vega = m_AB - VEGA_TO_AB[band]),
the AKARI IRC cuts in AB (the AKARI NEP catalogues are AB). Every selection returns an AGN
flag and an `applicable` mask (the object has every band the cut needs); a cut says nothing
about an object it does not apply to, and callers must score it only on applicable objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nepagn.bands import mag_column
from nepagn.errors import InputError

AB_ZERO_POINT_JY = 3631.0

# Vega zero-point flux densities (Jy) of the bands whose cuts are defined in Vega magnitudes.
# IRAC: IRAC Instrument Handbook v3 (Reach et al. 2005 calibration); WISE: Jarrett et al. 2011
# (also the WISE All-Sky Explanatory Supplement, which lists AB - Vega = 2.699, 3.339, 5.174, 6.620).
VEGA_ZERO_POINT_JY: dict[str, float] = {"irac1": 280.9, "irac2": 179.7, "irac3": 115.0, "irac4": 64.9}
WISE_AB_MINUS_VEGA: dict[str, float] = {"wise_w1": 2.699, "wise_w2": 3.339, "wise_w3": 5.174, "wise_w4": 6.620}

# m_AB - m_Vega per band: IRAC 2.779, 3.264, 3.748, 4.369; WISE as above.
VEGA_TO_AB: dict[str, float] = {
    **{band: 2.5 * math.log10(AB_ZERO_POINT_JY / flux) for band, flux in VEGA_ZERO_POINT_JY.items()},
    **WISE_AB_MINUS_VEGA,
}

Magnitudes = Mapping[str, np.ndarray]


def vega(mags: Magnitudes, band: str) -> np.ndarray:
    """A band's Vega magnitude from its AB magnitude."""
    return mags[band] - VEGA_TO_AB[band]


def log_flux_ratio(mags: Magnitudes, numerator: str, denominator: str) -> np.ndarray:
    """log10(f_nu(numerator) / f_nu(denominator)) from AB magnitudes."""
    return -0.4 * (mags[numerator] - mags[denominator])


def _lacy2004(m: Magnitudes) -> np.ndarray:
    x = log_flux_ratio(m, "irac3", "irac1")
    y = log_flux_ratio(m, "irac4", "irac2")
    return (x > -0.1) & (y > -0.2) & (y <= 0.8 * x + 0.5)


def _stern2005(m: Magnitudes) -> np.ndarray:
    blue = vega(m, "irac1") - vega(m, "irac2")
    red = vega(m, "irac3") - vega(m, "irac4")
    return (red > 0.6) & (blue > 0.2 * red + 0.18) & (blue > 2.5 * red - 3.5)


def _donley2012(m: Magnitudes) -> np.ndarray:
    x = log_flux_ratio(m, "irac3", "irac1")
    y = log_flux_ratio(m, "irac4", "irac2")
    wedge = (x >= 0.08) & (y >= 0.15) & (y >= 1.21 * x - 0.27) & (y <= 1.21 * x + 0.27)
    rising = (m["irac2"] < m["irac1"]) & (m["irac3"] < m["irac2"]) & (m["irac4"] < m["irac3"])
    return wedge & rising


def _stern2012(m: Magnitudes) -> np.ndarray:
    return (vega(m, "wise_w1") - vega(m, "wise_w2")) >= 0.8


def _assef2013_r90(m: Magnitudes) -> np.ndarray:
    w2 = vega(m, "wise_w2")
    colour = vega(m, "wise_w1") - w2
    bright = colour > 0.662
    faint = colour > 0.662 * np.exp(0.232 * (w2 - 13.97) ** 2)
    return np.where(w2 > 13.97, faint, bright)


def _mateos2012(m: Magnitudes) -> np.ndarray:
    y = vega(m, "wise_w1") - vega(m, "wise_w2")
    x = vega(m, "wise_w2") - vega(m, "wise_w3")
    return (y < 0.315 * x + 0.796) & (y > 0.315 * x - 0.222) & (y > -3.172 * x + 7.624)


def _akari_lee2007(m: Magnitudes) -> np.ndarray:
    return ((m["akari_n2"] - m["akari_n4"]) > 0.0) & ((m["akari_s7"] - m["akari_s11"]) > 0.0)


def _akari_n2n4(m: Magnitudes) -> np.ndarray:
    return (m["akari_n2"] - m["akari_n4"]) > 0.0


@dataclass(frozen=True)
class ColourSelection:
    """One published colour cut: which bands it needs, in which system, and its rule."""

    name: str
    label: str
    reference: str
    bands: tuple[str, ...]
    system: str
    rule: Callable[[Magnitudes], np.ndarray]
    note: str = ""


SELECTIONS: dict[str, ColourSelection] = {
    s.name: s
    for s in (
        ColourSelection(
            "lacy2004", "IRAC Lacy+04", "Lacy et al. 2004, ApJS 154, 166",
            ("irac1", "irac2", "irac3", "irac4"), "flux ratio", _lacy2004,
            "log(S5.8/S3.6) > -0.1, log(S8.0/S4.5) > -0.2, log(S8.0/S4.5) <= 0.8 log(S5.8/S3.6) + 0.5",
        ),
        ColourSelection(
            "stern2005", "IRAC Stern+05", "Stern et al. 2005, ApJ 631, 163",
            ("irac1", "irac2", "irac3", "irac4"), "Vega", _stern2005,
            "[5.8]-[8.0] > 0.6, [3.6]-[4.5] > 0.2([5.8]-[8.0]) + 0.18, [3.6]-[4.5] > 2.5([5.8]-[8.0]) - 3.5",
        ),
        ColourSelection(
            "donley2012", "IRAC Donley+12", "Donley et al. 2012, ApJ 748, 142",
            ("irac1", "irac2", "irac3", "irac4"), "flux ratio", _donley2012,
            "x = log(f5.8/f3.6) >= 0.08, y = log(f8.0/f4.5) >= 0.15, 1.21x - 0.27 <= y <= 1.21x + 0.27, "
            "f4.5 > f3.6, f5.8 > f4.5, f8.0 > f5.8",
        ),
        ColourSelection(
            "stern2012", "WISE Stern+12", "Stern et al. 2012, ApJ 753, 30",
            ("wise_w1", "wise_w2"), "Vega", _stern2012,
            "W1 - W2 >= 0.8 (defined for W2 <= 15.05 Vega; applied at all depths here)",
        ),
        ColourSelection(
            "assef2013", "WISE Assef+13 R90", "Assef et al. 2013, ApJ 772, 26 (90% reliability, R90)",
            ("wise_w1", "wise_w2"), "Vega", _assef2013_r90,
            "W1 - W2 > 0.662 exp(0.232 (W2 - 13.97)^2) for W2 > 13.97, else W1 - W2 > 0.662",
        ),
        ColourSelection(
            "mateos2012", "WISE Mateos+12", "Mateos et al. 2012, MNRAS 426, 3271 (3-band wedge)",
            ("wise_w1", "wise_w2", "wise_w3"), "Vega", _mateos2012,
            "0.315x - 0.222 < W1-W2 < 0.315x + 0.796 and W1-W2 > -3.172x + 7.624, x = W2 - W3",
        ),
        ColourSelection(
            "akari_lee2007", "AKARI N2-N4, S7-S11", "Lee et al. 2007, PASJ 59, S529",
            ("akari_n2", "akari_n4", "akari_s7", "akari_s11"), "AB", _akari_lee2007,
            "N2 - N4 > 0 and S7 - S11 > 0 (AB): rising 2-4 um and 7-11 um power law",
        ),
        ColourSelection(
            "akari_n2n4", "AKARI N2-N4", "Lee et al. 2007, PASJ 59, S529 (NIR colour only)",
            ("akari_n2", "akari_n4"), "AB", _akari_n2n4,
            "N2 - N4 > 0 (AB): hot-dust power law between 2.4 and 4.1 um",
        ),
    )
}


@dataclass(frozen=True)
class SelectionResult:
    """Per-object outcome of one cut: `agn` is True only where `applicable` is True."""

    name: str
    agn: np.ndarray
    applicable: np.ndarray

    @property
    def n_applicable(self) -> int:
        return int(self.applicable.sum())


def _magnitudes(frame: pd.DataFrame, bands: tuple[str, ...], source: object) -> dict[str, np.ndarray]:
    mags = {}
    for band in bands:
        column = mag_column(band)
        if column not in frame.columns:
            raise InputError(source, "column needed by a colour selection is absent", column=column)
        mags[band] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return mags


def apply_selection(frame: pd.DataFrame, name: str, source: object = "<catalogue>") -> SelectionResult:
    """Apply the cut `name` (a key of SELECTIONS) to canonical AB magnitudes in `frame`."""
    if name not in SELECTIONS:
        raise KeyError(f"unknown colour selection {name!r}; known: {sorted(SELECTIONS)}")
    selection = SELECTIONS[name]
    mags = _magnitudes(frame, selection.bands, source)
    applicable = np.logical_and.reduce([np.isfinite(values) for values in mags.values()])
    with np.errstate(invalid="ignore", over="ignore"):
        agn = np.asarray(selection.rule(mags), dtype=bool) & applicable
    return SelectionResult(name, agn, applicable)


def available_selections(columns: list[str] | pd.Index) -> list[str]:
    """Names of the cuts whose bands all have a magnitude column among `columns`."""
    present = set(columns)
    return [name for name, sel in SELECTIONS.items() if all(mag_column(b) in present for b in sel.bands)]


def apply_all(frame: pd.DataFrame, names: list[str] | None = None, source: object = "<catalogue>") -> pd.DataFrame:
    """Every applicable cut as two columns, `sel_<name>_agn` and `sel_<name>_applicable`, row-aligned with `frame`."""
    names = available_selections(frame.columns) if names is None else names
    columns = {}
    for name in names:
        result = apply_selection(frame, name, source)
        columns[f"sel_{name}_agn"] = result.agn
        columns[f"sel_{name}_applicable"] = result.applicable
    return pd.DataFrame(columns, index=frame.index)
