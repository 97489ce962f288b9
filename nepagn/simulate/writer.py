"""Write a catalogue (one DataFrame or a stream of them) to Parquet, FITS or CSV, atomically.

Parquet and CSV are written chunk by chunk (memory bounded by one chunk); FITS goes through an astropy
Table with units. Everything is written to a temporary file in the target folder and renamed into place
only when complete, so an interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nepagn.errors import NepagnError
from nepagn.files import atomic_path
from nepagn.schema import Column, canonical_columns, column_metadata

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".fits": "fits", ".fit": "fits", ".csv": "csv"}
VOPARQUET_VERSION_KEY = b"IVOA.VOTable-Parquet.version"
VOPARQUET_CONTENT_KEY = b"IVOA.VOTable-Parquet.content"
COLUMN_META_KEY = b"nepagn.columns"


def output_format(path: str | Path) -> str:
    """'parquet', 'fits' or 'csv' from the file extension; NepagnError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise NepagnError(f"{path}: unsupported output extension {suffix!r}; use one of {sorted(FORMATS)}")
    return FORMATS[suffix]


def write_catalogue(frames: pd.DataFrame | Iterable[pd.DataFrame], path: str | Path) -> int:
    """Write frames (one DataFrame or an iterable of chunks, same columns) to path; returns the rows written."""
    path = Path(path)
    fmt = output_format(path)
    if isinstance(frames, pd.DataFrame):
        frames = [frames]
    writer = {"parquet": _write_parquet, "fits": _write_fits, "csv": _write_csv}[fmt]
    with atomic_path(path) as tmp:
        return writer(frames, tmp)


def _known_columns(names: Iterable[str]) -> list[Column]:
    by_name = {c.name: c for c in canonical_columns(with_truth=True)}
    return [by_name[name] for name in names if name in by_name]


def _votable_header(frame: pd.DataFrame, columns: list[Column]) -> bytes:
    """The VOTable header of the IVOA VOParquet note, built as astropy's parquet.votable writer builds it."""
    from astropy.io.votable.tree import VOTableFile

    votable = VOTableFile.from_table(_astropy_table(frame.head(1), columns))
    ns = "{http://www.ivoa.net/xml/VOTable/v1.3}"
    buffer = io.BytesIO()
    votable.to_xml(buffer)
    root = ElementTree.fromstring(buffer.getvalue())
    table = root.find(f"{ns}RESOURCE/{ns}TABLE")
    data = table.find(f"{ns}DATA") if table is not None else None
    if table is None or data is None:
        raise RuntimeError("astropy's VOTable has no RESOURCE/TABLE/DATA to replace by the Parquet note's PARQUET")
    table.remove(data)
    ElementTree.SubElement(table, f"{ns}PARQUET", type="Parquet-local-XML")
    return ElementTree.tostring(root, encoding="unicode", method="xml", xml_declaration=True).encode()


def _write_parquet(frames: Iterable[pd.DataFrame], tmp: Path) -> int:
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                columns = _known_columns(frame.columns)
                meta = dict(table.schema.metadata or {})
                meta[VOPARQUET_VERSION_KEY] = b"1.0"
                meta[VOPARQUET_CONTENT_KEY] = _votable_header(frame, columns)
                meta[COLUMN_META_KEY] = json.dumps(column_metadata(columns)).encode()
                schema = table.schema.with_metadata(meta)
                writer = pq.ParquetWriter(tmp, schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
            rows += len(frame)
        if writer is None:
            raise NepagnError(f"{tmp}: nothing to write (no chunks)")
    finally:
        if writer is not None:
            writer.close()
    return rows


def _write_csv(frames: Iterable[pd.DataFrame], tmp: Path) -> int:
    rows = 0
    with tmp.open("w", newline="") as handle:
        for index, frame in enumerate(frames):
            frame.to_csv(handle, index=False, header=index == 0, float_format="%.7g")
            rows += len(frame)
    return rows


def _astropy_table(frame: pd.DataFrame, columns: list[Column]):
    """An astropy Table of frame with units, UCDs and descriptions (nulls of text columns become empty)."""
    from astropy.table import Table

    table = Table()
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.StringDtype) or series.dtype == object:
            table[name] = np.array(series.fillna("").astype(str).tolist(), dtype=str)  # fixed width for FITS
        else:
            table[name] = series.to_numpy()
    for column in columns:
        if column.unit:
            table[column.name].unit = column.unit
        table[column.name].description = column.description
        table[column.name].meta["ucd"] = column.ucd
    return table


def _write_fits(frames: Iterable[pd.DataFrame], tmp: Path) -> int:
    frame = pd.concat(list(frames), ignore_index=True)
    _astropy_table(frame, _known_columns(frame.columns)).write(tmp, format="fits", overwrite=True)
    return len(frame)
