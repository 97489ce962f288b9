"""The canonical catalogue schema every stage speaks: column names, dtypes, units, UCDs.

Ingest maps any input onto these names; the store, the pipeline and the exports carry the
units, UCDs and descriptions defined here into Parquet (VOParquet) and FITS metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nepagn.bands import Band, load_registry

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LABEL_AGN = "AGN"
LABEL_SFG = "SFG"
LABELS = (LABEL_AGN, LABEL_SFG)
TRUE_CLASSES = (LABEL_AGN, LABEL_SFG, "star")

SOURCE_ID = "source_id"
RA, DEC = "ra", "dec"
Z_SPEC, Z_PHOT = "z_spec", "z_phot"
CHI2_GAL, CHI2_STAR = "chi2_gal", "chi2_star"
LABEL = "label"
LABEL_SOURCE = "label_source"
TRUE_CLASS = "true_class"
HEALPIX_29 = "_healpix_29"


def agn_labels(frame: pd.DataFrame) -> np.ndarray:
    """True where the canonical `label` is AGN, False for SFG and unlabelled rows: the one reading of the labels."""
    return (frame[LABEL].astype("string") == LABEL_AGN).to_numpy(dtype=bool, na_value=False)


@dataclass(frozen=True)
class Column:
    """A canonical column: name, numpy/pandas dtype, unit, UCD and a one-line description."""

    name: str
    dtype: str
    unit: str | None
    ucd: str
    description: str


CORE_COLUMNS: tuple[Column, ...] = (
    Column(SOURCE_ID, "string", None, "meta.id;meta.main", "Source identifier, unique in the catalogue"),
    Column(RA, "float64", "deg", "pos.eq.ra;meta.main", "Right ascension (ICRS)"),
    Column(DEC, "float64", "deg", "pos.eq.dec;meta.main", "Declination (ICRS)"),
    Column(Z_SPEC, "float64", None, "src.redshift", "Spectroscopic redshift"),
    Column(Z_PHOT, "float64", None, "src.redshift.phot", "Photometric redshift (LePhare)"),
    Column(CHI2_GAL, "float64", None, "stat.fit.chi2", "Minimum chi2 of the galaxy templates (LePhare)"),
    Column(CHI2_STAR, "float64", None, "stat.fit.chi2", "Minimum chi2 of the stellar templates (LePhare)"),
    Column(LABEL, "string", None, "src.class", "Ground-truth class from spectroscopy or X-ray: AGN, SFG or null"),
    Column(LABEL_SOURCE, "string", None, "meta.ref", "Where the ground-truth label comes from (spec, xray, ...)"),
)

TRUTH_COLUMNS: tuple[Column, ...] = (
    Column(TRUE_CLASS, "string", None, "src.class", "Simulation truth (mock catalogues only): AGN, SFG or star"),
)

HEALPIX_COLUMN = Column(
    HEALPIX_29, "int64", None, "pos.healpix", "HEALPix nested index at order 29 (HATS spatial index)"
)


def band_columns(bands: Sequence[Band] | None = None) -> tuple[Column, ...]:
    """Magnitude and error columns of `bands` (default: the full registry), interleaved per band."""
    columns = []
    for band in load_registry() if bands is None else bands:
        label = f"{band.facility}/{band.instrument} {band.filter} ({band.wavelength_um:g} um)"
        columns.append(Column(band.mag_column, "float32", "mag", "phot.mag", f"AB magnitude, {label}"))
        columns.append(Column(band.err_column, "float32", "mag", "stat.error;phot.mag", f"AB magnitude error, {label}"))
    return tuple(columns)


def canonical_columns(bands: Sequence[Band] | None = None, with_truth: bool = False) -> tuple[Column, ...]:
    """The full canonical schema for a band list, in storage order."""
    extra = TRUTH_COLUMNS if with_truth else ()
    return CORE_COLUMNS + band_columns(bands) + extra


def column_metadata(columns: Sequence[Column]) -> dict[str, dict[str, str]]:
    """Per-column unit/UCD/description mapping, as astropy's VOParquet writer expects it."""
    meta = {}
    for column in columns:
        entry = {"ucd": column.ucd, "description": column.description}
        if column.unit:
            entry["unit"] = column.unit
        meta[column.name] = entry
    return meta
