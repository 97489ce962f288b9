"""Sky positions in the AKARI NEP-Wide field and the per-survey coverage of the 44 bands.

The field is modelled as a disc of 5.4 deg^2 around the North Ecliptic Pole (RA 270.0, Dec +66.56).
Each ancillary survey covers a region of it, drawn after the published survey layouts
(Kim et al. 2021 and references there), so missing bands follow realistic spatial patterns:
a band is missing where its survey did not look, and where it looked but the source is too faint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nepagn.bands import Band

FIELD_RA_DEG, FIELD_DEC_DEG = 270.0, 66.56
FIELD_AREA_DEG2 = 5.4
FIELD_RADIUS_DEG = float(np.sqrt(FIELD_AREA_DEG2 / np.pi))
NEP_DEEP_RA_DEG, NEP_DEEP_DEC_DEG = 268.85, 66.626  # AKARI NEP-Deep centre, inside the wide field


@dataclass(frozen=True)
class Region:
    """A union of discs and boxes on the tangent plane of the field centre (x east, y north, degrees)."""

    discs: tuple[tuple[float, float, float], ...] = ()  # (x0, y0, radius)
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # (xmin, xmax, ymin, ymax)
    minus: Region | None = None  # region removed from this one

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True where (x, y) lies in the region."""
        inside = np.zeros(np.shape(x), dtype=bool)
        for x0, y0, radius in self.discs:
            inside |= (x - x0) ** 2 + (y - y0) ** 2 <= radius**2
        for xmin, xmax, ymin, ymax in self.boxes:
            inside |= (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        if self.minus is not None:
            inside &= ~self.minus.contains(x, y)
        return inside


def to_tangent_plane(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic projection (degrees) of RA/Dec about the field centre."""
    ra0, dec0 = np.radians(FIELD_RA_DEG), np.radians(FIELD_DEC_DEG)
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    cos_c = np.sin(dec0) * np.sin(dec_r) + np.cos(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0)
    x = np.cos(dec_r) * np.sin(ra_r - ra0) / cos_c
    y = (np.cos(dec0) * np.sin(dec_r) - np.sin(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0)) / cos_c
    return np.degrees(x), np.degrees(y)


def from_tangent_plane(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse gnomonic projection: tangent-plane degrees to RA/Dec degrees."""
    ra0, dec0 = np.radians(FIELD_RA_DEG), np.radians(FIELD_DEC_DEG)
    xr, yr = np.radians(x), np.radians(y)
    rho = np.hypot(xr, yr)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(np.cos(c) * np.sin(dec0) + np.where(rho > 0, yr * np.sin(c) * np.cos(dec0) / rho, 0.0))
    ra = ra0 + np.arctan2(xr * np.sin(c), rho * np.cos(dec0) * np.cos(c) - yr * np.sin(dec0) * np.sin(c))
    return np.degrees(ra) % 360.0, np.degrees(dec)


_DEEP_X, _DEEP_Y = (float(v) for v in to_tangent_plane(np.array(NEP_DEEP_RA_DEG), np.array(NEP_DEEP_DEC_DEG)))
_WHOLE = Region(discs=((0.0, 0.0, FIELD_RADIUS_DEG + 1.0),))
_MEGACAM = Region(boxes=((-0.71, 0.71, -0.71, 0.71), (_DEEP_X - 0.45, _DEEP_X + 0.45, _DEEP_Y - 0.45, _DEEP_Y + 0.45)))
_GALEX_TILES = tuple((x0, y0, 0.6) for x0, y0 in ((0.0, 0.0), (0.8, 0.6), (-0.8, 0.6), (0.8, -0.6), (-0.8, -0.6)))

#: Survey name -> covered region. Sources: AKARI IRC (Kim et al. 2012), HSC (Oi et al. 2021),
#: CFHT MegaCam ugriz (Hwang et al. 2007, Oi et al. 2014), Maidanak SNUCAM (Jeon et al. 2010, the part
#: MegaCam missed), MegaPrime u (Huang et al. 2020), WIRCam (Oi et al. 2014, NEP-Deep), FLAMINGOS J/H
#: (Jeon et al. 2014, 5.1 deg^2), Spitzer IRAC 3.6/4.5 (Nayyeri et al. 2018, whole field), IRAC 5.8/8.0 and
#: MIPS 24 (Jarrett et al. 2011, cryogenic, ~0.4 deg^2 at the pole), WISE (all sky), GALEX (five 0.6 deg
#: radius tiles), Herschel SPIRE (Pearson et al. 2017, whole field), PACS (Pearson et al. 2019, NEP-Deep).
SURVEY_REGIONS: dict[str, Region] = {
    "akari": _WHOLE,
    "wise": _WHOLE,
    "spire": _WHOLE,
    "spitzer_irac12": _WHOLE,
    "hsc": Region(discs=((0.0, 0.0, 1.27),)),
    "megacam": _MEGACAM,
    "maidanak": Region(discs=((0.0, 0.0, FIELD_RADIUS_DEG + 1.0),), minus=_MEGACAM),
    "megaprime": Region(boxes=((-0.95, 0.95, -0.95, 0.95),)),
    "wircam": Region(boxes=((_DEEP_X - 0.42, _DEEP_X + 0.42, _DEEP_Y - 0.42, _DEEP_Y + 0.42),)),
    "flamingos": Region(discs=((0.0, 0.0, FIELD_RADIUS_DEG + 1.0),), minus=Region(boxes=((-2, 2, -2, -1.0),))),
    "spitzer_cryo": Region(discs=((0.0, 0.0, 0.36),)),
    "galex": Region(discs=_GALEX_TILES),
    "pacs": Region(discs=((_DEEP_X, _DEEP_Y, 0.375),)),
}

_SURVEY_BY_PREFIX = {
    "galex": "galex", "megaprime": "megaprime", "megacam": "megacam", "maidanak": "maidanak", "hsc": "hsc",
    "wircam": "wircam", "flamingos": "flamingos", "akari": "akari", "wise": "wise", "irac1": "spitzer_irac12",
    "irac2": "spitzer_irac12", "irac3": "spitzer_cryo", "irac4": "spitzer_cryo", "mips24": "spitzer_cryo",
    "pacs": "pacs", "spire": "spire",
}


def survey_of(band: Band) -> str:
    """The survey (coverage region) a band's photometry comes from."""
    for prefix in (band.id, band.id.split("_")[0]):
        if prefix in _SURVEY_BY_PREFIX:
            return _SURVEY_BY_PREFIX[prefix]
    raise KeyError(f"band {band.id!r} has no survey coverage model; known prefixes: {sorted(_SURVEY_BY_PREFIX)}")


def sample_positions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform positions (RA, Dec in degrees) over the NEP-Wide disc."""
    radius = FIELD_RADIUS_DEG * np.sqrt(rng.random(n))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    return from_tangent_plane(radius * np.cos(angle), radius * np.sin(angle))


def coverage(ra: np.ndarray, dec: np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    """Boolean (n_sources, n_bands): whether each band's survey observed each position."""
    x, y = to_tangent_plane(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float))
    in_field = x**2 + y**2 <= (FIELD_RADIUS_DEG * 1.001) ** 2
    per_survey = {name: region.contains(x, y) & in_field for name, region in SURVEY_REGIONS.items()}
    return np.stack([per_survey[survey_of(band)] for band in bands], axis=1)
