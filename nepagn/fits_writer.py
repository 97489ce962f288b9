"""One FITS binary table streamed from Parquet partition files: memory bounded by one partition.

Why: the catalogue can be far larger than the client's memory (10^7 rows would be ~45 GiB as one
pandas frame), while a FITS binary table is just a header followed by fixed-width rows. So:

- pass 1 reads each file's footer (row count, schema) and only its text and integer columns, to fix
  the header: TFORMn from the Arrow types, text widths from the longest value over all files,
  TNULLn for integer columns that hold nulls, NAXIS2 = the total row count;
- pass 2 writes the primary HDU and that header, then each partition's rows as big-endian records,
  then the zero padding to the 2880-byte block.

Nulls (FITS has none for floats, text or logicals): floats NaN, integers TNULLn (the type's
minimum), text empty strings, booleans F. Units, UCDs and descriptions go to TUNITn, TUCDn and
TCOMMn, the keywords TOPCAT and STILTS read. A description longer than one card (68 characters)
is written whole with the long-string convention (the value ends in '&' and CONTINUE cards carry
the rest; LONGSTRN announces it), which astropy, TOPCAT and STILTS read back as one string. The
file is written under a temporary name and renamed only when complete; a destination ending in .gz
is gzip-compressed as it is written.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from astropy.io import fits
from tqdm.auto import tqdm

from nepagn.errors import NepagnError
from nepagn.files import atomic_path

log = logging.getLogger(__name__)
T = TypeVar("T")

FITS_BLOCK = 2880
FITS_COMMENT_WIDTH = 68  # the longest string value that fits one header card; longer ones use CONTINUE cards

# Arrow type -> FITS binary-table format letter ('A': text, width set in pass 1). int8 is widened to I
# (16-bit): FITS has only an unsigned byte.
_FORMS = {
    pa.float64(): "D",
    pa.float32(): "E",
    pa.int64(): "K",
    pa.int32(): "J",
    pa.int16(): "I",
    pa.int8(): "I",
    pa.bool_(): "L",
    pa.string(): "A",
    pa.large_string(): "A",
}
# Big-endian numpy type of one cell per format letter; logicals are the bytes 'T' / 'F'.
_CELL_TYPES = {"D": ">f8", "E": ">f4", "K": ">i8", "J": ">i4", "I": ">i2", "L": "u1"}
_INTEGER_FORMS = ("K", "J", "I")


@dataclass
class _Column:
    """One output column: its format letter, and what pass 1 learnt (text width, null sentinel)."""

    name: str
    form: str
    width: int = 1
    null: int | None = None

    @property
    def tform(self) -> str:
        """TFORMn: the format letter, with the width for text."""
        return f"{self.width}A" if self.form == "A" else self.form

    @property
    def cell_type(self) -> str:
        """The numpy type of one cell as stored in the file (big-endian)."""
        return f"S{self.width}" if self.form == "A" else _CELL_TYPES[self.form]


def write_fits_table(
    partition_files: Sequence[Path],
    dest: str | Path,
    column_meta: Mapping[str, Mapping[str, str]],
    header: Mapping[str, object] | None = None,
    columns: Sequence[str] | None = None,
    extname: str = "CATALOGUE",
    progress: bool = False,
) -> int:
    """Write the partition files' rows, in file order, as one FITS binary table at `dest`; returns the row count.

    column_meta gives each column's unit, ucd and description; header adds keywords (values or
    (value, comment) pairs) to the table HDU; columns picks and orders columns (default: the first
    file's). Raises NepagnError naming the file if a partition cannot be read or does not match.
    """
    files = [Path(path) for path in partition_files]
    if not files:
        raise NepagnError(f"{dest}: no partition files to write")
    names = list(columns) if columns is not None else _read(files[0], lambda f: f.schema_arrow.names)
    layout, counts = _scan(files, names)
    rows = sum(counts)
    table_header = _table_header(layout, rows, column_meta, header or {}, extname)
    record_type = np.dtype([(column.name, column.cell_type) for column in layout])
    opener = gzip.open if Path(dest).name.lower().endswith(".gz") else open
    with atomic_path(dest) as tmp, opener(tmp, "wb") as out:
        out.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
        out.write(table_header.tostring().encode("ascii"))
        for path, count in tqdm(list(zip(files, counts, strict=True)), desc="FITS", unit="partition",
                                disable=not progress):
            table = _read(path, lambda f: f.read(columns=names))
            if table.num_rows != count:
                raise NepagnError(f"{path}: {table.num_rows} rows now, {count} when the header was written")
            out.write(_records(table, layout, record_type).tobytes())
        out.write(b"\0" * (-rows * record_type.itemsize % FITS_BLOCK))
    log.info("wrote %d rows from %d partition files to %s", rows, len(files), dest)
    return rows


def _read(path: Path, what: Callable[[pq.ParquetFile], T]) -> T:
    """what(pq.ParquetFile) for one partition file, any read failure turned into an error naming the file."""
    try:
        with pq.ParquetFile(path) as parquet:
            return what(parquet)
    except (OSError, pa.ArrowException) as exc:
        raise NepagnError(f"{path}: cannot read partition file: {exc}") from exc


def _scan(files: list[Path], names: list[str]) -> tuple[list[_Column], list[int]]:
    """Pass 1: the output columns (formats, text widths, integer null sentinels) and each file's row count."""
    layout: list[_Column] | None = None
    counts = []
    has_nulls: dict[str, bool] = {}
    minima: dict[str, int] = {}
    for path in files:
        schema, count = _read(path, lambda f: (f.schema_arrow, f.metadata.num_rows))
        missing = [name for name in names if name not in schema.names]
        if missing:
            raise NepagnError(f"{path}: partition file has no columns {missing}")
        forms = [_form(path, schema.field(name)) for name in names]
        if layout is None:
            layout = [_Column(name, form) for name, form in zip(names, forms, strict=True)]
        elif forms != [column.form for column in layout]:
            raise NepagnError(f"{path}: column types differ from those of {files[0]} (FITS forms {forms} against "
                              f"{[column.form for column in layout]})")
        scanned = [column.name for column in layout if column.form == "A" or column.form in _INTEGER_FORMS]
        table = _read(path, partial(pq.ParquetFile.read, columns=scanned))
        counts.append(count)
        for column in layout:
            if column.name not in scanned or table.num_rows == 0:
                continue
            values = table[column.name]
            if column.form == "A":
                column.width = max(column.width, pc.max(pc.binary_length(values)).as_py() or 1)
            else:
                has_nulls[column.name] = has_nulls.get(column.name, False) or values.null_count > 0
                low = pc.min(values).as_py()
                if low is not None:
                    minima[column.name] = min(low, minima.get(column.name, low))
    if layout is None:
        raise NepagnError("no partition files to write")
    for column in layout:
        if has_nulls.get(column.name):
            column.null = int(np.iinfo(column.cell_type).min)
            if minima.get(column.name) == column.null:
                raise NepagnError(f"column {column.name!r}: holds both nulls and {column.null}, its FITS null value")
    return layout, counts


def _form(path: Path, field: pa.Field) -> str:
    """The FITS format letter of an Arrow field."""
    form = _FORMS.get(field.type)
    if form is None:
        raise NepagnError(f"{path}: column {field.name!r} has type {field.type}, which has no FITS form here "
                          f"(supported: {sorted({str(t) for t in _FORMS})})")
    return form


def _table_header(
    layout: list[_Column], rows: int, column_meta: Mapping[str, Mapping[str, str]],
    extra: Mapping[str, object], extname: str,
) -> fits.Header:
    """The binary table header: structure, TUNITn/TNULLn, TUCDn/TCOMMn, EXTNAME and the caller's keywords."""
    definitions = [
        fits.Column(name=column.name, format=column.tform, unit=column_meta.get(column.name, {}).get("unit") or None,
                    null=column.null)
        for column in layout
    ]
    header = fits.BinTableHDU.from_columns(definitions, nrows=0).header
    header["NAXIS2"] = rows
    long_strings = False
    for index, column in enumerate(layout, start=1):
        meta = column_meta.get(column.name, {})
        if meta.get("ucd"):
            header[f"TUCD{index}"] = meta["ucd"]
        if meta.get("description"):
            header[f"TCOMM{index}"] = meta["description"]  # whole: astropy continues it over CONTINUE cards
            long_strings = long_strings or len(meta["description"]) > FITS_COMMENT_WIDTH
    header["EXTNAME"] = extname
    if long_strings:
        header["LONGSTRN"] = ("OGIP 1.0", "long strings continue over CONTINUE cards")
    for key, value in extra.items():
        header[key] = value
    return header


def _records(table: pa.Table, layout: list[_Column], record_type: np.dtype) -> np.ndarray:
    """One partition's rows as FITS records (big-endian, packed), nulls replaced as the module says."""
    records = np.empty(table.num_rows, dtype=record_type)
    for column in layout:
        values = table[column.name]
        if column.form == "A":
            cells = pc.fill_null(values.cast(pa.binary()), b"").to_numpy()
        elif column.form == "L":
            cells = np.where(pc.fill_null(values, False).to_numpy(), ord("T"), ord("F"))
        elif column.form in _INTEGER_FORMS:
            values = values.cast(pa.from_numpy_dtype(np.dtype(column.cell_type).newbyteorder("=")))
            if column.null is not None:
                values = pc.fill_null(values, column.null)
            cells = values.to_numpy()
        else:  # floats: pyarrow turns nulls into NaN
            cells = values.to_numpy()
        records[column.name] = cells
    return records
