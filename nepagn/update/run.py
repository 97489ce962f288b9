"""`update_catalogue`: apply one update file to a store and write the next catalogue version (or nothing,
when content hashes show nothing changed). The order of steps makes every failure harmless:
nothing the previous version needs is modified until the new store and catalogue are complete, and
versions.json, rewritten atomically, is the commit point.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nepagn.bands import registry_text
from nepagn.crossmatch.options import MatchOptions
from nepagn.errors import NepagnError
from nepagn.pipeline.provenance import utc_now
from nepagn.store import open_store
from nepagn.update import apply_sources, bands, catalogue, labels, versions
from nepagn.update.inputs import read_update
from nepagn.update.plan import plan_sources

log = logging.getLogger(__name__)

MODELS_DIR = "models"


@dataclass
class UpdateResult:
    """What an update did: the version it wrote (or the unchanged current one), rows and partitions touched."""

    out_dir: Path
    version: int
    created: bool
    changes: dict[str, Any] = field(default_factory=dict)
    computed: list[tuple[int, int]] = field(default_factory=list)
    reused: list[tuple[int, int]] = field(default_factory=list)
    splits: dict[str, list] = field(default_factory=dict)
    labels: labels.LabelStatus | None = None
    new_bands: list[str] = field(default_factory=list)
    modeldir: Path | None = None
    crossmatch: dict[str, Any] | None = None  # the position match's record (survey, radius, counts), if any

    def summary(self) -> str:
        """A few lines for the terminal."""
        match = [crossmatch_line(self.crossmatch)] if self.crossmatch else []
        if not self.created:
            return "\n".join(match + [f"nothing changed: catalogue version {self.version} is current ({self.out_dir})"])
        lines = match + [
            f"catalogue version {self.version} written to {self.out_dir / versions.CURRENT_LINK}: "
            f"{self.changes.get('rows_new', 0)} new, {self.changes.get('rows_updated', 0)} updated, "
            f"{self.changes.get('rows_unchanged', 0)} unchanged rows; {len(self.computed)} partitions recomputed, "
            f"{len(self.reused)} reused",
        ]
        if self.splits:
            lines.append(f"partitions split: {self.splits}")
        if self.new_bands:
            lines.append(f"new bands in the store: {', '.join(self.new_bands)} (existing models ignore them; "
                         "see docs/update.md to train models that use them)")
        if self.labels is not None:
            lines.append(self.labels.message())
        return "\n".join(lines)


def crossmatch_line(record: dict[str, Any]) -> str:
    """One line on a position match: survey, radius and what became of its sources."""
    counts = record["counts"]
    return (f"{record['survey']} matched by position within {record['radius_arcsec']:g} arcsec: "
            f"{counts['survey_rows']} survey sources, {counts['matched']} matched, {counts['attached']} already "
            f"attached, {counts['secondary']} secondary (their stored candidates taken by closer ones), "
            f"{counts['appended']} appended, {counts['left_out']} left out; ambiguous: "
            f"{counts['survey_sources_with_several_stored_candidates']} survey sources with several stored "
            f"candidates, {counts['stored_sources_with_several_survey_candidates']} stored sources with several "
            f"survey candidates (match table: STORE/{record['match_table']})")


def prepare_index(out_dir: Path, store_path: Path, client) -> dict[str, Any]:
    """The versions index (created from the build-catalogue output on the first update); cleans failed leftovers."""
    apply_sources.recover_swap(store_path)
    apply_sources.remove_stale_staging(store_path)
    index = versions.load_index(out_dir)
    if index is None:
        index = catalogue.bootstrap_index(out_dir, store_path, client)
        versions.write_index(out_dir, index)
    versions.remove_incomplete(out_dir, index)
    return index


def update_catalogue(
    store_path: str | Path,
    out_dir: str | Path,
    add: str | Path,
    columns: str | Path,
    client,
    models: str | Path | None = None,
    retrain: bool = False,
    band_registry: str | Path | None = None,
    quarantine: str | Path | None = None,
    max_epochs: int | None = None,
    progress: bool = False,
    limit_partitions: int | None = None,
    match: MatchOptions | None = None,
) -> UpdateResult:
    """Apply one update file to a store and write the next version of its catalogue (docs/update.md).

    Parameters
    ----------
    store_path : str or Path
        The store the catalogue in `out_dir` was built from; it is replaced by the updated store.
    out_dir : str or Path
        A build-catalogue OUTDIR; catalogue versions are kept under it.
    add, columns : str or Path
        The update file (new sources, measurements, bands or labels) and its column map.
    client : distributed.Client
        Where the changed partitions are rewritten and re-classified.
    models : str or Path, optional
        The MODELDIR to classify with (default: the one the current version used).
    retrain : bool
        Retrain the model set like the current one when the labelled set changed.
    band_registry, quarantine, max_epochs, progress, limit_partitions
        Rows of new bands; where failing rows go; an epoch cap for retraining; a progress bar; stop after
        that many partitions (nothing is committed then).
    match : MatchOptions, optional
        Match the file's sources to stored ones by position (nepagn.crossmatch) instead of by source_id.

    Returns
    -------
    UpdateResult
        The version written (or none when nothing changed) and what it recomputed.
    """
    if match is not None:
        match.check()
    store_path, out_dir = Path(store_path).resolve(), Path(out_dir).resolve()
    index = prepare_index(out_dir, store_path, client)
    current = versions.current_entry(index)
    before = open_store(store_path)
    stored_bands = before.path / apply_sources.EXTRA_BANDS_FILE
    extra = bands.merge_band_rows(stored_bands if stored_bands.is_file() else None, band_registry)
    registry = None
    if extra:  # the store's extra bands and the new ones, known here and on the workers during the update
        registry = out_dir / f".bands-{uuid.uuid4().hex[:8]}.csv"
        registry.write_text(registry_text(extra))
    bands.activate(registry, client)
    try:
        return _update(store_path, out_dir, index, current, before, add, columns, client, models, retrain, extra,
                       quarantine, max_epochs, progress, limit_partitions, match)
    finally:
        if registry is not None:
            stored = store_path / apply_sources.EXTRA_BANDS_FILE
            bands.activate(stored if stored.is_file() else None, client)
            registry.unlink(missing_ok=True)


def _update(store_path, out_dir, index, current, before, add, columns, client, models, retrain, extra, quarantine,
            max_epochs, progress, limit_partitions, match) -> UpdateResult:
    update = read_update(add, columns, out_dir, client, quarantine)
    extra_files = {}
    if match is not None:
        from nepagn.crossmatch.rows import position_update, table_bytes

        matched = position_update(before, update, match, client, apply_sources.max_rows_of(before))
        update = matched.update
        extra_files[matched.table_path] = table_bytes(matched.table)
    plan = plan_sources(before, update, apply_sources.max_rows_of(before))
    new_bands = [band.id for band in extra if band.mag_column in plan.added_columns]
    staged = None
    build = None
    splits: dict[str, list] = {}
    number = versions.next_number(index)
    try:
        if plan.changes_rows or plan.schema_changed:
            inputs = apply_sources.read_inputs_record(before.path) + [{**update.describe(), "version": number,
                                                                        "applied_utc": utc_now(), **plan.record()}]
            staged = apply_sources.stage_store(before, plan, client, inputs,
                                               registry_text(extra) if extra else None, progress, extra_files)
            splits = staged.splits
        after = open_store(staged.path) if staged else before
        modeldir = Path(models).resolve() if models else Path(current["models"]["modeldir"])
        status = labels.label_status(before, after, modeldir)
        if retrain and status.models_stale:
            target = out_dir / MODELS_DIR / f"labels-{status.store_hash_after[:12]}"
            if not (target / "manifest.json").is_file():
                labels.retrain(after, modeldir, target, client, max_epochs, progress)
            modeldir = target
            status = labels.label_status(before, after, modeldir)
        build = catalogue.build_version(out_dir, index, number, after.path, store_path, modeldir, client, progress,
                                        limit_partitions, update.describe())
        if staged is None and not build.computed and build.entry["model_set_id"] == current["model_set_id"]:
            shutil.rmtree(build.path, ignore_errors=True)
            log.info("update %s changes nothing: version %d stays current", update.path, current["version"])
            return UpdateResult(out_dir, current["version"], False, plan.record(), labels=status, modeldir=modeldir,
                                crossmatch=update.crossmatch)
        catalogue.publish(build, out_dir)
        previous_store = None
        if staged is not None:
            previous_store = apply_sources.swap_in(store_path, staged.path, versions.version_name(current["version"]))
            staged = None
        build.entry.update({
            "inputs": [update.describe()], "changes": plan.record(), "labels": status.record(),
            "new_bands": new_bands, "previous_store": str(previous_store) if previous_store else None,
            "splits": splits,
        })
        versions.commit(out_dir, index, build.entry)
    except BaseException:
        if staged is not None:
            shutil.rmtree(staged.path, ignore_errors=True)
        if build is not None and build.path.exists() and index["current"] != number:
            shutil.rmtree(build.path, ignore_errors=True)
        raise
    result = UpdateResult(out_dir, number, True, plan.record(), build.computed, build.reused, splits,
                          status, new_bands, modeldir, update.crossmatch)
    log.info(result.summary())
    return result


def prune_versions(out_dir: str | Path, keep: int = 1, store_path: str | Path | None = None) -> list[int]:
    """Remove all but the `keep` newest catalogue versions (and the versions of STORE they were built from)."""
    out_dir = Path(out_dir).resolve()
    index = versions.load_index(out_dir)
    if index is None:
        raise NepagnError(f"{out_dir}: no catalogue versions to prune (no {versions.INDEX}; run an update first)")
    return versions.prune(out_dir, index, keep, Path(store_path).resolve() if store_path else None)
