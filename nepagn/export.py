"""Export a store as one file: FITS (TOPCAT/STILTS) or single-file VOParquet, with units and descriptions.

FITS carries units in TUNITn, UCDs in TUCDn and descriptions in TCOMMn (the keywords TOPCAT and
STILTS read); string nulls become empty strings (FITS has no string null), float nulls NaN, integer
nulls TNULLn, boolean nulls F. Both formats are streamed partition by partition (FITS by
nepagn.fits_writer), so memory is bounded by one partition, not by the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from nepagn.errors import NepagnError
from nepagn.files import atomic_path
from nepagn.fits_writer import write_fits_table
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
    repeated = sorted({name for name in columns if list(columns).count(name) > 1})
    if repeated:
        raise NepagnError(f"columns {repeated} are selected more than once; name each column once")
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


def _write_fits(store: Store, columns: list[str], target: Path, progress: bool) -> None:
    """The FITS table, streamed from the partition files, with the store's snapshot and name in its header."""
    header = {
        "NEPSNAP": (store.snapshot_id[:16], "nepagn store snapshot id (prefix)"),
        "NEPCAT": (store.properties.get("obs_collection", ""), "catalogue name"),
    }
    write_fits_table([partition.path for partition in store.partitions], target, store.column_meta, header,
                     columns=columns, extname="CATALOG", progress=progress)


def export_store(
    store: str | Path | Store,
    out: str | Path,
    columns: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a store's rows to one FITS table or one VOParquet file, atomically, with units and descriptions.

    Parameters
    ----------
    store : str, Path or Store
        The store to export.
    out : str or Path
        The file to write: `.fits` or `.parquet`.
    columns : sequence of str, optional
        The columns to keep (default all).
    overwrite, progress
        Replace an existing file; a progress bar.

    Returns
    -------
    Path
        The file written.
    """
    store = store if isinstance(store, Store) else open_store(store)
    target = Path(out)
    name = target.name.lower()
    if not name.endswith(FITS_SUFFIXES + PARQUET_SUFFIXES):
        raise NepagnError(f"{target}: output must end in .fits or .parquet")
    if target.exists() and not overwrite:
        raise NepagnError(f"{target}: exists; pass --overwrite to replace it")
    selected = _columns(store, columns)
    if name.endswith(PARQUET_SUFFIXES):
        with atomic_path(target) as temp:
            _write_parquet(store, selected, temp, progress)
    else:
        _write_fits(store, selected, target, progress)  # atomic itself
    log.info("exported %d rows of %s to %s", store.num_rows, store.path, target)
    return target
