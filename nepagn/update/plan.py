"""Decide what an update changes: which rows are new, which replace a stored source, which are unchanged,
and which HEALPix partition each changed row goes to (existing, split, or new for a new sky area).

Content decides: an incoming row whose values equal the stored row (every column, nulls equal) is
unchanged and touches nothing, so applying the same update twice is a no-op.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nepagn.errors import InputError, NepagnError
from nepagn.ingest import COUNT_ORDER
from nepagn.schema import HEALPIX_29, SOURCE_ID
from nepagn.store import Store, pixel_of
from nepagn.update.inputs import UpdateInput

log = logging.getLogger(__name__)

INPUT_ID = "input_id"
Key = tuple[int, int]


@dataclass
class SourcePlan:
    """What applying one update to a store means, partition by partition."""

    columns: list[str]  # the store's columns after the update (new bands and input_id appended)
    dtypes: dict[str, object]
    incoming: dict[Key, pd.DataFrame] = field(default_factory=dict)  # rows to write, by target partition
    removals: dict[Key, set[str]] = field(default_factory=dict)  # ids leaving each existing partition
    new_partitions: list[Key] = field(default_factory=list)  # partitions for sky areas the store did not cover
    new_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    base_input_id: str = "base"
    added_columns: list[str] = field(default_factory=list)  # columns the store gains (new bands, input_id)
    column_meta: dict[str, dict[str, str]] = field(default_factory=dict)  # units/UCDs/descriptions of added columns

    @property
    def touched(self) -> set[Key]:
        """Existing or new partitions whose rows change."""
        return set(self.incoming) | set(self.removals)

    @property
    def schema_changed(self) -> bool:
        return bool(self.added_columns)

    @property
    def changes_rows(self) -> bool:
        return bool(self.new_ids or self.updated_ids)

    def record(self) -> dict:
        """JSON-ready summary of the plan."""
        return {
            "rows_new": len(self.new_ids),
            "rows_updated": len(self.updated_ids),
            "rows_unchanged": self.unchanged,
            "columns_added": list(self.added_columns),
            "partitions_touched": sorted(list(key) for key in self.touched),
            "partitions_new_sky": sorted(list(key) for key in self.new_partitions),
        }


def locate_sources(store: Store) -> pd.DataFrame:
    """source_id -> (order, pixel) of every stored row, reading only the id column."""
    parts = []
    for partition in store.partitions:
        ids = pq.read_table(partition.path, columns=[SOURCE_ID]).column(0).to_pandas()
        parts.append(pd.DataFrame({SOURCE_ID: ids.astype(str), "order": partition.order, "pixel": partition.pixel}))
    return pd.concat(parts, ignore_index=True).set_index(SOURCE_ID)


def containing_partition(healpix: np.ndarray, keys: list[Key]) -> list[Key | None]:
    """For each `_healpix_29` index, the existing partition (order, pixel) containing it, or None."""
    found: list[Key | None] = [None] * len(healpix)
    by_order: dict[int, set[int]] = defaultdict(set)
    for order, pixel in keys:
        by_order[order].add(pixel)
    for order, pixels in by_order.items():
        pix = pixel_of(healpix, order)
        hits = np.flatnonzero(np.isin(pix, list(pixels)))
        for index in hits:
            found[index] = (order, int(pix[index]))
    return found


def place_new_sky(healpix: np.ndarray, existing: list[Key], max_rows: int) -> list[Key]:
    """Partitions for rows outside every existing partition: the lowest order at which a pixel holds at
    most `max_rows` of them and contains no existing partition (HATS partitions never overlap)."""
    placed: list[Key] = []
    pending = np.asarray(healpix, dtype=np.int64)
    for order in range(COUNT_ORDER + 1):
        if not len(pending):
            return placed
        pix = pixel_of(pending, order)
        pixels, inverse, counts = np.unique(pix, return_inverse=True, return_counts=True)
        blocked = {p >> (2 * (o - order)) for o, p in existing if o > order}
        ok = (counts <= max_rows) & ~np.isin(pixels, list(blocked))
        placed += [(order, int(p)) for p in pixels[ok]]
        pending = pending[~ok[inverse]]
    if len(pending):
        raise InputError("<positions>", f"more than {max_rows} new rows share one HEALPix pixel at order {COUNT_ORDER}")
    return placed


def _same(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Elementwise equality with nulls equal to nulls."""
    if left.dtype.kind == "f" and right.dtype.kind == "f":  # bands and redshifts: no object round trip
        a, b = left.to_numpy(), right.to_numpy()
        return (a == b) | (np.isnan(a) & np.isnan(b))
    left_na, right_na = left.isna().to_numpy(), right.isna().to_numpy()
    both = ~left_na & ~right_na  # compared only where both are values (pd.NA has no truth value)
    equal = np.zeros(len(left), dtype=bool)
    equal[both] = (left.to_numpy(dtype=object)[both] == right.to_numpy(dtype=object)[both]).astype(bool)
    return equal | (left_na & right_na)


def store_dtypes(store: Store, added: list[str], given: dict[str, object] | None = None) -> dict[str, object]:
    """pandas dtypes of the store's columns after the update: float32 bands, string input_id, and the dtypes
    `given` by the update for its other new columns (a position match's id, separation and counts)."""
    dtypes = dict(store.schema.empty_table().to_pandas().dtypes)
    for item in store.schema:  # integer columns that may hold nulls (a match's counts) read back as nullable
        if pa.types.is_integer(item.type) and item.name != HEALPIX_29:
            dtypes[item.name] = f"Int{item.type.bit_width}"
    for name in added:
        dtypes[name] = "string" if name == INPUT_ID else (given or {}).get(name, "float32")
    return dtypes


def _null_of(dtype: object) -> object:
    """The null a new column of `dtype` starts with."""
    return pd.NA if str(dtype) == "string" or str(dtype).startswith(("Int", "UInt", "boolean")) else np.nan


def conform_rows(frame: pd.DataFrame, columns: list[str], dtypes: dict[str, object]) -> pd.DataFrame:
    """`frame` with exactly `columns` in order and the store's dtypes; absent columns as nulls."""
    out = {}
    for name in columns:
        if name in frame.columns:
            out[name] = frame[name].astype(dtypes[name])
        else:
            out[name] = pd.Series(_null_of(dtypes[name]), index=frame.index).astype(dtypes[name])
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def plan_sources(store: Store, update: UpdateInput, max_rows: int) -> SourcePlan:
    """Compare the update's rows with the store's and decide where every new or changed row goes."""
    if not store.has_positions:
        raise NepagnError(f"{store.path}: a store ingested without positions cannot be updated by sky partition")
    added = [name for name in update.carried if name not in store.columns]
    if INPUT_ID not in store.columns:
        added.append(INPUT_ID)
    columns = store.columns + added
    dtypes = store_dtypes(store, added, update.dtypes)
    plan = SourcePlan(columns, dtypes, added_columns=added,
                      column_meta={k: v for k, v in update.column_meta.items() if k in added})
    plan.base_input_id = f"{store.properties.get('nepagn_input', 'base')}@base"
    rows = update.rows.copy()
    rows[SOURCE_ID] = rows[SOURCE_ID].astype(str)
    located = locate_sources(store)
    known = rows[SOURCE_ID].isin(located.index).to_numpy()
    if not update.has_positions and (~known).any():
        example = rows.loc[~known, SOURCE_ID].iloc[0]
        raise InputError(
            update.path,
            f"source ids not in the store (e.g. {example!r}) and the column map gives no position: a positionless "
            "update can only change stored sources",
            column=SOURCE_ID,
            rows=int((~known).sum()),
        )
    new_rows = conform_rows(rows[~known], columns, dtypes)
    changed_rows, removals = _changed_existing(store, rows[known], located, update, columns, dtypes)
    plan.unchanged = int(known.sum()) - len(changed_rows)
    plan.new_ids = new_rows[SOURCE_ID].tolist()
    plan.updated_ids = changed_rows[SOURCE_ID].tolist()
    plan.removals = removals
    incoming = pd.concat([new_rows, changed_rows], ignore_index=True)
    if not len(incoming):
        return plan
    incoming[INPUT_ID] = pd.Series(update.input_id, index=incoming.index, dtype="string")
    _assign_targets(plan, store, incoming, max_rows)
    log.info("plan: %d new, %d updated, %d unchanged rows; %d partitions touched", len(plan.new_ids),
             len(plan.updated_ids), plan.unchanged, len(plan.touched))
    return plan


def _changed_existing(store, rows, located, update, columns, dtypes) -> tuple[pd.DataFrame, dict[Key, set[str]]]:
    """Stored rows with the update's carried columns replaced, kept only where something differs."""
    if not len(rows):
        return conform_rows(rows, columns, dtypes), {}
    where = located.loc[rows[SOURCE_ID].to_numpy()]
    by_partition = {(p.order, p.pixel): p for p in store.partitions}
    changed, removals = [], {}
    for (order, pixel), ids in where.groupby(["order", "pixel"]).groups.items():
        key = (int(order), int(pixel))
        stored = store.read_partition(by_partition[key])
        stored[SOURCE_ID] = stored[SOURCE_ID].astype(str)
        stored = conform_rows(stored[stored[SOURCE_ID].isin(set(ids))], columns, dtypes).set_index(SOURCE_ID)
        incoming = rows[rows[SOURCE_ID].isin(set(ids))].set_index(SOURCE_ID).loc[stored.index]
        merged = stored.copy()
        for name in update.carried:
            if name != SOURCE_ID:
                value = incoming[name].astype(dtypes[name])
                if update.fill_nulls:  # a position match adds what the survey measured, never erases
                    value = value.where(value.notna(), stored[name])
                merged[name] = value.to_numpy()
        differs = np.zeros(len(merged), dtype=bool)
        for name in columns:
            if name not in (SOURCE_ID, INPUT_ID):
                differs |= ~_same(merged[name], stored[name])
        if differs.any():
            changed.append(merged[differs].reset_index())
            removals[key] = set(merged.index[differs])
    frame = pd.concat(changed, ignore_index=True) if changed else rows.iloc[:0]
    return conform_rows(frame, columns, dtypes), removals


def _assign_targets(plan: SourcePlan, store: Store, incoming: pd.DataFrame, max_rows: int) -> None:
    """Group incoming rows by the partition that will hold them (new sky areas get new partitions)."""
    keys = [(p.order, p.pixel) for p in store.partitions]
    healpix = incoming[HEALPIX_29].to_numpy(dtype=np.int64)
    targets = containing_partition(healpix, keys)
    orphan = np.array([t is None for t in targets])
    if orphan.any():
        plan.new_partitions = place_new_sky(healpix[orphan], keys, max_rows)
        orphan_targets = containing_partition(healpix[orphan], plan.new_partitions)
        for row, target in zip(np.flatnonzero(orphan), orphan_targets, strict=True):
            targets[row] = target
    groups: dict[Key, list[int]] = defaultdict(list)
    for index, key in enumerate(targets):
        if key is None:  # cannot happen: place_new_sky gives every orphan a partition or raises InputError
            raise RuntimeError(f"incoming row {index} was given no partition")
        groups[key].append(index)
    plan.incoming = {key: incoming.iloc[indices].reset_index(drop=True) for key, indices in groups.items()}
