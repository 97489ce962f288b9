"""Ingest any catalogue into a HATS store: column map, validation, adaptive HEALPix partitioning.

Two passes, each a set of Dask tasks (or a plain loop without a client), never the whole input in
one process. (1) Map: each input chunk is converted to the canonical schema, checked, and its
good rows written to an uncompressed Arrow IPC scratch file sorted by `_healpix_29`; only ids and
spatial indices return. The client finds duplicate ids across chunks and chooses the partitions
(top-down: the lowest HEALPix order at which a pixel holds at most `max_rows_per_partition`
rows, as hats-import does). (2) Reduce: each partition memory-maps the scratch files, slices its
index range out of each (binary search, so only its own rows are read) and is written
atomically; `finalize_store` writes `properties` last. Rows that fail a check make the ingest
fail (file, column, rows affected) unless a quarantine file is given, which then receives them
with a `reason`; every input row ends either in the store or in the quarantine.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nepagn.columnmap import ColumnMap
from nepagn.errors import InputError, NepagnError
from nepagn.files import atomic_path
from nepagn.readers import Chunk, input_columns, plan_chunks, read_chunk
from nepagn.schema import HEALPIX_29, SOURCE_ID
from nepagn.store import (
    DATASET,
    PARTITION_INFO,
    SPATIAL_INDEX_ORDER,
    finalize_store,
    mark_incomplete,
    pixel_of,
    spatial_index,
    write_partition_table,
)
from nepagn.tasks import run_tasks
from nepagn.validation import RowProblem, check_rows, reasons

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 25_000
COUNT_ORDER = 20  # order at which rows are counted before merging up (pixels of ~0.04 arcmin^2)
CHUNK_ROWS = 50_000
INPUT_ROW = "input_row"
REASON = "reason"
_CHUNK_ROW = "_chunk_row"
_SCRATCH = "_ingest_scratch"


@dataclass
class IngestReport:
    """What an ingest did: rows read, written and quarantined, partitions, and the problems found."""

    input_path: Path
    store_path: Path
    rows_read: int
    rows_written: int
    rows_quarantined: int
    partitions: int
    orders: dict[int, int]
    problems: list[tuple[str, str, int]] = field(default_factory=list)
    quarantine_path: Path | None = None
    positions: bool = True
    seconds: float = 0.0

    def summary(self) -> str:
        """A few human-readable lines for the CLI."""
        lines = [
            f"ingested {self.input_path} -> {self.store_path}: {self.rows_read} rows read, "
            f"{self.rows_written} written in {self.partitions} partitions "
            f"(orders {dict(sorted(self.orders.items()))}), {self.seconds:.1f} s",
        ]
        if not self.positions:
            lines.append("no positions in the input: ra/dec are null and _healpix_29 is a row-sequence placeholder")
        if self.rows_quarantined:
            lines.append(f"{self.rows_quarantined} rows quarantined to {self.quarantine_path}:")
            lines += [f"  column {column!r}: {problem} ({_rows(rows)})" for column, problem, rows in self.problems]
        return "\n".join(lines)


@dataclass
class _ChunkResult:
    index: int
    n_rows: int
    ids: np.ndarray
    healpix: np.ndarray
    failed: pd.DataFrame
    problems: list[tuple[str, str, int]]
    scratch: Path | None


def _map_chunk(chunk: Chunk, cmap: ColumnMap, columns: list[str], scratch_dir: Path) -> _ChunkResult:
    """Pass 1 on one chunk: convert, check, write the good rows to a scratch file; return ids and indices."""
    raw = read_chunk(chunk, columns)
    frame, problems = cmap.convert(raw, chunk.path)
    problems += check_rows(frame, positions=cmap.has_positions, duplicates=False)
    bad = np.zeros(len(frame), dtype=bool)
    for problem in problems:
        bad |= problem.rows
    frame[_CHUNK_ROW] = np.arange(len(frame), dtype=np.int64)
    failed = frame[bad].copy()
    failed[REASON] = reasons(problems, len(frame))[bad].to_numpy()
    good = frame[~bad]
    if cmap.has_positions:
        good = good.assign(**{HEALPIX_29: spatial_index(good["ra"].to_numpy(), good["dec"].to_numpy())})
        good = good.sort_values(HEALPIX_29, kind="stable")
    else:
        good = good.assign(**{HEALPIX_29: np.zeros(len(good), dtype=np.int64)})
    scratch = None
    if len(good):
        scratch = scratch_dir / f"chunk-{chunk.index:06d}.arrow"
        _write_scratch(scratch, pa.Table.from_pandas(good, preserve_index=False))
    return _ChunkResult(
        chunk.index,
        len(frame),
        good[SOURCE_ID].to_numpy(dtype=object),
        good[HEALPIX_29].to_numpy(),
        failed,
        [(p.column, p.problem, p.count) for p in problems],
        scratch,
    )


def _write_scratch(path: Path, table: pa.Table) -> None:
    """Good rows of one chunk as an uncompressed Arrow IPC file: pass 2 memory-maps it and slices."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _open_scratch(path: Path, stack: ExitStack) -> pa.Table:
    """A scratch file as a zero-copy, memory-mapped table, valid while `stack` is open."""
    source = stack.enter_context(pa.memory_map(str(path), "r"))
    return pa.ipc.open_file(source).read_all()


def _rows_with_ids(path: Path, ids: frozenset) -> pd.DataFrame:
    """The rows of one scratch file whose source id is in `ids`."""
    with ExitStack() as stack:
        table = _open_scratch(path, stack)
        keep = pc.is_in(table[SOURCE_ID], value_set=pa.array(sorted(ids), pa.string()))
        return table.filter(keep).to_pandas()


def _without(table: pa.Table, duplicates: frozenset) -> pa.Table:
    """`table` without the rows whose source id is duplicated, and without the scratch row number."""
    if duplicates:
        keep = pc.invert(pc.is_in(table[SOURCE_ID], value_set=pa.array(sorted(duplicates), pa.string())))
        table = table.filter(keep)
    return table.drop_columns([_CHUNK_ROW])


def _reduce_partition(task: tuple[int, int, int], store: Path, files: list[Path], duplicates: frozenset) -> int:
    """Pass 2 on one spatial partition: slice its index range out of every (sorted) scratch file and write it."""
    order, pixel, expected = task
    shift = 2 * (SPATIAL_INDEX_ORDER - order)
    bounds = [pixel << shift, (pixel + 1) << shift]
    with ExitStack() as stack:
        parts = []
        for path in files:
            table = _open_scratch(path, stack)
            start, stop = np.searchsorted(table[HEALPIX_29].to_numpy(), bounds)
            if stop > start:
                parts.append(table.slice(start, stop - start))
        table = _without(pa.concat_tables(parts), duplicates) if parts else None
        rows = 0 if table is None else table.num_rows
        if rows != expected:
            raise NepagnError(f"{store}: partition {order}/{pixel} gathered {rows} rows, expected {expected}")
        write_partition_table(store, order, pixel, table)
    return rows


def _reduce_sequence(task: tuple[int, int, list[tuple[Path, int, int]]], store: Path, duplicates: frozenset) -> int:
    """Pass 2 for a positionless input: rows in input order, `_healpix_29` a row-sequence placeholder."""
    order, pixel, pieces = task
    with ExitStack() as stack:
        parts = [
            _without(_open_scratch(path, stack), duplicates).slice(start, stop - start) for path, start, stop in pieces
        ]
        table = pa.concat_tables(parts).drop_columns([HEALPIX_29])
        first = np.int64(pixel) << np.int64(2 * (SPATIAL_INDEX_ORDER - order))
        table = table.append_column(HEALPIX_29, pa.array(first + np.arange(table.num_rows, dtype=np.int64)))
        write_partition_table(store, order, pixel, table)
    return table.num_rows


def spatial_alignment(healpix_29: np.ndarray, max_rows: int) -> list[tuple[int, int, int]]:
    """Partitions (order, pixel, rows): the lowest order at which each occupied pixel holds <= max_rows rows."""
    pixels, counts = np.unique(pixel_of(healpix_29, COUNT_ORDER), return_counts=True)
    open_rows = np.ones(len(pixels), dtype=bool)
    partitions = []
    for order in range(COUNT_ORDER + 1):
        parents = pixels[open_rows] >> (2 * (COUNT_ORDER - order))
        parent, inverse = np.unique(parents, return_inverse=True)
        totals = np.bincount(inverse, weights=counts[open_rows]).astype(np.int64)
        small = totals <= max_rows
        partitions += [(order, int(p), int(n)) for p, n in zip(parent[small], totals[small], strict=True)]
        open_indices = np.flatnonzero(open_rows)
        open_rows[open_indices[small[inverse]]] = False
        if not open_rows.any():
            return partitions
    raise InputError(
        "<positions>",
        f"more than {max_rows} rows share one HEALPix pixel at order {COUNT_ORDER}; "
        "raise --max-rows-per-partition or check for repeated positions",
    )


def sequence_alignment(n_rows: int, max_rows: int) -> tuple[int, list[tuple[int, int]]]:
    """For positionless inputs: the lowest order with enough pixels, and (pixel, rows) blocks of the row sequence."""
    n_partitions = max(1, -(-n_rows // max_rows))
    order = 0
    while 12 * 4**order < n_partitions:
        order += 1
    return order, [(p, min(max_rows, n_rows - p * max_rows)) for p in range(n_partitions)]


def _write_quarantine(path: Path, frame: pd.DataFrame) -> None:
    """Failing rows with their reason, as Parquet or CSV (by suffix), written atomically."""
    with atomic_path(path) as temp:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame.to_parquet(temp, index=False)
        else:
            frame.to_csv(temp, index=False)


def check_output(store: str | Path, overwrite: bool) -> None:
    """NepagnError if `store` exists with content and `overwrite` is not set."""
    store = Path(store)
    if store.exists() and (not store.is_dir() or any(store.iterdir())) and not overwrite:
        raise NepagnError(f"{store}: output exists and is not empty; pass --overwrite to replace it")


def _prepare_store(store: Path, overwrite: bool) -> bool:
    """Check the output folder; returns whether this call created it."""
    check_output(store, overwrite)
    if store.exists() and any(store.iterdir()):
        return False
    created = not store.exists()
    store.mkdir(parents=True, exist_ok=True)
    return created


def _clear_store(store: Path) -> None:
    """Remove an old store's content (properties first, so it reads as incomplete from the start)."""
    mark_incomplete(store)
    shutil.rmtree(store / DATASET, ignore_errors=True)
    (store / PARTITION_INFO).unlink(missing_ok=True)


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


def _problem_summary(results: Iterable[_ChunkResult], duplicates: RowProblem | None) -> list[tuple[str, str, int]]:
    """Problems merged over chunks: (column, problem, rows), with the example of the first chunk that met each."""
    merged: dict[tuple[str, str], list] = {}
    for result in results:
        for column, problem, rows in result.problems:
            key = (column, problem.split(", e.g.")[0])
            if key in merged:
                merged[key][1] += rows
            else:
                merged[key] = [problem, rows]
    summary = [(column, problem, rows) for (column, _), (problem, rows) in merged.items()]
    if duplicates is not None:
        summary.append((duplicates.column, duplicates.problem, duplicates.count))
    return summary


def _failed_rows(
    results: list[_ChunkResult], offsets: np.ndarray, duplicates: RowProblem | None, duplicate_ids: frozenset
) -> pd.DataFrame:
    """Every failing row (checks failed in pass 1, and all rows of duplicated ids) with input_row and reason."""
    failed = []
    for result, offset in zip(results, offsets[:-1], strict=True):
        if len(result.failed):
            failed.append(result.failed.assign(**{INPUT_ROW: result.failed[_CHUNK_ROW] + offset}))
        if duplicate_ids and result.scratch is not None:
            dups = _rows_with_ids(result.scratch, duplicate_ids)
            assert duplicates is not None, "duplicate ids always come with their RowProblem"
            reason = f"column {SOURCE_ID!r}: {duplicates.problem}"
            if len(dups):
                failed.append(
                    dups.drop(columns=[HEALPIX_29]).assign(**{INPUT_ROW: dups[_CHUNK_ROW] + offset, REASON: reason})
                )
    if not failed:
        return pd.DataFrame()
    frame = pd.concat(failed, ignore_index=True).drop(columns=[_CHUNK_ROW]).sort_values(INPUT_ROW, ignore_index=True)
    return frame[[INPUT_ROW, REASON] + [c for c in frame.columns if c not in (INPUT_ROW, REASON)]]


def ingest(
    input_path: str | Path,
    cmap: ColumnMap,
    store_path: str | Path,
    max_rows_per_partition: int = DEFAULT_MAX_ROWS,
    client=None,
    quarantine_path: str | Path | None = None,
    *,
    overwrite: bool = False,
    catalog_name: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = False,
) -> IngestReport:
    """Ingest a catalogue file through its column map into a HATS store (see the module docstring).

    Parameters
    ----------
    input_path : str or Path
        The catalogue: FITS, Parquet (file or dataset), CSV or VOTable.
    cmap : ColumnMap
        Which input column is which canonical column (`ColumnMap.load(path)`).
    store_path : str or Path
        The store to write (HATS layout; LSDB opens it).
    max_rows_per_partition : int
        Largest HEALPix partition; denser sky is split to higher orders.
    client : distributed.Client, optional
        Where the chunks are read and the partitions written; None: in this process.
    quarantine_path : str or Path, optional
        Where rows failing validation go with their reason (Parquet or CSV by suffix); None: such rows
        are an error.
    overwrite, catalog_name, chunk_rows, progress
        Replace an existing store; the HATS catalogue name; input rows per read task; a progress bar.

    Returns
    -------
    IngestReport
        Rows read, written and quarantined, partitions and the problems found.

    Raises
    ------
    InputError
        A missing file or column, or rows failing validation without a quarantine: names the file, the
        column and the problem; nothing that reads as a complete store is left.
    """
    started = time.perf_counter()
    input_path, store = Path(input_path), Path(store_path)
    quarantine = Path(quarantine_path) if quarantine_path is not None else None
    if max_rows_per_partition < 1:
        raise NepagnError(f"max_rows_per_partition must be positive, got {max_rows_per_partition}")
    if not input_path.exists():
        raise InputError(input_path, "input not found")
    available = input_columns(input_path)
    cmap.check_columns(available, input_path)
    columns = cmap.input_columns(available)
    chunks = plan_chunks(input_path, chunk_rows=chunk_rows)
    created = _prepare_store(store, overwrite)
    scratch = store / f"{_SCRATCH}-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        results = run_tasks(client, partial(_map_chunk, cmap=cmap, columns=columns, scratch_dir=scratch), chunks,
                            description="read+check", progress=progress)
        results.sort(key=lambda result: result.index)
        offsets = np.concatenate([[0], np.cumsum([r.n_rows for r in results])])
        rows_read = int(offsets[-1])
        ids = pd.Series(np.concatenate([r.ids for r in results]) if results else [], dtype=object)
        duplicated = ids.duplicated(keep=False).to_numpy()
        duplicate_ids = frozenset(ids[duplicated])
        duplicates = None
        if duplicated.any():
            duplicates = RowProblem(SOURCE_ID, f"duplicate source ids, e.g. {next(iter(duplicate_ids))!r}", duplicated)
        problems = _problem_summary(results, duplicates)
        if problems and quarantine is None:
            column, problem, rows = problems[0]
            more = "; ".join(f"column {c!r}: {p} ({_rows(n)})" for c, p, n in problems[1:])
            hint = "pass --quarantine FILE to write failing rows aside with their reasons"
            more = f"also {more}; {hint}" if more else hint
            raise InputError(input_path, problem, column=column, rows=rows, more=more)
        failed = _failed_rows(results, offsets, duplicates, duplicate_ids)
        rows_quarantined = len(failed)
        if rows_quarantined:
            assert quarantine is not None, "failing rows without a quarantine were raised as problems above"
            _write_quarantine(quarantine, failed)
            log.warning("%d rows quarantined to %s", rows_quarantined, quarantine)
        files = [r.scratch for r in results if r.scratch is not None]
        keep = ~duplicated
        healpix = np.concatenate([r.healpix for r in results])[keep] if results else np.array([], dtype=np.int64)
        if len(healpix) == 0:
            raise InputError(input_path, "no row passed validation; nothing to ingest", rows=rows_read)
        _clear_store(store)
        if cmap.has_positions:
            alignment = spatial_alignment(healpix, max_rows_per_partition)
            written = run_tasks(client, partial(_reduce_partition, store=store, files=files, duplicates=duplicate_ids),
                                alignment, description="write partitions", progress=progress)
            keys = [(order, pixel) for order, pixel, _ in alignment]
        else:
            written, keys = _positionless(
                client, results, duplicated, store, max_rows_per_partition, duplicate_ids, progress
            )
        rows_written = int(sum(written))
        if rows_written + rows_quarantined != rows_read:
            raise NepagnError(
                f"{store}: row count not conserved: read {rows_read}, wrote {rows_written}, "
                f"quarantined {rows_quarantined}"
            )
        properties = {
            "hats_max_rows": max_rows_per_partition,
            "nepagn_positions": "sky" if cmap.has_positions else "none",
            "nepagn_column_map": cmap.name,
            "nepagn_input": input_path.name,
        }
        finalize_store(store, catalog_name or cmap.name, extra_properties=properties, partitions=keys)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if created:
            shutil.rmtree(store, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)
    orders: dict[int, int] = {}
    for order, _ in keys:
        orders[order] = orders.get(order, 0) + 1
    report = IngestReport(
        input_path=input_path,
        store_path=store,
        rows_read=rows_read,
        rows_written=rows_written,
        rows_quarantined=rows_quarantined,
        partitions=len(keys),
        orders=orders,
        problems=problems if rows_quarantined else [],
        quarantine_path=quarantine if rows_quarantined else None,
        positions=cmap.has_positions,
        seconds=time.perf_counter() - started,
    )
    log.info(report.summary())
    return report


def _positionless(
    client,
    results: list[_ChunkResult],
    duplicated: np.ndarray,
    store: Path,
    max_rows: int,
    duplicate_ids: frozenset,
    progress: bool,
) -> tuple[list[int], list[tuple[int, int]]]:
    """Pass 2 for inputs without positions: consecutive blocks of rows, in input order, one per pixel."""
    pieces_per_chunk = []  # (scratch file, rows kept) in input order
    start = 0
    for result in results:
        kept = int((~duplicated[start : start + len(result.ids)]).sum())
        start += len(result.ids)
        if result.scratch is not None and kept:
            pieces_per_chunk.append((result.scratch, kept))
    total = sum(kept for _, kept in pieces_per_chunk)
    order, blocks = sequence_alignment(total, max_rows)
    tasks, cursor = [], 0
    for pixel, size in blocks:
        pieces, begin, end, position = [], cursor, cursor + size, 0
        for path, kept in pieces_per_chunk:
            lo, hi = max(begin, position), min(end, position + kept)
            if lo < hi:
                pieces.append((path, lo - position, hi - position))
            position += kept
        tasks.append((order, pixel, pieces))
        cursor = end
    written = run_tasks(client, partial(_reduce_sequence, store=store, duplicates=duplicate_ids), tasks,
                        description="write partitions", progress=progress)
    return written, [(order, pixel) for pixel, _ in blocks]
