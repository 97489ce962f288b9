"""Orchestration of build-catalogue: one Dask task per input partition, resume, merge into the outputs.

OUTDIR layout:
  catalogue/            HATS store of the public catalogue (lsdb.open_catalog reads it)
  catalogue.parquet     the same rows in one VOParquet file (provenance in key-value metadata)
  catalogue.fits        the same rows in one FITS table (units, UCDs, descriptions)
  provenance.json       how the catalogue was made (also copied into catalogue/)
  summary.txt/.md/.json Table-2-style counts and the models' agreement
  figures/              agreement bar chart, AGN-fraction sky map
  .build/done/          one done record per output partition: the key it was built with

A partition is reused by a later build only if its done record holds the same key (input
partition hash, model-set id, config hash, run id) and its file still has the recorded SHA-256.

Order of the final writes, so that a build stopped at any point (Ctrl-C, SIGTERM, a full disk)
never looks complete: the single-file exports, summary and figures first (each under a temporary
name), then catalogue/properties (what makes LSDB open the HATS catalogue), then provenance.json
(what marks the build complete). A failed write of any of them leaves the partitions and their done
records, so the same command resumes.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError, os_error_reason
from nepagn.pipeline.catalogue_run import (
    CATALOGUE_DIR,
    CATALOGUE_FITS,
    CATALOGUE_PARQUET,
    FIGURES_DIR,
    PROVENANCE_JSON,
    SUMMARY_FILES,
    CatalogueRun,
    write_catalogue_files,
)
from nepagn.pipeline.partition_task import (
    PartitionJob,
    read_done_record,
    reusable,
    run_partition_jobs,
)
from nepagn.pipeline.provenance import (
    Provenance,
    utc_now,
)
from nepagn.pipeline.summary import SKY_MAP_ORDER, add_counts, subset_warnings
from nepagn.preprocess import STATUS_CLASSIFIED, STATUS_LABELLED, STATUS_NO_REDSHIFT, PreprocessConfig
from nepagn.store import mark_incomplete

log = logging.getLogger(__name__)

DONE_DIR = Path(".build") / "done"
DEFAULT_SUMMARY_BAND = "hsc_i"
FINAL_OUTPUTS = (CATALOGUE_PARQUET, CATALOGUE_FITS, PROVENANCE_JSON, *SUMMARY_FILES)
# A build whose inference set is smaller than this share of its unlabelled sources is warned about.
FEW_CLASSIFIED_FRACTION = 0.01


class BuildInterrupted(NepagnError):
    """The build stopped before all partitions were done (partition limit reached); rerun to resume."""


@dataclass
class BuildResult:
    """What a build produced and what it had to compute."""

    out_dir: Path
    run_id: str
    model_set_id: str
    computed: list[tuple[int, int]]
    reused: list[tuple[int, int]]
    summary: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def catalogue_dir(self) -> Path:
        return self.out_dir / CATALOGUE_DIR

    @property
    def parquet(self) -> Path:
        return self.out_dir / CATALOGUE_PARQUET

    @property
    def fits(self) -> Path:
        return self.out_dir / CATALOGUE_FITS


def build_catalogue(
    store_path: str | Path,
    modeldir: str | Path,
    out_dir: str | Path,
    client,
    preprocess_config: PreprocessConfig | None = None,
    catalogue_name: str = "nepagn_agn_sfg",
    provenance_extra: dict[str, Any] | None = None,
    progress: bool = False,
    limit_partitions: int | None = None,
    started_utc: str | None = None,
    summary_band: str = DEFAULT_SUMMARY_BAND,
) -> BuildResult:
    """Classify every source of a store with a model set and write the public catalogue into OUTDIR.

    Partitions already built with the same inputs, models and settings are reused (a rerun resumes).

    Parameters
    ----------
    store_path : str or Path
        The store to classify.
    modeldir : str or Path
        The model set (from `train_model_set` / `nepagn train`).
    out_dir : str or Path
        OUTDIR: `catalogue/` (HATS), `catalogue.parquet`, `catalogue.fits`, summary, figures, provenance.json.
    client : distributed.Client
        Where the partitions are classified.
    preprocess_config : PreprocessConfig, optional
        Redshift and star rules (default: the pipeline's).
    catalogue_name, provenance_extra, progress, summary_band, started_utc
        The HATS catalogue name; extra provenance (input checksum, column map, training settings, configs);
        a progress bar; the band of the summary's magnitude bins; when the asking command started.
    limit_partitions : int, optional
        Compute at most that many partitions, then raise BuildInterrupted (what an interrupted build leaves).

    Returns
    -------
    BuildResult
        OUTDIR, run and model-set ids, the partitions computed and reused, the summary and warnings.

    Raises
    ------
    NepagnError
        A failure to write the final files for lack of space or permission, naming the file; the partitions
        built so far stay for a rerun.
    """
    classification_started = utc_now()
    started = started_utc or classification_started
    out_dir = Path(out_dir).resolve()
    preprocess_config = preprocess_config or PreprocessConfig()
    settings = {"preprocess": preprocess_config.to_dict(), "sky_map_order": SKY_MAP_ORDER,
                "summary": {"magnitude_band": summary_band}}
    run = CatalogueRun.prepare(store_path, modeldir, settings)
    store, run_id, model_set_id = run.store, run.run_id, run.manifest.model_set_id
    log.info("build %s: %d sources in %d partitions, models %s (%s)", run_id, store.num_rows,
             len(store.partitions), run.models, model_set_id)

    catalogue_root = out_dir / CATALOGUE_DIR
    done_dir = out_dir / DONE_DIR
    done_dir.mkdir(parents=True, exist_ok=True)
    _remove_final_outputs(out_dir)

    jobs: list[PartitionJob] = []
    records: dict[tuple[int, int], dict[str, Any]] = {}
    reused: list[tuple[int, int]] = []
    for partition in store.partitions:
        where = (partition.order, partition.pixel)
        partition_hash = store.partition_hash(partition)
        job = run.partition_job(partition, partition_hash, partition_hash, catalogue_root, done_dir)
        record = read_done_record(done_dir, *where)
        if record is not None and reusable(record, job.key, catalogue_root):
            records[where] = record
            reused.append(where)
            continue
        jobs.append(job)
    if reused:
        log.info("resuming: %d of %d partitions already built with the same inputs and models",
                 len(reused), len(store.partitions))
    mark_incomplete(catalogue_root)  # until the final files are written: LSDB must not open a half-made build
    selected = jobs if limit_partitions is None else jobs[:limit_partitions]
    computed = _run_jobs(client, selected, records, progress)
    if len(selected) < len(jobs):
        raise BuildInterrupted(
            f"{out_dir}: stopped after {len(selected)} partitions as asked; {len(jobs) - len(selected)} remain "
            "(rerun the same command to resume)"
        )

    wanted = [(p.order, p.pixel) for p in store.partitions]
    rows_out = sum(records[w]["rows"] for w in wanted)
    if rows_out != store.num_rows:
        raise NepagnError(f"{out_dir}: {store.num_rows} sources in, {rows_out} rows out; the build is inconsistent")
    counts = add_counts(records[w]["counts"] for w in wanted)
    summary = run.summary(counts, catalogue_root, wanted)
    warnings = [*_few_classified_warnings(counts, preprocess_config),
                *subset_warnings((summary.get("model_set") or {}).get("decision") or {})]
    for warning in warnings:
        log.warning("build %s: %s", run_id, warning)
    extra = provenance_extra or {}
    provenance = Provenance(
        run_id=run_id,
        model_set_id=model_set_id,
        config_hash=run.config_digest,
        input={"store": str(Path(store.path).resolve()), "snapshot_id": store.snapshot_id, "rows": store.num_rows,
               "partitions": len(store.partitions), **extra.get("input", {})},
        column_map=extra.get("column_map"),
        models={**run.models_record(), **extra.get("models", {})},
        configs={"pipeline": settings, **extra.get("configs", {})},
        started_utc=started,
        execution={
            "command": extra.get("command"),
            "classification_started_utc": classification_started,
            "scheduler": getattr(client.scheduler, "address", None),
            "workers": len(client.scheduler_info(n_workers=-1)["workers"]),
            "partitions_total": len(wanted),
            "partitions_computed": [list(w) for w in computed],
            "partitions_reused": [list(w) for w in reused],
        },
    )
    provenance.finished_utc = utc_now()
    try:
        write_catalogue_files(out_dir, run, wanted, provenance, summary, catalogue_name,
                              {"ORIGIN": "nepagn build-catalogue"}, {})
    except OSError as exc:
        reason = os_error_reason(exc)
        if reason is None:
            raise
        raise NepagnError(
            f"{exc.filename or out_dir}: {reason}; the {len(wanted)} classified partitions are kept in {out_dir} "
            "and nothing there reads as a complete catalogue; make room and rerun the same command to finish "
            "(the partitions are reused)"
        ) from exc
    log.info("catalogue %s written: %d rows (%d partitions computed, %d reused)", out_dir, rows_out,
             len(computed), len(reused))
    return BuildResult(out_dir, run_id, model_set_id, computed, reused, summary, provenance, warnings)


def _few_classified_warnings(counts: dict[str, Any], config: PreprocessConfig) -> list[str]:
    """A warning when the inference set is empty or nearly so, with the reason and the way out."""
    status = counts["status"]
    unlabelled = counts["rows"] - status.get(STATUS_LABELLED, 0)
    classified = status.get(STATUS_CLASSIFIED, 0)
    if unlabelled == 0 or classified >= FEW_CLASSIFIED_FRACTION * unlabelled:
        return []
    parts = ", ".join(f"{name} {count}" for name, count in status.items() if count)
    message = f"classified {classified} of {unlabelled} unlabelled sources ({parts})"
    no_redshift = status.get(STATUS_NO_REDSHIFT, 0)
    if no_redshift and config.redshift_rule == "required":
        message += (f"; {no_redshift} have neither z_spec nor z_phot: the networks do not use redshift, "
                    "so `--redshift-rule none` classifies them too (docs/catalogue.md)")
    return [message]


def _run_jobs(client, jobs: list[PartitionJob], records: dict, progress: bool) -> list[tuple[int, int]]:
    """Run the partition jobs on the cluster; fill `records` by (order, pixel) and return those computed."""
    done = []
    for record in run_partition_jobs(client, jobs, progress, key_prefix="build-partition"):
        where = (record["order"], record["pixel"])
        records[where] = record
        done.append(where)
    return sorted(done)


def _remove_final_outputs(out_dir: Path) -> None:
    """Remove the previous build's single-file outputs, so nothing stale looks complete while we run."""
    for name in FINAL_OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / FIGURES_DIR, ignore_errors=True)
