"""The band registry: which photometric bands exist, in which order the network sees them.

The registry is data (catalogs/bands_nepw.csv), not code. Its row order is the order of the
network's input rows, so a model trained on a band list infers on exactly that list.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from nepagn.resources import catalogs_dir

GROUPS: tuple[str, ...] = ("UV", "optical", "NIR", "MIR", "FIR")
DEFAULT_REGISTRY = "bands_nepw.csv"
EXTRA_BANDS_ENV = "NEPAGN_EXTRA_BANDS"


@dataclass(frozen=True)
class Band:
    """One photometric band: identity, effective wavelength, 5-sigma depth and ablation group."""

    id: str
    facility: str
    instrument: str
    filter: str
    wavelength_um: float
    depth_ab: float
    group: str

    @property
    def mag_column(self) -> str:
        return mag_column(self.id)

    @property
    def err_column(self) -> str:
        return err_column(self.id)


def mag_column(band_id: str) -> str:
    """Canonical column name of a band's AB magnitude."""
    return f"{band_id}_mag"


def err_column(band_id: str) -> str:
    """Canonical column name of a band's magnitude error."""
    return f"{band_id}_magerr"


def read_registry(path: str | Path) -> tuple[Band, ...]:
    """Read a band registry CSV (comment lines start with '#') and validate it."""
    path = Path(path)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    bands = []
    for lineno, row in enumerate(rows, start=1):
        try:
            band = Band(
                id=row["id"].strip(),
                facility=row["facility"].strip(),
                instrument=row["instrument"].strip(),
                filter=row["filter"].strip(),
                wavelength_um=float(row["wavelength_um"]),
                depth_ab=float(row["depth_ab"]),
                group=row["group"].strip(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: band row {lineno} is malformed: {exc}") from exc
        if band.group not in GROUPS:
            raise ValueError(f"{path}: band {band.id!r} has unknown group {band.group!r}; expected one of {GROUPS}")
        bands.append(band)
    ids = [band.id for band in bands]
    duplicated = sorted({band_id for band_id in ids if ids.count(band_id) > 1})
    if duplicated:
        raise ValueError(f"{path}: duplicate band ids {duplicated}")
    return tuple(bands)


def load_registry(name: str = DEFAULT_REGISTRY) -> tuple[Band, ...]:
    """The shipped registry (default: the 44 NEPW bands), in network input order.

    Bands registered by `nepagn update --band-registry` (CSV files listed in $NEPAGN_EXTRA_BANDS,
    os.pathsep-separated) follow the shipped ones, so existing models keep their input order.
    """
    return _load_registry(name, os.environ.get(EXTRA_BANDS_ENV, ""))


@cache
def _load_registry(name: str, extra: str) -> tuple[Band, ...]:
    bands = read_registry(catalogs_dir() / name)
    for path in filter(None, extra.split(os.pathsep)):
        known = {band.id for band in bands}
        bands += tuple(band for band in read_registry(path) if band.id not in known)
    return bands


def band_ids(bands: Iterable[Band] | None = None) -> list[str]:
    """Band ids in order (default: the full registry)."""
    return [band.id for band in (load_registry() if bands is None else bands)]


def get_bands(ids: Sequence[str], registry: Sequence[Band] | None = None) -> tuple[Band, ...]:
    """The registry entries for `ids`, kept in registry (network input) order."""
    registry = load_registry() if registry is None else registry
    known = {band.id for band in registry}
    unknown = [band_id for band_id in ids if band_id not in known]
    if unknown:
        raise KeyError(f"unknown band ids {unknown}; known: {sorted(known)}")
    wanted = set(ids)
    return tuple(band for band in registry if band.id in wanted)


def bands_in_group(group: str, registry: Sequence[Band] | None = None) -> tuple[Band, ...]:
    """All bands of one ablation group (UV, optical, NIR, MIR, FIR)."""
    if group not in GROUPS:
        raise KeyError(f"unknown group {group!r}; expected one of {GROUPS}")
    registry = load_registry() if registry is None else registry
    return tuple(band for band in registry if band.group == group)


REGISTRY_FIELDS = ("id", "facility", "instrument", "filter", "wavelength_um", "depth_ab", "group")


def registry_text(bands: list[Band]) -> str:
    """Band rows as registry CSV text (the format of catalogs/bands_nepw.csv)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REGISTRY_FIELDS)
    for band in bands:
        writer.writerow([getattr(band, name) for name in REGISTRY_FIELDS])
    return buffer.getvalue()
