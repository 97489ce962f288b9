"""The core build-catalogue and update share: one run of the model set over a store, and its files.

`CatalogueRun.prepare` reads the store and the model set's manifest once and derives what every
partition task and the final files need (run id, config hash, catalogue columns, the labelled
domain's provenance); `partition_job` makes a partition's task; `summary` and `models_record` make
the summary and provenance's model section; `write_catalogue_files` writes the single-file exports,
summary, figures, the HATS `properties` and provenance.json, in an order that never leaves a
half-made catalogue looking complete (see nepagn.pipeline.build).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nepagn.calibration import warn_if_uncalibrated
from nepagn.domain import domain_provenance
from nepagn.files import write_text_atomic
from nepagn.fits_writer import write_fits_table
from nepagn.model.manifest import Manifest
from nepagn.pipeline.catalogue_schema import catalogue_columns
from nepagn.pipeline.outputs import write_voparquet
from nepagn.pipeline.partition_task import PartitionJob
from nepagn.pipeline.provenance import PROVENANCE_KEY, Provenance, build_run_id, config_hash, partition_key
from nepagn.pipeline.summary import summarise, to_markdown, to_text
from nepagn.pipeline.truth import complete_summary
from nepagn.schema import TRUE_CLASS, Column, column_metadata
from nepagn.store import PartitionInfo, Store, finalize_store, open_store, partition_path

CATALOGUE_DIR = "catalogue"
CATALOGUE_PARQUET = "catalogue.parquet"
CATALOGUE_FITS = "catalogue.fits"
PROVENANCE_JSON = "provenance.json"
FIGURES_DIR = "figures"
SUMMARY_FILES = ("summary.txt", "summary.md", "summary.json")


@dataclass(frozen=True)
class CatalogueRun:
    """One run of a model set over a store: what its partition tasks and final files share."""

    store: Store
    modeldir: Path
    manifest: Manifest
    settings: dict[str, Any]  # the pipeline settings that change a partition's content (config hash)
    config_digest: str
    run_id: str
    columns: tuple[Column, ...]
    domain: dict[str, Any]

    @classmethod
    def prepare(cls, store_path: str | Path, modeldir: str | Path, settings: dict[str, Any],
                label: str | None = None) -> CatalogueRun:
        """Open the store, read and verify the model set, derive the run id and the catalogue's columns.

        `label` names the run in warnings (an uncalibrated model, a domain not recorded); default
        "build <run id>".
        """
        store = open_store(store_path)
        manifest = Manifest.read(modeldir)
        digest = config_hash(settings)
        run_id = build_run_id(store.snapshot_id, manifest.model_set_id, digest)
        label = label or f"build {run_id}"
        columns = catalogue_columns(list(manifest.names), with_std=True, with_truth=TRUE_CLASS in store.columns,
                                    calibration=manifest.calibration, decision=manifest.decision)
        warn_if_uncalibrated(manifest.calibration, label)
        domain = domain_provenance(Path(modeldir), manifest.file_hashes, label)
        return cls(store, Path(modeldir).resolve(), manifest, settings, digest, run_id, columns, domain)

    @property
    def models(self) -> list[str]:
        return list(self.manifest.names)

    @property
    def summary_band(self) -> str | None:
        return (self.settings.get("summary") or {}).get("magnitude_band")

    def partition_job(self, partition: PartitionInfo, content_hash: str, store_hash: str, catalogue_root: Path,
                      done_dir: Path) -> PartitionJob:
        """The task that classifies one store partition into `catalogue_root`; keyed by `content_hash` (what
        the partition's catalogue rows depend on) with the model set, settings and run."""
        return PartitionJob(
            store_path=str(Path(self.store.path).resolve()), order=partition.order, pixel=partition.pixel,
            partition_hash=store_hash, out_root=str(catalogue_root), done_dir=str(done_dir),
            key=partition_key(content_hash, self.manifest.model_set_id, self.config_digest, self.run_id),
            modeldir=str(self.modeldir), model_set_id=self.manifest.model_set_id, run_id=self.run_id,
            preprocess=self.settings["preprocess"], with_truth=TRUE_CLASS in self.store.columns,
            summary_band=self.summary_band,
        )

    def summary(self, counts: dict[str, Any], catalogue_root: Path, wanted: list[tuple[int, int]]) -> dict[str, Any]:
        """The summary of the catalogue's per-partition counts (and, for a mock, its truth section)."""
        return complete_summary(
            summarise(counts, self.models), store=self.store, catalogue_root=catalogue_root, wanted=wanted,
            models=self.models, band=self.summary_band, decision=self.manifest.decision.record(),
            degradation=self.manifest.degradation, domain_recorded=self.domain.get("status") == "recorded")

    def models_record(self) -> dict[str, Any]:
        """Provenance's `models` section: the model set, its rule, decision, training photometry, files."""
        return {"modeldir": str(self.modeldir), "names": self.models, "rule": self.manifest.rule,
                "labels_hash": self.manifest.labels_hash, "decision": self.manifest.decision.record(),
                "degradation": self.manifest.degradation, "file_sha256": self.manifest.file_hashes,
                "calibration": self.manifest.calibration_record, "domain": self.domain}


def write_catalogue_files(
    out_dir: Path, run: CatalogueRun, wanted: list[tuple[int, int]], provenance: Provenance, summary: dict[str, Any],
    catalogue_name: str, header: dict[str, Any], properties: dict[str, Any],
) -> None:
    """Single Parquet, FITS, summary and figures; then the HATS `properties`; provenance.json last.

    Each file is written under a temporary name and renamed when complete, so a failure (a full disk)
    leaves no half file, no `properties` (LSDB refuses the catalogue) and no provenance.json. An OSError
    names the file it was writing. `header`: FITS cards beside RUN_ID and MODELSET; `properties`: HATS
    properties beside the run and model-set ids.
    """
    from nepagn.pipeline.catalogue_figures import agn_fraction_sky_map, agreement_bar_chart
    from nepagn.pipeline.truth_figures import truth_figure

    files = [partition_path(out_dir / CATALOGUE_DIR, order, pixel) for order, pixel in wanted]
    provenance_json = provenance.to_json()
    header = {**header, "RUN_ID": provenance.run_id, "MODELSET": provenance.model_set_id,
              "NEPAGNV": provenance.software["nepagn"], "PROVENAN": PROVENANCE_JSON}
    properties = {"nepagn_run_id": run.run_id, "nepagn_model_set_id": run.manifest.model_set_id, **properties,
                  "nepagn_provenance": PROVENANCE_JSON}
    figures = out_dir / FIGURES_DIR
    steps = [
        (out_dir / CATALOGUE_PARQUET, lambda path: write_voparquet(files, path, run.columns,
                                                                   {PROVENANCE_KEY: provenance_json.encode()})),
        (out_dir / CATALOGUE_FITS, lambda path: write_fits_table(files, path, column_metadata(run.columns), header)),
        (figures / "agreement.png", lambda path: agreement_bar_chart(summary, path)),
        (figures / "agn_fraction_map.png", lambda path: agn_fraction_sky_map(summary, path)),
        *([(figures / "truth_reliability.png", lambda path: truth_figure(summary["truth"], path))]
          if summary.get("truth") else []),
        (out_dir / "summary.json", lambda path: write_text_atomic(path, json.dumps(summary, indent=2) + "\n")),
        (out_dir / "summary.md", lambda path: write_text_atomic(path, to_markdown(summary) + "\n")),
        (out_dir / "summary.txt", lambda path: write_text_atomic(path, to_text(summary) + "\n")),
        (out_dir / CATALOGUE_DIR / PROVENANCE_JSON, provenance.write),
        (out_dir / CATALOGUE_DIR / "properties", lambda path: finalize_store(
            out_dir / CATALOGUE_DIR, catalogue_name, column_meta=None, extra_properties=properties, partitions=wanted,
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
