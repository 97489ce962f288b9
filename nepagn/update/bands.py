"""New bands: registry rows given by the user are checked, kept in the store (nepagn_bands.csv) and made
known to this process and the Dask workers through $NEPAGN_EXTRA_BANDS (nepagn.bands reads it).

New bands follow the shipped ones in the registry, so every existing model keeps its own band list
and input order; `nepagn train` with the same variable set trains models that use them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nepagn.bands import DEFAULT_REGISTRY, EXTRA_BANDS_ENV, Band, read_registry
from nepagn.errors import InputError
from nepagn.resources import catalogs_dir

log = logging.getLogger(__name__)

def merge_band_rows(stored: str | Path | None, given: str | Path | None) -> list[Band]:
    """The extra bands of the store plus those in the user's file; a clash with a known band is an error."""
    shipped = {band.id: band for band in read_registry(catalogs_dir() / DEFAULT_REGISTRY)}
    merged: dict[str, Band] = {}
    for path in (stored, given):
        if path is None:
            continue
        try:
            rows = read_registry(path)
        except (ValueError, OSError) as exc:
            raise InputError(path, f"not a band registry CSV: {exc}") from exc
        for band in rows:
            known = merged.get(band.id) or shipped.get(band.id)
            if known is not None and known != band:
                raise InputError(path, f"band {band.id!r} is already registered with different values ({known})",
                                 column="id")
            if band.id not in shipped:
                merged[band.id] = band
    return list(merged.values())


def activate(registry_file: str | Path | None, client=None) -> None:
    """Make the bands in `registry_file` part of load_registry() here and on every worker of `client`."""
    value = str(Path(registry_file).resolve()) if registry_file else ""
    _set_env(value)
    if client is not None:
        client.run(_set_env, value)
    if value:
        log.info("extra bands from %s: %s", value, [band.id for band in read_registry(value)])


def _set_env(value: str) -> None:
    if value:
        os.environ[EXTRA_BANDS_ENV] = value
    else:
        os.environ.pop(EXTRA_BANDS_ENV, None)
