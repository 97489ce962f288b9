"""Single-file exports of the built catalogue: one VOParquet file and one FITS table.

Both carry per-column units, UCDs and descriptions (VOParquet: the IVOA VOTable header in the
Parquet key-value metadata, via nepagn.voparquet; FITS: TUNITn, TUCDn, TCOMMn, which
TOPCAT/STILTS read) and the build's provenance. Both are written under a temporary name and
renamed into place only when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits
from astropy.table import Table

from nepagn.schema import Column, column_metadata
from nepagn.voparquet import string_lengths, with_voparquet_metadata

FITS_COMMENT_WIDTH = 68


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it to `dest` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_voparquet(
    partition_files: Sequence[Path],
    dest: str | Path,
    columns: Sequence[Column],
    extra_metadata: Mapping[bytes, bytes],
) -> int:
    """Concatenate partition files into one VOParquet file, one row group per partition, streaming.

    Returns the number of rows written. extra_metadata (e.g. provenance) joins the key-value metadata.
    """
    if not partition_files:
        raise ValueError(f"{dest}: no partitions to write")
    schema = pq.read_schema(partition_files[0]).remove_metadata()
    text = [field.name for field in schema if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]
    lengths: dict[str, int] = {}
    for path in partition_files:  # the longest text values: VOTable arraysize 'N*' (astropy's reader needs N)
        for name, length in string_lengths(pq.read_table(path, columns=text)).items():
            lengths[name] = max(length, lengths.get(name, 1))
    schema = with_voparquet_metadata(schema, column_metadata(columns), lengths)
    schema = schema.with_metadata({**schema.metadata, **extra_metadata})
    rows = 0
    with atomic_path(dest) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            for path in partition_files:
                table = pq.read_table(path).replace_schema_metadata(None)
                writer.write_table(table.cast(schema))
                rows += table.num_rows
    return rows


def to_astropy(frame: pd.DataFrame, columns: Sequence[Column]) -> Table:
    """An astropy Table of `frame` for FITS, with units and descriptions; null numbers masked, null text
    empty, null booleans False (the status column says which rows were not classified)."""
    frame = frame.astype({column.name: column.dtype for column in columns if column.name in frame})
    table = Table.from_pandas(frame)
    for name in table.colnames:
        if isinstance(frame[name].dtype, pd.BooleanDtype):  # FITS logicals: astropy writes masked ones as T
            table[name] = frame[name].fillna(False).to_numpy(dtype=bool)
        elif table[name].dtype.kind in "OUS" or isinstance(frame[name].dtype, pd.StringDtype):
            table[name] = _fixed_strings(frame[name])
    for column in columns:
        if column.name not in table.colnames:
            continue
        if column.unit:
            table[column.name].unit = column.unit
        table[column.name].description = column.description
    return table


def write_fits(frame: pd.DataFrame, dest: str | Path, columns: Sequence[Column], header: Mapping[str, object]) -> Path:
    """One FITS binary table with TUNITn/TUCDn/TCOMMn per column and provenance keywords in the header."""
    table = to_astropy(frame, columns)
    hdu = fits.table_to_hdu(table)
    by_name = {column.name: column for column in columns}
    for index, name in enumerate(table.colnames, start=1):
        column = by_name.get(name)
        if column is None:
            continue
        hdu.header[f"TUCD{index}"] = column.ucd
        hdu.header[f"TCOMM{index}"] = column.description[:FITS_COMMENT_WIDTH]
    hdu.header["EXTNAME"] = "CATALOGUE"
    for key, value in header.items():
        hdu.header[key] = value
    with atomic_path(dest) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)
    return Path(dest)


def read_partitions(partition_files: Sequence[Path]) -> pd.DataFrame:
    """All partition files concatenated, in the given order, as one pandas DataFrame."""
    tables = [pq.read_table(path).replace_schema_metadata(None) for path in partition_files]
    return pa.concat_tables(tables).to_pandas()


def _fixed_strings(values: pd.Series) -> np.ndarray:
    """Fixed-width strings for FITS; nulls become empty strings (FITS has no string null)."""
    text = values.astype("string").fillna("")
    width = max(1, int(text.str.len().max() or 1))
    return text.to_numpy(dtype=f"U{width}")
