"""Turn a survey file read by position into an update keyed by the store's source_ids.

Matched survey sources become rows of their stored source (the survey's columns, its id, the separation
and both candidate counts); survey sources already attached by an earlier file of the same survey update
their row by id; unmatched ones become new rows (id `<survey>:<their id>`, flagged `origin_survey`) or are
left out. A null in the survey never erases a stored value (the update is applied with `fill_nulls`).
Every survey source, whatever its outcome, is listed in the match table kept with the store.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from nepagn.bands import load_registry
from nepagn.columnmap import ColumnMap
from nepagn.crossmatch.assign import MATCHED, RULE, UNMATCHED, Assignment, assign
from nepagn.crossmatch.options import ORIGIN_SURVEY, MatchColumns, MatchOptions
from nepagn.crossmatch.pairs import candidate_pairs
from nepagn.errors import InputError, NepagnError
from nepagn.schema import DEC, HEALPIX_29, LABEL, LABEL_SOURCE, RA, SOURCE_ID, band_columns, column_metadata
from nepagn.store import Store, spatial_index
from nepagn.update.apply_sources import SIDECAR_DIRS
from nepagn.update.inputs import UpdateInput

log = logging.getLogger(__name__)

MATCH_TABLE_DIR = SIDECAR_DIRS[0]
APPENDED, LEFT_OUT = "appended", "left_out"
ARCSEC = 1.0 / 3600.0


@dataclass
class PositionUpdate:
    """The survey file as an update by source_id, and the match table to keep beside the store."""

    update: UpdateInput
    table: pd.DataFrame
    table_path: str  # relative to the store
    record: dict[str, Any]


def corrected_positions(ra: np.ndarray, dec: np.ndarray, offset_arcsec: tuple[float, float]):
    """Survey positions with its systematic offset (east, north; survey minus store) removed."""
    east, north = offset_arcsec
    dec_new = np.asarray(dec, dtype=np.float64) - north * ARCSEC
    ra_new = np.asarray(ra, dtype=np.float64) - east * ARCSEC / np.cos(np.radians(dec_new))
    return np.mod(ra_new, 360.0), dec_new


def attached_ids(store: Store, columns: MatchColumns) -> tuple[dict[str, str], set[str]]:
    """survey id -> stored source_id for the rows already carrying this survey's id; and every stored source_id."""
    attached: dict[str, str] = {}
    every: set[str] = set()
    has = columns.id in store.columns
    for partition in store.partitions:
        table = pq.read_table(partition.path, columns=[SOURCE_ID] + ([columns.id] if has else []))
        ids = table.column(SOURCE_ID).to_pandas().astype(str)
        every.update(ids)
        if has:
            survey_ids = table.column(columns.id).to_pandas()
            carrying = survey_ids.notna().to_numpy()
            for survey_id, source_id in zip(survey_ids[carrying].astype(str), ids[carrying], strict=True):
                if survey_id in attached:
                    raise NepagnError(f"{store.path}: {columns.id} {survey_id!r} is carried by two stored sources "
                                      f"({attached[survey_id]!r}, {source_id!r})")
                attached[survey_id] = source_id
    return attached, every


def _band_meta(names: list[str]) -> dict[str, dict[str, str]]:
    known = column_metadata(band_columns(load_registry()))
    return {name: known[name] for name in names if name in known}


def position_update(store: Store, update: UpdateInput, options: MatchOptions, client, max_rows: int) -> PositionUpdate:
    """Match a survey file to the store by position and re-key its rows to stored source_ids (module doc).

    Parameters
    ----------
    store : Store
        The store before the update.
    update : UpdateInput
        The survey file as nepagn.update.inputs.read_update read it (its source_id is the survey's id).
    options : MatchOptions
        Radius, survey name (default: the column map's name), offset, unmatched sources.
    client : distributed.Client or None
        The cluster the crossmatch runs on.
    max_rows : int
        The store's partition threshold (also the survey's largest partition in the crossmatch).

    Returns
    -------
    PositionUpdate
        The update by source_id (applied with fill_nulls), the match table and where it goes in the store,
        and the run record.

    Raises
    ------
    InputError
        The column map gives no positions.
    NepagnError
        A new id for an unmatched source is taken by another stored source; a survey id on two stored rows.
    """
    if not update.has_positions:
        raise InputError(update.column_map, "a match by position needs ra and dec: map them in [columns]")
    survey = options.survey or ColumnMap.load(update.column_map).name
    if options.survey is None:
        options = options.with_survey(survey)
    columns = MatchColumns(survey)
    rows = update.rows.reset_index(drop=True)
    survey_ids = rows[SOURCE_ID].astype(str).to_numpy(dtype=object)
    ra, dec = corrected_positions(rows[RA].to_numpy(), rows[DEC].to_numpy(), options.offset_arcsec)
    attached, every = attached_ids(store, columns)
    is_attached = np.array([value in attached for value in survey_ids], dtype=bool)
    pairs = candidate_pairs(store.path, ra, dec, options.radius_arcsec, client, options.max_candidates, max_rows)
    result = assign(pairs, len(rows), is_attached, set(attached.values()), options.max_candidates)
    if result.truncated:
        log.warning("%d stored sources have %d or more %s sources within %g arcsec: their %s is a lower bound",
                    result.truncated, options.max_candidates, survey, options.radius_arcsec, columns.n_candidates)

    payload = [name for name in update.carried if name not in (SOURCE_ID, RA, DEC, HEALPIX_29)]
    append = options.unmatched == "append"
    new_ids = np.array([f"{survey}:{value}" for value in survey_ids], dtype=object)
    unmatched = result.outcome == UNMATCHED
    clash = sorted(set(new_ids[unmatched]) & every) if append else []
    clash = [value for value in clash if value not in attached.values()]
    if clash:
        raise NepagnError(f"{store.path}: source_id {clash[0]!r} for an unmatched {survey} source is already used by "
                          f"a stored source that does not carry {columns.id}; rename the survey (--survey)")

    frame = rows[payload].copy()
    # np.where(..., None) and lists holding None: numpy's stubs leave None out of ArrayLike, numpy takes it (object)
    frame[SOURCE_ID] = pd.array(np.where(is_attached, [attached.get(v) for v in survey_ids],  # type: ignore[arg-type]
                                         result.source_id), dtype="string")
    frame[columns.id] = pd.array(survey_ids, dtype="string")
    matched = result.outcome == MATCHED
    frame[columns.sep] = np.where(matched, result.sep_arcsec, np.nan)
    frame[columns.n_candidates] = pd.array(np.where(matched, result.n_candidates, 0), dtype="Int16")
    frame[columns.n_store_candidates] = pd.array(np.where(matched, result.n_store_candidates, 0), dtype="Int16")
    frame.loc[~matched, [columns.n_candidates, columns.n_store_candidates]] = pd.NA
    if LABEL in payload and LABEL_SOURCE not in payload:  # a label the survey gives says where it came from
        frame[LABEL_SOURCE] = pd.array(
            np.where(rows[LABEL].notna().to_numpy(), survey, None), dtype="string")  # type: ignore[call-overload]
        payload.append(LABEL_SOURCE)
    frame[RA], frame[DEC] = ra, dec
    frame[HEALPIX_29] = spatial_index(ra, dec)
    carried = [SOURCE_ID, *payload, *columns.names()]
    if append:
        frame.loc[unmatched, SOURCE_ID] = new_ids[unmatched]
        frame[ORIGIN_SURVEY] = pd.array(
            np.where(unmatched, survey, None), dtype="string")  # type: ignore[call-overload]
        carried.append(ORIGIN_SURVEY)
    keep = matched | is_attached | (unmatched & append)
    frame = frame[keep].reset_index(drop=True)

    table = match_table(columns, survey_ids, rows, ra, dec, result, new_ids if append else None)
    digest = update.sha256[:12]
    table_path = f"{MATCH_TABLE_DIR}/{survey}-{digest}.parquet"
    counts = {**result.counts, APPENDED: int((unmatched & append).sum()), LEFT_OUT: int((unmatched & ~append).sum())}
    record = {**options.record(), "rule": RULE, "counts": counts,
              "residual_offset_arcsec": result.residual_offset_arcsec,
              "candidates_truncated": result.truncated, "match_table": table_path,
              "columns": columns.names() + ([ORIGIN_SURVEY] if append else [])}
    log.info("%s by position within %g arcsec: %s", survey, options.radius_arcsec, counts)
    meta = {**columns.column_meta(), **_band_meta(payload)}
    position = replace(update, rows=frame[carried + [RA, DEC, HEALPIX_29]], carried=tuple(carried), fill_nulls=True,
                       dtypes=columns.dtypes(), column_meta=meta, crossmatch=record)
    return PositionUpdate(position, table, table_path, record)


def match_table(columns: MatchColumns, survey_ids: np.ndarray, rows: pd.DataFrame, ra: np.ndarray, dec: np.ndarray,
                result: Assignment, new_ids: np.ndarray | None) -> pd.DataFrame:
    """One row per survey source: its id and positions, outcome, the stored source it went to, separation,
    candidate counts and its nearest stored source within the radius."""
    outcome = result.outcome.copy()
    unmatched = outcome == UNMATCHED
    outcome[unmatched] = APPENDED if new_ids is not None else LEFT_OUT
    source_id = result.source_id.copy()
    if new_ids is not None:
        source_id[unmatched] = new_ids[unmatched]
    return pd.DataFrame({
        columns.id: pd.array(survey_ids, dtype="string"),
        "ra_survey": rows[RA].to_numpy(dtype=np.float64),
        "dec_survey": rows[DEC].to_numpy(dtype=np.float64),
        "ra_matched": ra,
        "dec_matched": dec,
        "outcome": pd.array(outcome, dtype="string"),
        SOURCE_ID: pd.array(source_id, dtype="string"),
        "sep_arcsec": result.sep_arcsec,
        "n_store_candidates": result.n_store_candidates.astype(np.int16),
        "n_candidates": result.n_candidates.astype(np.int16),
        "nearest_source_id": pd.array(result.nearest_source_id, dtype="string"),
        "nearest_sep_arcsec": result.nearest_sep_arcsec,
    })


def table_bytes(table: pd.DataFrame) -> bytes:
    """The match table as Parquet bytes."""
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()
