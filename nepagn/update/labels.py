"""New labels: whether the store's labelled set still is the one the models were trained on, and retraining.

A model set records the hash of the (source_id, label) pairs it saw (manifest `labels_hash`, and the
pairs in labels.parquet); the store's labelled rows are hashed the same way. Different hashes mean
the models are stale: the catalogue is still built with them, and the command says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from nepagn.model.manifest import Manifest
from nepagn.model.modeldir import labels_hash
from nepagn.schema import LABEL, SOURCE_ID
from nepagn.store import Store

log = logging.getLogger(__name__)


@dataclass
class LabelStatus:
    """Labelled rows of the store before and after an update, against what the models saw."""

    labelled_before: int
    labelled_after: int
    store_hash_before: str
    store_hash_after: str
    model_hash: str
    model_labelled: int

    @property
    def changed_by_update(self) -> bool:
        return self.store_hash_before != self.store_hash_after

    @property
    def models_stale(self) -> bool:
        return self.store_hash_after != self.model_hash

    def record(self) -> dict:
        return {**asdict(self), "changed_by_update": self.changed_by_update, "models_stale": self.models_stale}

    def message(self) -> str:
        """One line for the user."""
        if not self.models_stale:
            return f"models are current: trained on the store's {self.labelled_after} labelled sources"
        change = (f"this update changed the labelled set ({self.labelled_before} -> {self.labelled_after} labels); "
                  if self.changed_by_update else "")
        return (f"{change}models are STALE: trained on {self.model_labelled} labels, the store now has "
                f"{self.labelled_after} (labels hash differs); retrain with `nepagn train` or rerun with --retrain")


def store_labels(store: Store) -> pd.DataFrame:
    """(source_id, label) of the store's labelled rows, reading only those two columns."""
    parts = [pq.read_table(p.path, columns=[SOURCE_ID, LABEL]).to_pandas() for p in store.partitions]
    frame = pd.concat(parts, ignore_index=True)
    return frame[frame[LABEL].notna()].reset_index(drop=True)


def labels_digest(labels: pd.DataFrame) -> str:
    """The model set's labels hash of a (source_id, label) frame."""
    return labels_hash(labels[SOURCE_ID], labels[LABEL])


def label_status(before: Store, after: Store, modeldir: Path) -> LabelStatus:
    """Compare the labelled sets before/after the update with the one recorded in `modeldir`."""
    old, new = store_labels(before), store_labels(after)
    recorded = Manifest.read(modeldir, verify=False).labels_hash
    trained = Path(modeldir) / "labels.parquet"
    model_labelled = len(pd.read_parquet(trained)) if trained.is_file() else -1
    return LabelStatus(len(old), len(new), labels_digest(old), labels_digest(new), str(recorded),
                       model_labelled)


def retrain(store: Store, modeldir: Path, out_dir: Path, client, max_epochs: int | None, progress: bool) -> Path:
    """Train a new model set like `modeldir` (same models, folds, seeds, protocol) on the store's labelled rows."""
    from nepagn.model.training import train_model_set

    run = json.loads((Path(modeldir) / "run.json").read_text())
    frame = store.to_dask().compute()
    labelled = frame[frame[LABEL].notna()]
    log.info("retraining %s on %d labelled rows into %s", list(run["models"]), len(labelled), out_dir)
    return train_model_set(labelled, out_dir, models=tuple(run["models"]), folds=int(run["folds"]),
                           protocol=str(run["protocol"]), seeds=tuple(int(s) for s in run["seeds"]), client=client,
                           max_epochs=max_epochs, progress=progress)
