"""Build a new catalogue version: partitions whose inputs changed are re-inferred with the pipeline's own
per-partition task (nepagn.pipeline.partition_task.build_partition); the others are hard-linked from
the previous version.

What a catalogue partition depends on is hashed from content: the store columns the catalogue is made
of (core columns, `_healpix_29`, the model set's band columns, the mock truth), rows sorted by id. A new
band the models do not use, or the per-row `input_id` column, therefore makes nothing stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from nepagn.bands import err_column, mag_column
from nepagn.errors import NepagnError
from nepagn.files import partial_directory, publish_directory, sha256_file
from nepagn.model.manifest import Manifest
from nepagn.pipeline.catalogue_run import CATALOGUE_DIR, CatalogueRun, write_catalogue_files
from nepagn.pipeline.partition_task import read_done_record, run_partition_jobs
from nepagn.pipeline.provenance import (
    CATALOGUE_FORMAT_VERSION,
    Provenance,
    config_hash,
    utc_now,
)
from nepagn.pipeline.summary import add_counts, partition_counts
from nepagn.schema import CORE_COLUMNS, HEALPIX_29, SOURCE_ID, TRUE_CLASS
from nepagn.store import Store, open_store, partition_path
from nepagn.tasks import run_tasks
from nepagn.update.apply_sources import link_or_copy
from nepagn.update.versions import VERSIONS_DIR, version_name, version_path

log = logging.getLogger(__name__)



class UpdateInterrupted(NepagnError):
    """The update stopped before all stale partitions were rebuilt (as asked); nothing was committed."""


def dependency_columns(store_columns: list[str], band_ids: list[str]) -> list[str]:
    """The store columns a catalogue partition is computed from, for a model set using `band_ids`."""
    wanted = [column.name for column in CORE_COLUMNS] + [HEALPIX_29, TRUE_CLASS]
    for band in band_ids:
        wanted += [mag_column(band), err_column(band)]
    present = set(store_columns)
    return [name for name in wanted if name in present]


def dependency_hash(path: str | Path, columns: list[str]) -> str:
    """sha256 of the `columns` of one store partition, rows sorted by source_id (row order does not matter)."""
    frame = pq.read_table(path, columns=columns).to_pandas()
    frame = frame.sort_values(SOURCE_ID, kind="stable", ignore_index=True)
    digest = hashlib.sha256(json.dumps(columns).encode())
    for name in columns:
        values = frame[name]
        if values.dtype.kind == "f":
            digest.update(np.where(values.isna(), np.nan, values.to_numpy(dtype=np.float64)).tobytes())
        else:
            text = values.astype(object).where(values.notna(), None).to_numpy()
            digest.update(pd.util.hash_array(text.astype(object), categorize=False).tobytes())
    return digest.hexdigest()


def _hash_job(item: tuple[str, list[str]]) -> str:
    return dependency_hash(*item)


@dataclass
class VersionBuild:
    """A complete new catalogue version written at `path` (not yet committed), and what it recomputed."""

    number: int
    path: Path
    entry: dict[str, Any]
    computed: list[tuple[int, int]] = field(default_factory=list)
    reused: list[tuple[int, int]] = field(default_factory=list)


def partition_entries(store: Store, columns: list[str], previous: dict[str, Any] | None, client) -> dict[str, dict]:
    """Per store partition: file sha256 and dependency hash (taken from `previous` where the file is the same)."""
    known = {}
    for item in (previous or {}).get("partitions", {}).values():
        if item.get("store_sha256") and item.get("dep_hash") and item.get("dep_columns") == columns:
            known[item["store_sha256"]] = item["dep_hash"]
    entries, todo = {}, []
    for partition in store.partitions:
        sha = store.partition_hash(partition)
        key = f"{partition.order}/{partition.pixel}"
        entries[key] = {"order": partition.order, "pixel": partition.pixel, "store_sha256": sha,
                        "dep_hash": known.get(sha), "dep_columns": columns}
        if entries[key]["dep_hash"] is None:
            todo.append((key, str(partition.path)))
    hashes = run_tasks(client, _hash_job, [(path, columns) for _, path in todo], description="hashing partitions",
                       unit="part")
    for (key, _), digest in zip(todo, hashes, strict=True):
        entries[key]["dep_hash"] = digest
    return entries


def _reusable(previous: dict[str, Any], out_dir: Path, key: str, entry: dict, model_set_id: str, digest: str) -> bool:
    """True when the previous version built this partition from the same inputs, models and config, intact."""
    old = previous.get("partitions", {}).get(key)
    if old is None or old.get("dep_hash") != entry["dep_hash"]:
        return False
    if previous.get("model_set_id") != model_set_id or previous.get("config_hash") != digest:
        return False
    path = version_path(out_dir, previous) / old["file"]
    return path.is_file() and sha256_file(path) == old["sha256"]


def build_version(
    out_dir: Path,
    index: dict[str, Any],
    number: int,
    store_path: Path,
    final_store_path: Path,
    modeldir: Path,
    client,
    progress: bool = False,
    limit_partitions: int | None = None,
    applied: dict[str, Any] | None = None,
) -> VersionBuild:
    """Write catalogue version `number` from the store at `store_path` into a temporary directory; see module doc.

    `applied` describes the update file this version applies (recorded in provenance.json as input.update,
    with its position-match record where there is one).
    """
    previous = next(e for e in index["versions"] if e["version"] == index["current"])
    settings = index["settings"]
    run = CatalogueRun.prepare(store_path, modeldir, settings, f"catalogue version {number}")
    store, run_id, model_set_id = run.store, run.run_id, run.manifest.model_set_id
    entries = partition_entries(store, dependency_columns(store.columns, list(run.manifest.bands)), previous, client)

    partial = partial_directory(Path(out_dir) / VERSIONS_DIR / version_name(number))
    catalogue_root = partial / CATALOGUE_DIR
    done_dir = partial / ".done"
    done_dir.mkdir()
    build = VersionBuild(number, partial, {})
    try:
        jobs = []
        for partition in store.partitions:
            key = f"{partition.order}/{partition.pixel}"
            entry = entries[key]
            target = partition_path(catalogue_root, partition.order, partition.pixel)
            if _reusable(previous, out_dir, key, entry, model_set_id, run.config_digest):
                old = previous["partitions"][key]
                link_or_copy(version_path(out_dir, previous) / old["file"], target)
                entry.update({k: old[k] for k in ("sha256", "rows", "counts", "run_id")})
                build.reused.append((partition.order, partition.pixel))
                continue
            jobs.append(run.partition_job(partition, entry["dep_hash"], entry["store_sha256"], catalogue_root,
                                          done_dir))
        selected = jobs if limit_partitions is None else jobs[:limit_partitions]
        records = run_partition_jobs(client, selected, progress, key_prefix="update-partition")
        if len(selected) < len(jobs):
            raise UpdateInterrupted(
                f"{out_dir}: stopped after {len(selected)} of {len(jobs)} stale partitions as asked; "
                "nothing was committed (rerun the same update)"
            )
        for record in records:
            entry = entries[f"{record['order']}/{record['pixel']}"]
            entry.update({"sha256": record["sha256"], "rows": record["rows"], "counts": record["counts"],
                          "run_id": run_id})
            build.computed.append((record["order"], record["pixel"]))
        for entry in entries.values():
            entry["file"] = str(partition_path(CATALOGUE_DIR, entry["order"], entry["pixel"]))
        shutil.rmtree(done_dir)
        wanted = [(p.order, p.pixel) for p in store.partitions]
        rows_out = sum(entry["rows"] for entry in entries.values())
        if rows_out != store.num_rows:
            raise NepagnError(f"{partial}: {store.num_rows} sources in the store, {rows_out} catalogue rows")
        summary = run.summary(add_counts(entry["counts"] for entry in entries.values()), catalogue_root, wanted)
        provenance = Provenance(
            run_id=run_id, model_set_id=model_set_id, config_hash=run.config_digest,
            input={"store": str(Path(final_store_path).resolve()), "snapshot_id": store.snapshot_id,
                   "rows": store.num_rows, "partitions": len(wanted), "catalogue_version": number,
                   **({"update": applied} if applied else {})},
            column_map=None, models=run.models_record(), configs={"pipeline": settings}, started_utc=utc_now(),
            execution={"partitions_total": len(wanted), "partitions_computed": [list(k) for k in build.computed],
                       "partitions_reused": [list(k) for k in build.reused]},
        )
        provenance.finished_utc = utc_now()
        write_catalogue_files(partial, run, wanted, provenance, summary,
                              index.get("catalogue_name", "nepagn_agn_sfg"),
                              {"ORIGIN": "nepagn update", "CATVERS": number}, {"nepagn_catalogue_version": number})
        build.entry = {
            "version": number, "path": f"{VERSIONS_DIR}/{version_name(number)}", "run_id": run_id,
            "model_set_id": model_set_id, "config_hash": run.config_digest, "created_utc": utc_now(),
            "store": {"path": str(Path(final_store_path).resolve()), "snapshot_id": store.snapshot_id,
                      "rows": store.num_rows},
            "models": {"modeldir": str(run.modeldir), "labels_hash": run.manifest.labels_hash},
            "partitions_computed": [list(k) for k in build.computed],
            "partitions_reused": [list(k) for k in build.reused],
            "partitions": entries,
        }
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return build


def publish(build: VersionBuild, out_dir: Path) -> None:
    """Move a complete version directory to its final name (still unlisted until the index commits it)."""
    build.path = publish_directory(build.path, Path(out_dir) / build.entry["path"])


def bootstrap_index(out_dir: Path, store_path: Path, client) -> dict[str, Any]:
    """Version 0: the catalogue `nepagn build-catalogue` wrote into OUTDIR, described as the first index entry."""
    out_dir = Path(out_dir)
    provenance_path = out_dir / "provenance.json"
    if not provenance_path.is_file():
        raise NepagnError(
            f"{out_dir}: no complete catalogue there (no provenance.json); build one first with "
            f"`nepagn build-catalogue --store {store_path} --models MODELDIR --out {out_dir}`"
        )
    provenance = json.loads(provenance_path.read_text())
    catalogue = open_store(out_dir / CATALOGUE_DIR)
    store = open_store(store_path)
    modeldir = Path(provenance["models"]["modeldir"])
    manifest = Manifest.read(modeldir)
    settings = provenance["configs"]["pipeline"]
    same_store = store.snapshot_id == provenance["input"].get("snapshot_id")
    if not same_store:
        log.warning("%s changed since %s was built: every catalogue partition will be recomputed", store_path, out_dir)
    built_format = provenance.get("catalogue_format_version")
    same_format = built_format == CATALOGUE_FORMAT_VERSION
    if not same_format:
        log.warning("%s was built with catalogue format %s, this nepagn writes format %s: every catalogue partition "
                    "will be recomputed", out_dir, built_format, CATALOGUE_FORMAT_VERSION)
    dep_columns = dependency_columns(store.columns, list(manifest.bands))
    entries = partition_entries(store, dep_columns, None, client) if same_store else {}
    models = list(manifest.names)
    for partition in catalogue.partitions:
        key = f"{partition.order}/{partition.pixel}"
        record = read_done_record(out_dir / ".build" / "done", partition.order, partition.pixel) or {}
        counts = record.get("counts") or partition_counts(catalogue.read_partition(partition), models)
        entry = entries.setdefault(key, {"order": partition.order, "pixel": partition.pixel, "dep_hash": None})
        entry.update({"file": str(partition.path.relative_to(out_dir)), "sha256": sha256_file(partition.path),
                      "rows": partition.num_rows, "counts": counts, "run_id": provenance["run_id"]})
    base = {
        "version": 0, "path": ".", "run_id": provenance["run_id"], "model_set_id": provenance["model_set_id"],
        "config_hash": provenance["config_hash"], "created_utc": provenance.get("finished_utc"),
        "store": {"path": str(Path(store_path).resolve()), "snapshot_id": provenance["input"].get("snapshot_id"),
                  "rows": provenance["input"].get("rows")},
        "models": {"modeldir": str(modeldir), "labels_hash": manifest.labels_hash},
        "inputs": [{"input_id": f"{store.properties.get('nepagn_input', 'base')}@base", "store": str(store_path)}],
        "partitions": {k: v for k, v in entries.items() if "file" in v},
    }
    if same_format and config_hash(settings) != provenance["config_hash"]:
        raise NepagnError(f"{provenance_path}: recorded pipeline settings do not match its config hash")
    return {"format": "nepagn-catalogue-versions/1", "current": 0, "settings": settings,
            "catalogue_name": catalogue.properties.get("obs_collection", "nepagn_agn_sfg"), "versions": [base]}
