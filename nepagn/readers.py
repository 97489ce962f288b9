"""Read input catalogues (Parquet file or dataset, FITS, CSV, VOTable) in chunks that Dask workers read alone.

`plan_chunks` splits an input into pieces without reading its data (Parquet row groups, FITS
row ranges, CSV byte ranges cut at line ends); `read_chunk` reads one piece. VOTable and
compressed CSV cannot be split and are read as one chunk.

Every failure to read an input (a corrupt or truncated gzip stream, a damaged Parquet footer, a
malformed CSV line) is an InputError naming the file and the problem: one line and exit 2 at the
command line, on a Dask worker as in this process.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nepagn.errors import InputError

# What reading a damaged input raises: OSError (gzip.BadGzipFile, Arrow I/O), EOFError (a truncated gzip
# stream), zlib.error (corrupt compressed data), ValueError (pandas/astropy parse errors, bad UTF-8),
# Arrow's own errors. FileNotFoundError is left alone: the callers check existence first.
READ_ERRORS = (OSError, EOFError, zlib.error, ValueError, pa.ArrowException)

FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts")
CSV_SUFFIXES = (".csv", ".csv.gz")
VOTABLE_SUFFIXES = (".xml", ".vot", ".votable")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Chunk:
    """One independently readable piece of an input: a file and a row-group, row or byte range."""

    index: int
    kind: str  # parquet | fits | csv | votable
    path: Path
    start: int = 0
    stop: int | None = None


def input_format(path: Path) -> str:
    """The input's format from its name (a directory is a Parquet dataset); InputError if unknown."""
    name = path.name.lower()
    if path.is_dir() or name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    for kind, suffixes in (("fits", FITS_SUFFIXES), ("csv", CSV_SUFFIXES), ("votable", VOTABLE_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    raise InputError(path, "unknown input format; expected Parquet (file or folder), FITS, CSV or VOTable")


def _fits_table_hdu(hdul) -> int:
    for index, hdu in enumerate(hdul):
        if hdu.is_image is False and getattr(hdu, "columns", None) is not None:
            return index
    raise ValueError("no table extension")


def input_columns(path: Path) -> list[str]:
    """Column names of an input, read from its header or footer only."""
    kind = input_format(path)
    try:
        if kind == "parquet":
            import pyarrow.dataset as ds

            return list(ds.dataset(path, format="parquet").schema.names)
        if kind == "fits":
            from astropy.io import fits

            with fits.open(path, memmap=True) as hdul:
                return list(hdul[_fits_table_hdu(hdul)].columns.names)
        if kind == "csv":
            return list(pd.read_csv(path, nrows=0).columns)
        from astropy.table import Table

        return list(Table.read(path, format="votable").colnames)
    except FileNotFoundError as exc:
        raise InputError(path, "input not found") from exc
    except READ_ERRORS as exc:
        raise InputError(path, f"cannot read as {kind}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """A short, one-line description of a read failure."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, EOFError):
        text = f"the file ends early (truncated?): {text}"
    elif isinstance(exc, zlib.error):
        text = f"corrupt compressed data: {text}"
    return text[:300]


def plan_chunks(path: Path, chunk_rows: int = 100_000, chunk_bytes: int = 64 << 20) -> list[Chunk]:
    """Split the input into chunks of about `chunk_rows` rows (CSV: `chunk_bytes` bytes); InputError if unreadable."""
    kind = input_format(path)
    try:
        return _plan_chunks(path, kind, chunk_rows, chunk_bytes)
    except FileNotFoundError as exc:
        raise InputError(path, "input not found") from exc
    except READ_ERRORS as exc:
        raise InputError(path, f"cannot read as {kind}: {_reason(exc)}") from exc


def _plan_chunks(path: Path, kind: str, chunk_rows: int, chunk_bytes: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    if kind == "parquet":
        import pyarrow.dataset as ds

        for file in sorted(ds.dataset(path, format="parquet").files):
            metadata = pq.read_metadata(file)
            start, rows = 0, 0
            for group in range(metadata.num_row_groups):
                rows += metadata.row_group(group).num_rows
                if rows >= chunk_rows or group == metadata.num_row_groups - 1:
                    chunks.append(Chunk(len(chunks), kind, Path(file), start, group + 1))
                    start, rows = group + 1, 0
    elif kind == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            n_rows = int(hdul[_fits_table_hdu(hdul)].header["NAXIS2"])
        for start in range(0, max(n_rows, 1), chunk_rows):
            chunks.append(Chunk(len(chunks), kind, path, start, min(start + chunk_rows, n_rows)))
    elif kind == "csv" and not path.name.lower().endswith(".gz"):
        size = path.stat().st_size
        for start in range(0, max(size, 1), chunk_bytes):
            chunks.append(Chunk(len(chunks), kind, path, start, min(start + chunk_bytes, size)))
    else:
        chunks.append(Chunk(0, kind, path))
    return chunks


def _csv_block(path: Path, start: int, stop: int | None) -> bytes:
    """The header line plus the lines that begin in [start, stop) of a CSV file."""
    with path.open("rb") as handle:
        header = handle.readline()
        if stop is None:
            return header + handle.read()
        if start > 0:
            handle.seek(start - 1)
            handle.readline()  # finish the line that began before `start` (it belongs to the previous block)
        begin = max(handle.tell(), len(header))
        if begin >= stop:
            return header
        handle.seek(begin)
        body = handle.read(stop - begin)
        if not body.endswith(b"\n"):
            body += handle.readline()
        return header + body


def read_chunk(chunk: Chunk, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one chunk (only `columns` where given). CSV cells are read as text; the column map converts them.

    InputError naming the file if it cannot be read (corrupt or truncated data).
    """
    try:
        return _read_chunk(chunk, columns)
    except FileNotFoundError as exc:
        raise InputError(chunk.path, "input not found (removed while it was read?)") from exc
    except READ_ERRORS as exc:
        where = f" (rows {chunk.start}-{chunk.stop})" if chunk.kind == "fits" else ""
        raise InputError(chunk.path, f"cannot read as {chunk.kind}{where}: {_reason(exc)}") from exc


def _read_chunk(chunk: Chunk, columns: list[str] | None) -> pd.DataFrame:
    if chunk.kind == "parquet":
        assert chunk.stop is not None, "plan_chunks gives every Parquet chunk a stop"
        groups = list(range(chunk.start, chunk.stop))
        return pq.ParquetFile(chunk.path).read_row_groups(groups, columns=columns).to_pandas()
    if chunk.kind == "fits":
        from astropy.io import fits
        from astropy.table import Table

        with fits.open(chunk.path, memmap=True) as hdul:
            data = hdul[_fits_table_hdu(hdul)].data[chunk.start : chunk.stop]
            table = Table(data)
            return (table[columns] if columns is not None else table).to_pandas()
    if chunk.kind == "csv":
        block = _csv_block(chunk.path, chunk.start, chunk.stop) if chunk.stop is not None else None
        source = io.BytesIO(block) if block is not None else chunk.path
        return pd.read_csv(source, dtype=str, usecols=columns)
    from astropy.table import Table

    table = Table.read(chunk.path, format="votable")
    return (table[columns] if columns is not None else table).to_pandas()
