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

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nepagn.calibration import warn_if_uncalibrated
from nepagn.domain import domain_provenance
from nepagn.errors import NepagnError, os_error_reason
from nepagn.files import write_text_atomic
from nepagn.fits_writer import write_fits_table
from nepagn.model.manifest import Manifest
from nepagn.pipeline.catalogue_schema import catalogue_columns
from nepagn.pipeline.outputs import write_voparquet
from nepagn.pipeline.partition_task import (
    PartitionJob,
    read_done_record,
    reusable,
    run_partition_jobs,
)
from nepagn.pipeline.provenance import (
    PROVENANCE_KEY,
    Provenance,
    build_run_id,
    config_hash,
    partition_key,
    utc_now,
)
from nepagn.pipeline.summary import SKY_MAP_ORDER, add_counts, summarise, to_markdown, to_text
from nepagn.pipeline.truth import complete_summary
from nepagn.preprocess import STATUS_CLASSIFIED, STATUS_LABELLED, STATUS_NO_REDSHIFT, PreprocessConfig
from nepagn.schema import TRUE_CLASS, column_metadata
from nepagn.store import finalize_store, mark_incomplete, open_store, partition_path

log = logging.getLogger(__name__)

CATALOGUE_DIR = "catalogue"
CATALOGUE_PARQUET = "catalogue.parquet"
CATALOGUE_FITS = "catalogue.fits"
PROVENANCE_JSON = "provenance.json"
SUMMARY_STEM = "summary"
FIGURES_DIR = "figures"
DONE_DIR = Path(".build") / "done"
DEFAULT_SUMMARY_BAND = "hsc_i"
FINAL_OUTPUTS = (CATALOGUE_PARQUET, CATALOGUE_FITS, PROVENANCE_JSON, "summary.txt", "summary.md", "summary.json")
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
    """Classify every source of the store at `store_path` with the model set in `modeldir`; write OUTDIR.

    Partitions already built with the same inputs, models and config are reused. With
    `limit_partitions`, at most that many partitions are computed and BuildInterrupted is raised if
    others remain (what an interrupted build leaves behind; a rerun resumes).
    provenance_extra: input description (file checksum, column map), training settings, configs.
    summary_band: registry band id of the summary's per-magnitude-bin tables.
    started_utc: when the command that asked for the build started (provenance `started_utc`;
    default: now); the start of classification is recorded as `execution.classification_started_utc`.
    A failure to write the final files for lack of space or permission is a NepagnError naming the
    file; the partitions built so far stay for a rerun.
    """
    classification_started = utc_now()
    started = started_utc or classification_started
    out_dir = Path(out_dir).resolve()
    store = open_store(store_path)
    model_set = Manifest.read(modeldir)
    models = list(model_set.names)
    preprocess_config = preprocess_config or PreprocessConfig()
    settings = {"preprocess": preprocess_config.to_dict(), "sky_map_order": SKY_MAP_ORDER,
                "summary": {"magnitude_band": summary_band}}
    digest = config_hash(settings)
    run_id = build_run_id(store.snapshot_id, model_set.model_set_id, digest)
    with_truth = TRUE_CLASS in store.columns
    columns = catalogue_columns(models, with_std=True, with_truth=with_truth, calibration=model_set.calibration,
                                decision=model_set.decision)
    warn_if_uncalibrated(model_set.calibration, f"build {run_id}")
    domain = domain_provenance(Path(modeldir), model_set.file_hashes, f"build {run_id}")
    log.info("build %s: %d sources in %d partitions, models %s (%s)", run_id, store.num_rows,
             len(store.partitions), models, model_set.model_set_id)

    catalogue_root = out_dir / CATALOGUE_DIR
    done_dir = out_dir / DONE_DIR
    done_dir.mkdir(parents=True, exist_ok=True)
    _remove_final_outputs(out_dir)

    jobs, records, reused = [], {}, []
    for partition in store.partitions:
        where = (partition.order, partition.pixel)
        partition_hash = store.partition_hash(partition)
        key = partition_key(partition_hash, model_set.model_set_id, digest, run_id)
        record = read_done_record(done_dir, *where)
        if reusable(record, key, catalogue_root):
            records[where] = record
            reused.append(where)
            continue
        jobs.append(PartitionJob(
            store_path=str(Path(store.path).resolve()), order=partition.order, pixel=partition.pixel,
            partition_hash=partition_hash, out_root=str(catalogue_root), done_dir=str(done_dir), key=key,
            modeldir=str(Path(modeldir).resolve()), model_set_id=model_set.model_set_id, run_id=run_id,
            preprocess=preprocess_config.to_dict(), with_truth=with_truth, summary_band=summary_band,
        ))
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
    summary = complete_summary(summarise(counts, models), store=store, catalogue_root=catalogue_root, wanted=wanted,
                               models=models, band=summary_band, decision=model_set.decision.record(),
                               degradation=model_set.degradation, domain_recorded=domain.get("status") == "recorded")
    warnings = _few_classified_warnings(counts, preprocess_config)
    for warning in warnings:
        log.warning("build %s: %s", run_id, warning)
    provenance = Provenance(
        run_id=run_id,
        model_set_id=model_set.model_set_id,
        config_hash=digest,
        input={"store": str(Path(store.path).resolve()), "snapshot_id": store.snapshot_id, "rows": store.num_rows,
               "partitions": len(store.partitions), **(provenance_extra or {}).get("input", {})},
        column_map=(provenance_extra or {}).get("column_map"),
        models={"modeldir": str(Path(modeldir).resolve()), "names": models,
                "rule": model_set.rule, "decision": model_set.decision.record(),
                "degradation": model_set.degradation, "file_sha256": model_set.file_hashes,
                "calibration": model_set.calibration_record,
                "domain": domain,
                **(provenance_extra or {}).get("models", {})},
        configs={"pipeline": settings, **(provenance_extra or {}).get("configs", {})},
        started_utc=started,
        execution={
            "command": (provenance_extra or {}).get("command"),
            "classification_started_utc": classification_started,
            "scheduler": getattr(client.scheduler, "address", None),
            "workers": len(client.scheduler_info(n_workers=-1)["workers"]),
            "partitions_total": len(wanted),
            "partitions_computed": [list(w) for w in computed],
            "partitions_reused": [list(w) for w in reused],
        },
    )
    provenance.finished_utc = utc_now()
    properties = {"nepagn_run_id": run_id, "nepagn_model_set_id": model_set.model_set_id,
                  "nepagn_provenance": PROVENANCE_JSON}
    try:
        _write_exports(out_dir, wanted, columns, provenance, summary, catalogue_name, properties)
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
    return BuildResult(out_dir, run_id, model_set.model_set_id, computed, reused, summary, provenance, warnings)


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


def _write_exports(
    out_dir: Path, wanted, columns, provenance: Provenance, summary: dict[str, Any], catalogue_name: str,
    properties: dict[str, str],
) -> None:
    """Single Parquet, FITS, summary and figures; then the HATS `properties`; provenance.json last.

    Each file is written under a temporary name and renamed when complete, so a failure (a full
    disk) leaves no half file, no `properties` (LSDB refuses the catalogue) and no provenance.json.
    """
    from nepagn.report.catalogue_figures import agn_fraction_sky_map, agreement_bar_chart
    from nepagn.report.truth_figures import truth_figure

    files = [partition_path(out_dir / CATALOGUE_DIR, order, pixel) for order, pixel in wanted]
    provenance_json = provenance.to_json()
    header = {
        "ORIGIN": "nepagn build-catalogue",
        "RUN_ID": provenance.run_id,
        "MODELSET": provenance.model_set_id,
        "NEPAGNV": provenance.software["nepagn"],
        "PROVENAN": PROVENANCE_JSON,
    }
    figures = out_dir / FIGURES_DIR
    steps = [
        (out_dir / CATALOGUE_PARQUET, lambda path: write_voparquet(files, path, columns,
                                                                   {PROVENANCE_KEY: provenance_json.encode()})),
        (out_dir / CATALOGUE_FITS, lambda path: write_fits_table(files, path, column_metadata(columns), header)),
        (figures / "agreement.png", lambda path: agreement_bar_chart(summary, path)),
        (figures / "agn_fraction_map.png", lambda path: agn_fraction_sky_map(summary, path)),
        *([(figures / "truth_reliability.png", lambda path: truth_figure(summary["truth"], path))]
          if summary.get("truth") else []),
        (out_dir / "summary.json", lambda path: write_text_atomic(path, json.dumps(summary, indent=2) + "\n")),
        (out_dir / "summary.md", lambda path: write_text_atomic(path, to_markdown(summary) + "\n")),
        (out_dir / "summary.txt", lambda path: write_text_atomic(path, to_text(summary) + "\n")),
        (out_dir / CATALOGUE_DIR / PROVENANCE_JSON, provenance.write),
        (out_dir / CATALOGUE_DIR / "properties", lambda path: finalize_store(
            path.parent, catalogue_name, column_meta=None, extra_properties=properties, partitions=wanted,
            remove_stale=True)),
        (out_dir / PROVENANCE_JSON, provenance.write),
    ]
    for path, write in steps:
        try:
            write(path)
        except OSError as exc:  # name the file: pyarrow's errors do not
            if exc.filename is None:
                exc.filename = str(path)
            raise

