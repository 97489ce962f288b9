"""What build-catalogue classifies and with what: the input store (ingested from a file, or the default
mock) and the model set (given, or trained quickly). Both are reused by a rerun when unchanged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nepagn.errors import NepagnError
from nepagn.files import atomic_path, canonical_json, sha256_file, write_text_atomic
from nepagn.model.config import TrainingConfig, load_training_config
from nepagn.model.modeldir import MODELSET_FORMAT
from nepagn.pipeline.config import PipelineConfig
from nepagn.resources import catalogs_dir
from nepagn.schema import LABEL
from nepagn.store import open_store

INPUT_STORE = "input_store"
MOCK_FILE = Path("input") / "mock.parquet"
QUICK_MODELS = "models_quick"
MOCK_COLUMN_MAP = "mock.toml"
FEATURE_KEYS = ("standardise", "mask_channel", "colour_channel")  # [quick_training] switches of the network inputs

Say = Callable[[str], None]


def _record_matches(path: Path, expected: dict[str, Any]) -> bool:
    try:
        return canonical_json(json.loads(path.read_text())) == canonical_json(expected)
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def _write_record(path: Path, record: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def simulate_mock(out_dir: Path, n_sources: int, seed: int, say: Say, client=None,
                  meanwhile: Callable[[], None] | None = None) -> Path:
    """Write the default mock catalogue to OUTDIR/input/mock.parquet (reused when the same mock is there), its blocks
    simulated on `client` if given while this process does `meanwhile` (done at once where the mock is reused)."""
    import nepagn
    from nepagn.simulate import simulate_catalogue

    path = out_dir / MOCK_FILE
    record_path = path.with_suffix(".json")
    record = {"n_sources": n_sources, "seed": seed, "nepagn": nepagn.__version__}
    if path.is_file() and _record_matches(record_path, {**record, "sha256": sha256_file(path)}):
        say(f"Input: reusing the mock catalogue {path} ({n_sources} sources, seed {seed})")
        if meanwhile is not None:
            meanwhile()
        return path
    say(f"Input: no --input or --store given: simulating the mock NEP-Wide catalogue ({n_sources} sources, "
        f"seed {seed}) into {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = simulate_catalogue(n_sources=n_sources, seed=seed, client=client, meanwhile=meanwhile)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    _write_record(record_path, {**record, "sha256": sha256_file(path)})
    return path


def ingest_input(
    input_path: Path, columns_path: Path, out_dir: Path, config: PipelineConfig, client, progress: bool, say: Say,
    quarantine: str | Path | None = None,
) -> Path:
    """Ingest an input file into OUTDIR/input_store, unless the same file and map were ingested there before."""
    from nepagn.columnmap import ColumnMap
    from nepagn.ingest import ingest

    store_path = out_dir / INPUT_STORE
    record_path = out_dir / f"{INPUT_STORE}.json"
    record = {
        "input_sha256": sha256_file(input_path),
        "column_map_sha256": sha256_file(columns_path),
        "max_rows_per_partition": config.max_rows_per_partition,
    }
    if _record_matches(record_path, record):
        try:
            open_store(store_path)
            say(f"Input: reusing the store {store_path} ingested from the same file and column map")
            return store_path
        except NepagnError:
            pass
    record_path.unlink(missing_ok=True)
    say(f"Input: ingesting {input_path} with column map {columns_path} into {store_path}")
    report = ingest(input_path, ColumnMap.load(columns_path), store_path, config.max_rows_per_partition, client,
                    quarantine, overwrite=True, progress=progress)
    if report.rows_quarantined:
        say(f"Input: {report.rows_quarantined} rows failed validation and went to {report.quarantine_path}; "
            "they are NOT in the catalogue")
    _write_record(record_path, record)
    return store_path


def prepare_store(
    config: PipelineConfig, out_dir: Path, client, progress: bool, say: Say, *, store: Path | None = None,
    input_path: Path | None = None, columns_path: Path | None = None, quarantine: Path | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The store to classify and its provenance: `store` as given, `input_path` ingested through `columns_path`,
    or (neither given) the default mock, simulated on the cluster.

    meanwhile: work of this process to do while the cluster simulates the mock (at once where nothing is simulated).
    """
    if meanwhile is not None and (store is not None or input_path is not None):
        meanwhile()
    if store is not None:
        properties = open_store(store).properties
        return Path(store), {
            "input": {"kind": "store", "path": str(Path(store).resolve())},
            "column_map": {"name": properties.get("nepagn_column_map")},
        }
    if input_path is not None:
        if columns_path is None:
            raise NepagnError(f"{input_path}: an input catalogue needs its column map (--columns)")
        input_path, columns_path, kind = Path(input_path), Path(columns_path), "file"
    else:
        mock = config.mock
        input_path = simulate_mock(out_dir, int(mock["n_sources"]), int(mock["seed"]), say, client, meanwhile)
        columns_path, kind = catalogs_dir() / "columns" / MOCK_COLUMN_MAP, "mock"
    if not columns_path.is_file():
        raise NepagnError(f"{columns_path}: column map not found")
    store_path = ingest_input(input_path, columns_path, out_dir, config, client, progress, say, quarantine)
    provenance = {
        "input": {"kind": kind, "path": str(input_path.resolve()), "sha256": sha256_file(input_path),
                  **({"mock": config.mock} if kind == "mock" else {})},
        "column_map": {"path": str(columns_path.resolve()), "sha256": sha256_file(columns_path),
                       "text": columns_path.read_text()},
    }
    return store_path, provenance


def quick_training_config(settings: dict[str, Any]) -> TrainingConfig:
    """The quick set's training configuration: the catalogue recipe's (optimiser, regularisation, threshold rule)
    with the [quick_training] batch size; folds, epochs, inputs and networks go to train_model_set directly."""
    return load_training_config(recipe="catalogue", batch_size=settings.get("batch_size"))


def prepare_models(
    config: PipelineConfig, store_path: Path, out_dir: Path, client, progress: bool, say: Say,
    models: Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The model set to classify with: `models` as given, or Models A/B/C trained quickly on the store's labels."""
    if models is not None:
        return Path(models), {"trained_by_this_build": False}
    settings = config.quick_training
    modeldir = out_dir / QUICK_MODELS
    record_path = out_dir / f"{QUICK_MODELS}.json"
    store = open_store(store_path)
    # the model-set format in the record: a quick set trained by an older nepagn (no calibration) is retrained
    record = {"store_snapshot_id": store.snapshot_id, "settings": settings, "modelset_format": MODELSET_FORMAT}
    provenance = {"trained_by_this_build": True, "quick_training": settings,
                  "note": "quick training for a runnable default, not the paper's protocol (10 folds, <= 3000 epochs)"}
    if modeldir.is_dir() and _record_matches(record_path, record):
        say(f"Models: reusing the quickly trained Models {', '.join(settings['models'])} in {modeldir}")
        return modeldir, provenance
    say(f"Models: no --models given: training Models {', '.join(settings['models'])} QUICKLY "
        f"({settings['folds']} folds, seeds {settings['seeds']}, at most {settings['max_epochs']} epochs, "
        f"{settings['protocol']} protocol, mini-batches of {settings.get('batch_size') or 'all'} rows, "
        f"{settings.get('copies', 0)} degraded copies per labelled source; "
        "see [quick_training] in configs/pipeline.toml). "
        "This is not the paper's training: use `nepagn train` and --models for a catalogue you publish.")
    from nepagn.model.training import train_model_set

    shutil.rmtree(modeldir, ignore_errors=True)
    record_path.unlink(missing_ok=True)
    frame = store.to_dask()
    labelled = frame[~frame[LABEL].isna()].compute()
    if client is not None:  # the workers load TensorFlow while this process reads the target photometry
        from nepagn.cluster import preload_tensorflow

        preload_tensorflow(client)
    target, copies = None, int(settings.get("copies", 0))
    if copies > 0:
        from nepagn.degrade import target_from_store
        from nepagn.model.training import default_bands

        say(f"Models: training on labelled photometry degraded to the depth of the {store_path} sources to "
            f"classify ({copies} copies per labelled source)")
        target = target_from_store(store_path, default_bands(labelled), config.preprocess)
    train_model_set(
        labelled, modeldir, models=tuple(settings["models"]), folds=int(settings["folds"]),
        protocol=str(settings["protocol"]), seeds=tuple(int(s) for s in settings["seeds"]), client=client,
        max_epochs=int(settings["max_epochs"]), progress=progress,
        training=quick_training_config(settings),
        feature_options={key: bool(settings.get(key, False)) for key in FEATURE_KEYS},
        baseline=False,
        target=target,
        copies=copies,
        networks=int(settings.get("networks", 1)),
    )
    _write_record(record_path, record)
    return modeldir, provenance
