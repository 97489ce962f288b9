"""Read one update file through its column map into canonical rows, with the columns it actually carries.

The file goes through `nepagn.ingest` into a scratch store (same validation, same quarantine, same
canonical types as the base store), then is read back. `carried` names the canonical columns the
column map fills: only those replace an existing source's values; the others keep the stored ones.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nepagn.columnmap import ColumnMap
from nepagn.errors import InputError
from nepagn.files import sha256_file
from nepagn.ingest import ingest
from nepagn.readers import input_columns
from nepagn.schema import DEC, HEALPIX_29, LABEL, RA, SOURCE_ID
from nepagn.store import open_store

log = logging.getLogger(__name__)

SCRATCH_ROWS = 1_000_000  # rows per partition of the scratch store (it is read whole anyway)


@dataclass
class UpdateInput:
    """One update file, read: its canonical rows, the columns it carries, and its identity."""

    path: Path
    column_map: Path
    sha256: str
    rows: pd.DataFrame
    carried: tuple[str, ...]
    has_positions: bool
    quarantined: int = 0
    # set by a position match (nepagn.crossmatch): a null in `rows` keeps the stored value instead of erasing it
    fill_nulls: bool = False
    dtypes: dict[str, Any] = field(default_factory=dict)  # pandas dtypes of columns the store gains, if not float32
    column_meta: dict[str, dict[str, str]] = field(default_factory=dict)  # units/UCDs/descriptions of those columns
    crossmatch: dict[str, Any] | None = None  # the position match's record (survey, radius, offset, counts)

    @property
    def input_id(self) -> str:
        """Short, readable id of this input (file name and content hash), stored per row as `input_id`."""
        return f"{self.path.name}@{self.sha256[:12]}"

    def describe(self) -> dict:
        """JSON-ready record for the version's input list."""
        return {
            "input_id": self.input_id,
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "column_map": str(self.column_map.resolve()),
            "column_map_sha256": sha256_file(self.column_map),
            "rows": len(self.rows),
            "rows_quarantined": self.quarantined,
            "columns": list(self.carried),
            **({"crossmatch": self.crossmatch} if self.crossmatch is not None else {}),
        }


def carried_columns(cmap: ColumnMap, available: list[str]) -> tuple[str, ...]:
    """The canonical columns `cmap` fills from an input with columns `available` (source_id first)."""
    names = [rule.canonical for rule in cmap.columns]
    if cmap.label is not None:
        names.append(LABEL)
    for _, mag, err in cmap.band_rules(available):
        names += [mag.canonical, err.canonical]
    if RA in names:
        names.append(HEALPIX_29)
    ordered = [SOURCE_ID] + [name for name in names if name != SOURCE_ID]
    return tuple(dict.fromkeys(ordered))


def read_update(
    path: str | Path, column_map: str | Path, scratch_dir: Path, client=None, quarantine: str | Path | None = None
) -> UpdateInput:
    """Validate and convert an update file (InputError naming file/column/rows on bad rows, unless quarantined)."""
    path, column_map = Path(path), Path(column_map)
    if not path.exists():
        raise InputError(path, "update file not found")
    cmap = ColumnMap.load(column_map)
    scratch = Path(scratch_dir) / f"update-{uuid.uuid4().hex[:8]}"
    try:
        report = ingest(path, cmap, scratch, SCRATCH_ROWS, client, quarantine, catalog_name="update")
        store = open_store(scratch)
        rows = pd.concat([store.read_partition(p) for p in store.partitions], ignore_index=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    carried = carried_columns(cmap, input_columns(path))
    if not cmap.has_positions:
        rows = rows.drop(columns=[c for c in (RA, DEC, HEALPIX_29) if c in rows.columns])
    rows = rows[[c for c in carried if c in rows.columns]]
    log.info("update %s: %d rows carrying %d columns", path, len(rows), len(carried))
    return UpdateInput(path, column_map, sha256_file(path), rows, carried, cmap.has_positions, report.rows_quarantined)
