"""The single VOParquet file of the built catalogue.

The VOParquet file carries per-column units, UCDs and descriptions (the IVOA VOTable header in the
Parquet key-value metadata, via nepagn.voparquet) and the build's provenance; it is streamed, one
row group per partition. The FITS table is streamed by nepagn.fits_writer. Both are written under a
temporary name (nepagn.files.atomic_path) and renamed into place only when complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nepagn.files import atomic_path
from nepagn.schema import Column, column_metadata
from nepagn.voparquet import string_lengths, with_voparquet_metadata


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
