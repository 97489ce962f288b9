"""A new survey of the mock NEP-Wide field, with its own ids and astrometry, to add to a store by position.

`simulate_survey(mock, config, seed)` observes the sources of a mock catalogue (as `nepagn simulate` wrote
it, which is also what the store was ingested from) the way a second, independent survey would:

- every position is scattered by a Gaussian of `scatter_arcsec` per coordinate (the two catalogues'
  combined astrometric error), plus an optional systematic offset `offset_arcsec` (east, north);
- `missed_fraction` of the mock sources are not detected at all (no survey row);
- `split_fraction` of the detected sources are resolved into two: the counterpart and a fainter
  companion `companion_arcsec` away that the store had blended into one source (the companion has no
  counterpart in the store);
- mock sources closer together than `blend_arcsec` are one survey source (a blend), at the
  flux-weighted mean position; its counterpart is the brighter component;
- `extra_fraction` more survey sources lie at random positions in the field with no counterpart
  in the store (fainter than the store's selection);
- each survey source has magnitudes in the survey's own bands (SURVEY_BANDS, registry rows that are not
  among the 44 shipped bands), interpolated in log wavelength from the mock's observed photometry and
  observed at the survey's depth, and, for `label_fraction` of the AGN / SFG, a spectroscopic class.

The truth rides along in columns the column map does not read: TRUE_MATCH_ID (the mock source_id of the
counterpart, empty where there is none), TRUE_KIND (single, blend, companion, extra) and TRUE_BLEND_ID
(the other component of a blend). `nepagn.crossmatch.quality` scores a match against them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nepagn.bands import Band
from nepagn.errors import NepagnError
from nepagn.schema import DEC, RA, SOURCE_ID, TRUE_CLASS
from nepagn.simulate import footprint

log = logging.getLogger(__name__)

ARCSEC = 1.0 / 3600.0
SURVEY_NAME = "euclid"
ID_COLUMN, RA_COLUMN, DEC_COLUMN, CLASS_COLUMN = "EUC_ID", "RA_EUC", "DEC_EUC", "SPEC_CLASS"
TRUE_MATCH_ID, TRUE_KIND, TRUE_BLEND_ID = "TRUE_MATCH_ID", "TRUE_KIND", "TRUE_BLEND_ID"
KINDS = ("single", "blend", "companion", "extra")

#: The survey's own bands (a Euclid-like VIS + NISP set), registered by `nepagn update --band-registry`.
SURVEY_BANDS: tuple[Band, ...] = (
    Band("euclid_vis", "Euclid", "VIS", "VIS", 0.72, 25.0, "optical"),
    Band("euclid_y", "Euclid", "NISP", "Y", 1.08, 24.0, "NIR"),
    Band("euclid_j", "Euclid", "NISP", "J", 1.37, 24.0, "NIR"),
    Band("euclid_h", "Euclid", "NISP", "H", 1.77, 24.0, "NIR"),
)
_INPUT_NAMES = {"euclid_vis": "VIS", "euclid_y": "Y", "euclid_j": "J", "euclid_h": "H"}


@dataclass(frozen=True)
class SurveyConfig:
    """How the simulated survey observes the mock field (see the module docstring); angles in arcsec."""

    scatter_arcsec: float = 0.3
    offset_arcsec: tuple[float, float] = (0.0, 0.0)
    missed_fraction: float = 0.03
    split_fraction: float = 0.02
    companion_arcsec: tuple[float, float] = (0.4, 1.2)
    blend_arcsec: float = 2.0
    extra_fraction: float = 0.03
    label_fraction: float = 0.0
    bands: tuple[Band, ...] = field(default=SURVEY_BANDS)

    def check(self) -> None:
        """NepagnError naming the first setting out of range."""
        for name in ("missed_fraction", "split_fraction", "extra_fraction", "label_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 0.5:
                raise NepagnError(f"survey {name} must lie in [0, 0.5], got {value}")
        if self.scatter_arcsec < 0 or self.blend_arcsec < 0:
            raise NepagnError("survey scatter_arcsec and blend_arcsec must be >= 0")
        low, high = self.companion_arcsec
        if not 0 < low <= high:
            raise NepagnError(f"survey companion_arcsec must be 0 < low <= high, got {self.companion_arcsec}")

    def record(self) -> dict:
        """JSON-ready settings."""
        out = asdict(self)
        out["bands"] = [band.id for band in self.bands]
        return out


def _interpolated_magnitudes(mock: pd.DataFrame, registry: tuple[Band, ...], bands: tuple[Band, ...]) -> np.ndarray:
    """(n, len(bands)) magnitudes from each source's observed SED, linear in log wavelength between the
    nearest detected registry bands on either side (the nearest one alone where only one side has one)."""
    present = [band for band in registry if band.mag_column in mock.columns]
    order = np.argsort([band.wavelength_um for band in present], kind="stable")
    present = [present[i] for i in order]
    log_wave = np.log10([band.wavelength_um for band in present])
    mags = pd.DataFrame(mock[[band.mag_column for band in present]].to_numpy(dtype=np.float64))
    out = np.full((len(mock), len(bands)), np.nan)
    for j, band in enumerate(bands):
        target = np.log10(band.wavelength_um)
        below = np.flatnonzero(log_wave <= target)
        above = np.flatnonzero(log_wave > target)
        lo_mag = mags.iloc[:, below].ffill(axis=1).iloc[:, -1].to_numpy() if len(below) else np.full(len(mock), np.nan)
        hi_mag = mags.iloc[:, above].bfill(axis=1).iloc[:, 0].to_numpy() if len(above) else np.full(len(mock), np.nan)
        lo_wave = _last_valid_wave(mags.iloc[:, below], log_wave[below]) if len(below) else np.full(len(mock), np.nan)
        hi_wave = _first_valid_wave(mags.iloc[:, above], log_wave[above]) if len(above) else np.full(len(mock), np.nan)
        weight = np.where(hi_wave > lo_wave, (target - lo_wave) / np.where(hi_wave > lo_wave, hi_wave - lo_wave, 1), 0)
        both = np.isfinite(lo_mag) & np.isfinite(hi_mag)
        out[:, j] = np.where(both, lo_mag + weight * (hi_mag - lo_mag), np.where(np.isfinite(lo_mag), lo_mag, hi_mag))
    return out


def _last_valid_wave(mags: pd.DataFrame, waves: np.ndarray) -> np.ndarray:
    valid = mags.notna().to_numpy()
    index = np.where(valid.any(axis=1), valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), 0)
    return np.where(valid.any(axis=1), waves[index], np.nan)


def _first_valid_wave(mags: pd.DataFrame, waves: np.ndarray) -> np.ndarray:
    valid = mags.notna().to_numpy()
    return np.where(valid.any(axis=1), waves[np.argmax(valid, axis=1)], np.nan)


def _observe(rng: np.random.Generator, true_mag: np.ndarray, depths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed magnitudes and errors at 5-sigma `depths` (null where fainter than the depth + 0.5 mag)."""
    snr = 5.0 * 10 ** (-0.4 * (true_mag - depths))
    err = np.clip(1.0857 / snr, 0.005, 1.0)
    observed = true_mag + rng.normal(size=true_mag.shape) * err
    detected = np.isfinite(true_mag) & (true_mag < depths + 0.5)
    return np.where(detected, observed, np.nan), np.where(detected, err, np.nan)


def _offset(ra: np.ndarray, dec: np.ndarray, east_arcsec: np.ndarray, north_arcsec: np.ndarray):
    """Positions moved by small tangent-plane offsets (arcsec east and north)."""
    dec_new = dec + north_arcsec * ARCSEC
    ra_new = ra + east_arcsec * ARCSEC / np.cos(np.radians(dec))
    return np.mod(ra_new, 360.0), dec_new


def close_pairs(ra: np.ndarray, dec: np.ndarray, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of positions closer than `radius_arcsec`, each source in at most one pair
    (closest pairs first), from a k-d tree on unit vectors."""
    from scipy.spatial import cKDTree

    if radius_arcsec <= 0 or len(ra) < 2:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    xyz = np.column_stack([np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)])
    chord = 2.0 * np.sin(np.radians(radius_arcsec * ARCSEC) / 2.0)
    pairs = cKDTree(xyz).query_pairs(chord, output_type="ndarray")
    if not len(pairs):
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    distance = np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)
    pairs = pairs[np.argsort(distance, kind="stable")]
    used = np.zeros(len(ra), dtype=bool)
    keep = []
    for index, (i, j) in enumerate(pairs):
        if not used[i] and not used[j]:
            used[i] = used[j] = True
            keep.append(index)
    kept = pairs[keep]
    return kept[:, 0].astype(np.int64), kept[:, 1].astype(np.int64)


def _flux(mag: np.ndarray) -> np.ndarray:
    """Total flux in the survey bands (relative units; a source undetected in all of them counts as 1e-10)."""
    flux = np.nansum(10 ** (-0.4 * np.nan_to_num(mag, nan=np.inf)), axis=1)
    return np.maximum(flux, 1e-10)


def _combine_mags(mag_a: np.ndarray, mag_b: np.ndarray) -> np.ndarray:
    """Magnitudes of two sources seen as one (fluxes added; null only where both are null)."""
    flux = np.nan_to_num(10 ** (-0.4 * mag_a)) + np.nan_to_num(10 ** (-0.4 * mag_b))
    with np.errstate(divide="ignore"):
        return np.where(flux > 0, -2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)


def simulate_survey(mock: pd.DataFrame, config: SurveyConfig | None = None, seed: int = 0) -> pd.DataFrame:
    """A new survey of the mock field (module docstring), deterministic per seed.

    Parameters
    ----------
    mock : pandas.DataFrame
        The mock catalogue (at least source_id, ra, dec and the band magnitudes; true_class for labels).
    config : SurveyConfig, optional
        Scatter, offset, missed / split / extra fractions, blend distance, labels, bands.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        The survey's catalogue in its own column names (EUC_ID, RA_EUC, DEC_EUC, <band>_MAG / _MAGERR,
        SPEC_CLASS) with the truth columns TRUE_MATCH_ID, TRUE_KIND and TRUE_BLEND_ID.
    """
    from nepagn.bands import load_registry

    config = config or SurveyConfig()
    config.check()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    n_mock = len(mock)
    ids = mock[SOURCE_ID].astype(str).to_numpy()
    ra, dec = mock[RA].to_numpy(dtype=float), mock[DEC].to_numpy(dtype=float)
    true_mag = _interpolated_magnitudes(mock, load_registry(), config.bands)
    true_mag = np.where(np.isfinite(true_mag), true_mag, rng.uniform(23.0, 25.0, true_mag.shape))
    detected = rng.random(n_mock) >= config.missed_fraction

    # blends: detected mock sources closer than blend_arcsec are one survey source
    det_index = np.flatnonzero(detected)
    a, b = close_pairs(ra[det_index], dec[det_index], config.blend_arcsec)
    a, b = det_index[a], det_index[b]
    flux = _flux(true_mag)
    brighter_a = flux[a] >= flux[b]
    primary, secondary = np.where(brighter_a, a, b), np.where(brighter_a, b, a)
    weight = flux[primary] / (flux[primary] + flux[secondary])
    in_blend = np.zeros(n_mock, dtype=bool)
    in_blend[secondary] = True  # the fainter component disappears into the blend
    single = detected & ~in_blend
    rows_ra, rows_dec = ra.copy(), dec.copy()
    rows_mag = true_mag.copy()
    rows_ra[primary] = ra[primary] + (1 - weight) * _ra_difference(ra[secondary], ra[primary])
    rows_dec[primary] = weight * dec[primary] + (1 - weight) * dec[secondary]
    rows_mag[primary] = _combine_mags(true_mag[primary], true_mag[secondary])
    kind = np.full(n_mock, "single", dtype=object)
    kind[primary] = "blend"
    blend_id = np.full(n_mock, "", dtype=object)
    blend_id[primary] = ids[secondary]

    keep = np.flatnonzero(single)
    truth = mock[TRUE_CLASS].astype(str).to_numpy() if TRUE_CLASS in mock.columns else np.full(n_mock, "", object)
    frame = {"ra": rows_ra[keep], "dec": rows_dec[keep], "mag": rows_mag[keep], "match": ids[keep],
             "kind": kind[keep], "blend": blend_id[keep], "cls": truth[keep]}

    # companions: sources the store had blended, resolved by the survey
    split = keep[rng.random(len(keep)) < config.split_fraction]
    distance = rng.uniform(*config.companion_arcsec, len(split))
    angle = rng.uniform(0, 2 * np.pi, len(split))
    comp_ra, comp_dec = _offset(ra[split], dec[split], distance * np.sin(angle), distance * np.cos(angle))
    comp_mag = true_mag[split] + rng.uniform(1.0, 2.5, (len(split), 1))
    # extras: survey sources with no counterpart in the store
    n_extra = int(round(config.extra_fraction * len(keep)))
    extra_ra, extra_dec = footprint.sample_positions(rng, n_extra)
    extra_mag = rng.uniform(23.0, 25.5, (n_extra, len(config.bands)))

    all_ra = np.concatenate([frame["ra"], comp_ra, extra_ra])
    all_dec = np.concatenate([frame["dec"], comp_dec, extra_dec])
    all_mag = np.concatenate([frame["mag"], comp_mag, extra_mag])
    n = len(all_ra)
    east = rng.normal(0, config.scatter_arcsec, n) + config.offset_arcsec[0]
    north = rng.normal(0, config.scatter_arcsec, n) + config.offset_arcsec[1]
    all_ra, all_dec = _offset(all_ra, all_dec, east, north)
    mags, errs = _observe(rng, all_mag, np.array([band.depth_ab for band in config.bands]))
    kinds = np.concatenate([frame["kind"], np.full(len(split), "companion", dtype=object),
                            np.full(n_extra, "extra", dtype=object)])
    match = np.concatenate([frame["match"], np.full(len(split) + n_extra, "", dtype=object)])
    blends = np.concatenate([frame["blend"], np.full(len(split) + n_extra, "", dtype=object)])
    classes = np.concatenate([frame["cls"], np.full(len(split) + n_extra, "", dtype=object)])
    labelled = np.isin(classes, ["AGN", "SFG"]) & (rng.random(n) < config.label_fraction)

    shuffle = rng.permutation(n)  # the survey's own order and ids say nothing about the store's
    out = {
        ID_COLUMN: [f"EUC{index:09d}" for index in range(n)],
        RA_COLUMN: all_ra[shuffle],
        DEC_COLUMN: all_dec[shuffle],
    }
    for j, band in enumerate(config.bands):
        out[f"{_INPUT_NAMES.get(band.id, band.id.upper())}_MAG"] = mags[shuffle, j].astype(np.float32)
        out[f"{_INPUT_NAMES.get(band.id, band.id.upper())}_MAGERR"] = errs[shuffle, j].astype(np.float32)
    out[CLASS_COLUMN] = np.where(labelled, classes, "")[shuffle]
    out[TRUE_MATCH_ID] = match[shuffle]
    out[TRUE_KIND] = kinds[shuffle]
    out[TRUE_BLEND_ID] = blends[shuffle]
    survey = pd.DataFrame(out)
    for name in (CLASS_COLUMN, TRUE_MATCH_ID, TRUE_KIND, TRUE_BLEND_ID, ID_COLUMN):
        survey[name] = survey[name].astype(str)
    log.info("simulated survey: %d sources (%s) from %d mock sources", n,
             ", ".join(f"{k} {int((kinds == k).sum())}" for k in KINDS), n_mock)
    return survey


def _ra_difference(ra_to: np.ndarray, ra_from: np.ndarray) -> np.ndarray:
    """ra_to - ra_from in degrees, wrapped to [-180, 180)."""
    return np.mod(ra_to - ra_from + 180.0, 360.0) - 180.0


def column_map_text(config: SurveyConfig | None = None, name: str = SURVEY_NAME) -> str:
    """The survey file's column map (TOML): its id and positions, its bands, its spectroscopic class."""
    config = config or SurveyConfig()
    lines = [
        f"# Column map of a simulated {name} survey of the mock NEP-Wide field (nepagn simulate-survey).",
        "# TRUE_* columns are the simulation truth: not mapped, read by nepagn.crossmatch.quality.",
        f'name = "{name}"',
        f'description = "simulated {name} survey of the mock NEP-Wide field"',
        "[columns]",
        f'source_id = "{ID_COLUMN}"',
        f'ra = "{RA_COLUMN}"',
        f'dec = "{DEC_COLUMN}"',
        "[label]",
        f'from = "{CLASS_COLUMN}"',
        'AGN = ["AGN"]',
        'SFG = ["SFG"]',
        "[bands]",
    ]
    for band in config.bands:
        stem = _INPUT_NAMES.get(band.id, band.id.upper())
        lines.append(f'{band.id} = {{ mag = "{stem}_MAG", err = "{stem}_MAGERR" }}')
    return "\n".join(lines) + "\n"


def registry_text(config: SurveyConfig | None = None) -> str:
    """Registry rows (CSV like catalogs/bands_nepw.csv) of the survey's bands, for --band-registry."""
    from nepagn.bands import registry_text as to_text

    return to_text(list((config or SurveyConfig()).bands))


def companion_paths(out: Path) -> tuple[Path, Path]:
    """Where simulate-survey writes the column map and the band registry beside the survey file."""
    stem = out.name.split(".")[0]
    return out.with_name(f"{stem}.columns.toml"), out.with_name(f"{stem}.bands.csv")
