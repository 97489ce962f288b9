"""The per-partition work of build-catalogue, run on a Dask worker: read, preprocess, infer, merge, write.

Data flows once through each stage. The trained networks are loaded once per worker process
(cached by model-set id), not once per partition. Each output partition is written atomically,
then a small record beside it (the "done record") stores the key it was built with: a resumed
build reuses the partition only if the key and the file's SHA-256 still match.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nepagn.domain import IN_LABELLED_DOMAIN
from nepagn.files import sha256_file, write_text_atomic
from nepagn.pipeline.catalogue_schema import catalogue_columns
from nepagn.pipeline.merge import merge_partition
from nepagn.pipeline.summary import partition_counts
from nepagn.preprocess import TO_CLASSIFY, PreprocessConfig, preprocess
from nepagn.schema import column_metadata
from nepagn.store import PROPERTIES, PartitionInfo, Store, open_store, write_partition

log = logging.getLogger(__name__)

_MODEL_SETS: dict[str, Any] = {}
_MODEL_SETS_LOCK = threading.Lock()
_LOADS: dict[str, int] = {}
_STORES: dict[tuple[str, int], Store] = {}


@dataclass(frozen=True)
class PartitionJob:
    """Everything a worker needs to build one output partition (small, pickled to the worker)."""

    store_path: str
    order: int
    pixel: int
    partition_hash: str
    out_root: str
    done_dir: str
    key: str
    modeldir: str
    model_set_id: str
    run_id: str
    preprocess: dict[str, Any]
    with_truth: bool
    summary_band: str | None = None  # registry band id of the summary's magnitude bins (None: no bins)


def model_set_for(modeldir: str, model_set_id: str):
    """The ModelSet of `modeldir`, loaded at most once per process and model-set id."""
    with _MODEL_SETS_LOCK:
        if model_set_id not in _MODEL_SETS:
            from nepagn.cluster import import_tensorflow_quietly

            import_tensorflow_quietly()  # before nepagn.model.inference imports Keras: no start-up lines shown
            from nepagn.model.inference import ModelSet

            model_set = ModelSet.load(modeldir)
            if model_set.model_set_id != model_set_id:
                raise RuntimeError(
                    f"{modeldir}: model set id {model_set.model_set_id} differs from the build's {model_set_id}; "
                    "the model directory changed during the build"
                )
            _MODEL_SETS[model_set_id] = model_set
            _LOADS[model_set_id] = _LOADS.get(model_set_id, 0) + 1
            log.info("loaded model set %s from %s", model_set_id, modeldir)
        return _MODEL_SETS[model_set_id]


def model_loads() -> dict[str, int]:
    """How many times this process loaded each model set (1 each when the cache works)."""
    return dict(_LOADS)


def done_record_path(done_dir: str | Path, order: int, pixel: int) -> Path:
    """Where the done record of output partition (order, pixel) lives."""
    return Path(done_dir) / f"Norder={order}_Npix={pixel}.json"


def read_done_record(done_dir: str | Path, order: int, pixel: int) -> dict[str, Any] | None:
    """The done record of a partition, or None if absent or unreadable."""
    path = done_record_path(done_dir, order, pixel)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def reusable(record: dict[str, Any] | None, key: str, out_root: str | Path) -> bool:
    """True if a done record was made with `key` and its output file under `out_root` is intact (same SHA-256)."""
    if record is None or record.get("key") != key:
        return False
    path = Path(out_root) / record["path"]
    return path.is_file() and sha256_file(path) == record["sha256"]


def build_partition(job: PartitionJob) -> dict[str, Any]:
    """Build one output partition on a worker; returns its done record (incl. summary counts)."""
    store = _store(job.store_path)
    partition = _find_partition(store.partitions, job.order, job.pixel, job.store_path)
    if store.partition_hash(partition) != job.partition_hash:
        raise RuntimeError(f"{partition.path}: input partition changed since the build started")
    frame = store.read_partition(partition)
    model_set = model_set_for(job.modeldir, job.model_set_id)
    models = list(model_set.names)

    prepared = preprocess(frame, PreprocessConfig.from_mapping(job.preprocess))
    selected = prepared[prepared[TO_CLASSIFY].to_numpy(dtype=bool)]
    predictions = model_set.predict_proba(selected) if len(selected) else None
    if predictions is not None:
        predictions.index = selected.index
        # older model sets recorded no domain: those columns stay null (and their agn_reliable does not use it)
        domain = model_set.domain.diagnose(selected) if model_set.domain is not None else None
        in_domain = None if domain is None else domain[IN_LABELLED_DOMAIN].to_numpy(dtype=bool, na_value=False)
        predictions = predictions.join(model_set.decision.decide(predictions, models, in_domain))  # the set's rule
        if domain is not None:
            predictions = predictions.join(domain)
    # with_std: ModelSet.predict_proba always gives score_agn_<name>_std (the spread over a model's members)
    columns = catalogue_columns(models, with_std=True, with_truth=job.with_truth, calibration=model_set.calibration,
                                decision=model_set.decision)
    catalogue = merge_partition(prepared, predictions, models, job.run_id, job.model_set_id, columns)
    if len(catalogue) != len(frame):
        raise RuntimeError(f"partition {job.order}/{job.pixel}: {len(frame)} rows in, {len(catalogue)} out")
    path = write_partition(Path(job.out_root), job.order, job.pixel, catalogue, column_metadata(columns))
    record = {
        "order": job.order,
        "pixel": job.pixel,
        "key": job.key,
        "path": str(path.relative_to(job.out_root)),  # relative: a moved OUTDIR still resumes
        "sha256": sha256_file(path),
        "rows": len(catalogue),
        "counts": partition_counts(catalogue, models, magnitudes=_summary_magnitudes(prepared, job.summary_band)),
    }
    write_text_atomic(done_record_path(job.done_dir, job.order, job.pixel), json.dumps(record))
    return record


def _summary_magnitudes(frame, band_id: str | None):
    """The summary band's magnitudes of the partition's rows (all NaN where the store lacks the band)."""
    import numpy as np

    if band_id is None:
        return None
    from nepagn.bands import mag_column

    column = mag_column(band_id)
    if column not in frame:
        return np.full(len(frame), np.nan)
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _store(path: str) -> Store:
    """The input store, opened once per process and version (a rewritten store has a new `properties` file)."""
    version = (path, (Path(path) / PROPERTIES).stat().st_mtime_ns)
    with _MODEL_SETS_LOCK:
        if version not in _STORES:
            _STORES[version] = open_store(path)
        return _STORES[version]


def _find_partition(partitions: list[PartitionInfo], order: int, pixel: int, store_path: str) -> PartitionInfo:
    for partition in partitions:
        if partition.order == order and partition.pixel == pixel:
            return partition
    raise RuntimeError(f"{store_path}: partition Norder={order} Npix={pixel} not in the store")


TASK_RETRIES = 2


def run_partition_jobs(client, jobs: list[PartitionJob], progress: bool, key_prefix: str) -> list[dict[str, Any]]:
    """build_partition for each job on the cluster (Dask retries lost or failed tasks); done records as they finish.

    The one runner of partition jobs, for build-catalogue and for nepagn update alike.
    """
    from nepagn.tasks import run_tasks

    keys = [f"{key_prefix}-{job.order}-{job.pixel}-{job.key[:12]}" for job in jobs]
    return run_tasks(client, build_partition, jobs, description="classifying partitions", unit="part",
                     progress=progress, retries=TASK_RETRIES, keys=keys)
