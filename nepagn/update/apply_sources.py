"""Write the updated store as a staged copy beside the live one, then swap it in.

Untouched partitions are hard-linked (no copy, no rewrite); touched ones are rewritten by one
Dask task each, and split into child pixels when they grow past the store's row threshold. The
staged store is finalized (HATS `properties` last) before the swap; the swap is two renames with
a journal, so an interrupted swap is rolled back or completed by the next run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nepagn.errors import NepagnError
from nepagn.files import make_public, write_text_atomic
from nepagn.ingest import DEFAULT_MAX_ROWS, spatial_alignment
from nepagn.schema import HEALPIX_29, SOURCE_ID
from nepagn.store import Store, finalize_store, partition_path, pixel_of, write_partition
from nepagn.tasks import run_tasks
from nepagn.update.plan import INPUT_ID, Key, SourcePlan, conform_rows

log = logging.getLogger(__name__)

INPUTS_FILE = "nepagn_inputs.json"
EXTRA_BANDS_FILE = "nepagn_bands.csv"
SIDECAR_DIRS = ("nepagn_crossmatch",)  # folders of per-update records kept with the store (position-match tables)


@dataclass(frozen=True)
class PartitionRewrite:
    """One partition of the staged store to write: its old file (if any), rows leaving, rows arriving."""

    order: int
    pixel: int
    source: str | None
    remove: frozenset
    incoming: pd.DataFrame | None
    columns: list
    dtypes: dict
    base_input_id: str
    stage: str
    max_rows: int
    column_meta: dict | None = None


@dataclass
class StagedStore:
    """A finalized updated store beside the live one, and which partitions it rewrote or split."""

    path: Path
    rewritten: list[Key] = field(default_factory=list)
    linked: list[Key] = field(default_factory=list)
    splits: dict[str, list[Key]] = field(default_factory=dict)


def max_rows_of(store: Store) -> int:
    """The store's partition row threshold (`hats_max_rows` as ingest set it)."""
    return int(store.properties.get("hats_max_rows", DEFAULT_MAX_ROWS))


def rewrite_partition(job: PartitionRewrite) -> list[tuple[int, int, int]]:
    """Merge one partition's rows and write it (split into children when over the threshold); runs on a worker."""
    if job.source is not None:
        frame = pd.read_parquet(job.source)
        if INPUT_ID not in frame.columns:
            frame[INPUT_ID] = job.base_input_id
        if job.remove:
            frame = frame[~frame[SOURCE_ID].astype(str).isin(job.remove)]
        frame = conform_rows(frame, job.columns, job.dtypes)
    else:
        frame = conform_rows(pd.DataFrame(columns=job.columns), job.columns, job.dtypes)
    if job.incoming is not None and len(job.incoming):
        frame = pd.concat([frame, conform_rows(job.incoming, job.columns, job.dtypes)], ignore_index=True)
    stage = Path(job.stage)
    if len(frame) <= job.max_rows:
        write_partition(stage, job.order, job.pixel, frame, job.column_meta)
        return [(job.order, job.pixel, len(frame))]
    children = spatial_alignment(frame[HEALPIX_29].to_numpy(), job.max_rows)
    written = []
    for order, pixel, _ in children:
        inside = pixel_of(frame[HEALPIX_29].to_numpy(), order) == pixel
        write_partition(stage, order, pixel, frame[inside], job.column_meta)
        written.append((order, pixel, int(inside.sum())))
    log.info("partition %d/%d grew to %d rows: split into %d", job.order, job.pixel, len(frame), len(children))
    return written


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (copy where the file system cannot link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def carry_sidecars(source: Path, stage: Path) -> None:
    """Hard-link the store's per-update record folders (SIDECAR_DIRS) into the staged store."""
    for name in SIDECAR_DIRS:
        folder = source / name
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file() and not path.name.startswith("."):
                    link_or_copy(path, stage / name / path.name)


def stage_store(store: Store, plan: SourcePlan, client, inputs_record: list[dict], extra_bands: str | None,
                progress: bool = False, extra_files: dict[str, bytes] | None = None) -> StagedStore:
    """Write the updated store at a staged path beside `store` and finalize it; the live store is not touched.

    `extra_files` (path relative to the store: content) are written into the staged store, e.g. the
    position-match table of a crossmatch update; earlier ones (SIDECAR_DIRS) are carried over.
    """
    stage = store.path.parent / f".{store.path.name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    staged = StagedStore(stage)
    try:
        max_rows = max_rows_of(store)
        jobs = []
        for partition in store.partitions:
            key = (partition.order, partition.pixel)
            if key in plan.touched or plan.schema_changed:
                jobs.append(PartitionRewrite(partition.order, partition.pixel, str(partition.path),
                                             frozenset(plan.removals.get(key, ())), plan.incoming.get(key),
                                             plan.columns, plan.dtypes, plan.base_input_id, str(stage), max_rows,
                                             plan.column_meta or None))
            else:
                link_or_copy(partition.path, partition_path(stage, *key))
                staged.linked.append(key)
        for key in plan.new_partitions:
            jobs.append(PartitionRewrite(*key, None, frozenset(), plan.incoming.get(key), plan.columns, plan.dtypes,
                                         plan.base_input_id, str(stage), max_rows, plan.column_meta or None))
        results = run_tasks(client, rewrite_partition, jobs, description="rewrite store partitions", unit="part",
                            progress=progress, items_carry_data=True)  # a job carries its incoming rows
        final = list(staged.linked)
        for job, written in zip(jobs, results, strict=True):
            keys = [(order, pixel) for order, pixel, _ in written]
            final += keys
            staged.rewritten += keys
            if keys != [(job.order, job.pixel)]:
                staged.splits[f"{job.order}/{job.pixel}"] = keys
        properties: dict[str, str | int] = {k: v for k, v in store.properties.items() if k.startswith("nepagn_")}
        properties["hats_max_rows"] = max_rows
        write_text_atomic(stage / INPUTS_FILE, json.dumps(inputs_record, indent=2) + "\n")
        carry_sidecars(store.path, stage)
        for relative, content in (extra_files or {}).items():
            target = stage / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            make_public(target)
        if extra_bands:
            write_text_atomic(stage / EXTRA_BANDS_FILE, extra_bands)
            properties["nepagn_extra_bands"] = EXTRA_BANDS_FILE
        finalize_store(stage, store.properties.get("obs_collection", "nepagn"), extra_properties=properties,
                       partitions=final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return staged


def read_inputs_record(store_path: Path) -> list[dict]:
    """The list of inputs applied to a store by `nepagn update` (empty for a freshly ingested store)."""
    path = Path(store_path) / INPUTS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _journal(store_path: Path) -> Path:
    return store_path.parent / f".{store_path.name}.swap-journal.json"


def previous_stores_dir(store_path: Path) -> Path:
    """Where the store versions replaced by updates are kept until pruned."""
    return store_path.parent / f"{store_path.name}.previous"


def swap_in(store_path: Path, staged: Path, label: str) -> Path:
    """Replace the live store by the staged one; the old one moves to STORE.previous/<label>. Returns its path."""
    keep = previous_stores_dir(store_path) / label
    keep.parent.mkdir(exist_ok=True)
    if keep.exists():
        shutil.rmtree(keep)
    journal = _journal(store_path)
    write_text_atomic(journal, json.dumps({"previous": str(keep), "staged": str(staged)}))
    os.rename(store_path, keep)
    os.rename(staged, store_path)
    journal.unlink()
    return keep


def recover_swap(store_path: Path) -> None:
    """Finish or roll back a store swap that was interrupted between its two renames."""
    journal = _journal(store_path)
    if not journal.is_file():
        return
    record = json.loads(journal.read_text())
    previous, staged = Path(record["previous"]), Path(record["staged"])
    if not store_path.exists():
        if not previous.exists():
            raise NepagnError(f"{store_path}: store missing and no previous version at {previous} to restore")
        os.rename(previous, store_path)
        log.warning("restored %s after an interrupted update", store_path)
    shutil.rmtree(staged, ignore_errors=True)
    journal.unlink()


def remove_stale_staging(store_path: Path) -> None:
    """Remove staged stores left behind by updates that failed before their swap."""
    for path in store_path.parent.glob(f".{store_path.name}.staging-*"):
        shutil.rmtree(path, ignore_errors=True)
