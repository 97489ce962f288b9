"""Export a store as one file: FITS (TOPCAT/STILTS) or single-file VOParquet, with units and descriptions.

FITS carries units in TUNITn, UCDs in TUCDn and descriptions in TCOMMn (the keywords TOPCAT and
STILTS read); string nulls become empty strings (FITS has no string null), float nulls NaN.
Parquet is streamed partition by partition; FITS is built in memory (fine at survey-field size).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from nepagn.errors import NepagnError
from nepagn.store import Store, open_store
from nepagn.voparquet import string_lengths, with_voparquet_metadata

log = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fit", ".fits.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _columns(store: Store, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return store.columns
    unknown = [name for name in columns if name not in store.columns]
    if unknown:
        raise NepagnError(f"{store.path}: no columns {unknown} in the store; it has {store.columns}")
    return list(columns)


def _write_parquet(store: Store, columns: list[str], target: Path, progress: bool) -> None:
    schema = store.schema.remove_metadata()
    schema = pa.schema([schema.field(name) for name in columns])
    text = [name for name in columns if pa.types.is_string(schema.field(name).type)]
    lengths: dict[str, int] = {}
    for partition in store.partitions:  # longest text values first: VOTable arraysize 'N*' (astropy needs N)
        for name, length in string_lengths(pq.read_table(partition.path, columns=text)).items():
            lengths[name] = max(length, lengths.get(name, 1))
    schema = with_voparquet_metadata(schema, {k: v for k, v in store.column_meta.items() if k in columns}, lengths)
    with pq.ParquetWriter(target, schema) as writer:
        for partition in tqdm(store.partitions, desc="export", unit="partition", disable=not progress):
            table = pq.read_table(partition.path, columns=columns)
            writer.write_table(table.cast(schema))


def fits_table_hdu(frame: pd.DataFrame, column_meta: dict[str, dict[str, str]], extname: str = "CATALOG"):
    """A FITS binary table HDU of `frame` with TUNITn, TUCDn and TCOMMn from `column_meta`."""
    from astropy.io import fits
    from astropy.table import Table

    table = Table()
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            values = series.astype("string").fillna("").to_numpy(dtype=str)
            table[name] = values
        elif pd.api.types.is_bool_dtype(series):
            table[name] = series.to_numpy(dtype=bool)
        elif isinstance(series.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_float_dtype(series):
            table[name] = series.to_numpy(dtype=series.dtype.numpy_dtype, na_value=np.nan)
        else:
            table[name] = series.to_numpy()
        unit = column_meta.get(name, {}).get("unit")
        if unit:
            table[name].unit = unit
    hdu = fits.table_to_hdu(table)
    hdu.name = extname
    for index, name in enumerate(frame.columns, start=1):
        meta = column_meta.get(name, {})
        if meta.get("ucd"):
            hdu.header[f"TUCD{index}"] = meta["ucd"]
        if meta.get("description"):
            hdu.header[f"TCOMM{index}"] = meta["description"]
    return hdu


def _write_fits(store: Store, columns: list[str], target: Path, progress: bool) -> None:
    from astropy.io import fits

    frames = [
        store.read_partition(p, columns)
        for p in tqdm(store.partitions, desc="export", unit="partition", disable=not progress)
    ]
    frame = pd.concat(frames, ignore_index=True)
    hdu = fits_table_hdu(frame, store.column_meta)
    hdu.header["NEPSNAP"] = (store.snapshot_id[:16], "nepagn store snapshot id (prefix)")
    hdu.header["NEPCAT"] = (store.properties.get("obs_collection", ""), "catalogue name")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(target)


def export_store(
    store: str | Path | Store,
    out: str | Path,
    columns: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write the store's rows (all, or `columns`) to one FITS or Parquet file, atomically; returns its path."""
    store = store if isinstance(store, Store) else open_store(store)
    target = Path(out)
    name = target.name.lower()
    if not name.endswith(FITS_SUFFIXES + PARQUET_SUFFIXES):
        raise NepagnError(f"{target}: output must end in .fits or .parquet")
    if target.exists() and not overwrite:
        raise NepagnError(f"{target}: exists; pass --overwrite to replace it")
    selected = _columns(store, columns)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        if name.endswith(PARQUET_SUFFIXES):
            _write_parquet(store, selected, temp, progress)
        else:
            _write_fits(store, selected, temp, progress)
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
    log.info("exported %d rows of %s to %s", store.num_rows, store.path, target)
    return target
