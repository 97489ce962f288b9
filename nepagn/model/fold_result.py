"""What one training task gives its MODELDIR: a (model, fold, seed) of networks, or one HGBC fold.

Built by `nepagn.model.training.train_one` (networks) and `nepagn.model.hgb_training.train_hgb_one`
(HGBC) inside Dask tasks, kept as a dict by nepagn.model.checkpoints while a run is going, and written
by nepagn.model.modeldir. Row numbers are positions in the labelled rows of the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

NETWORK_RECORD = ("model_bytes", "history", "network_seed", "best_epoch", "epochs_run", "stop_reason", "seconds")


@dataclass
class FoldResult:
    """One trained task: its members, scores on every held-out row, threshold and metrics."""

    key: str
    kind: str  # nepagn.model.modeldir.KERAS_KIND or HGB_KIND
    model: str
    fold: int
    seed: int
    network_seed: int
    threshold: float
    best_epoch: int | None  # None: gradient boosting has no epochs
    epochs_run: int
    stop_reason: str
    seconds: float
    outer_rows: np.ndarray  # the outer (validation) fold
    p_outer: np.ndarray
    inner_rows: np.ndarray  # held-out rows of the inner split (strict protocol; calibration data without a target)
    inner_copy: np.ndarray
    p_inner: np.ndarray
    outer_degraded_rows: np.ndarray  # degraded copies of the outer fold (training on a target's depth)
    outer_degraded_copy: np.ndarray
    p_outer_degraded: np.ndarray
    roles: np.ndarray  # per labelled row: train, validation or inner_monitor
    metrics: dict[str, Any]
    spec: dict[str, Any] | None = None  # networks: the fitted FeatureSpec
    networks: list[dict[str, Any]] = field(default_factory=list)  # networks: one NETWORK_RECORD each
    model_bytes: bytes | None = None  # HGBC: the fold's members (skops)
    inputs: str | None = None  # HGBC: their inputs (JSON)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (numpy arrays and bytes kept) for nepagn.model.checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldResult:
        """Inverse of to_dict; also reads a result kept before networks were listed (one network, at top level)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if values.get("spec") is not None:  # networks: their files are in `networks` (older results: top level too)
            if not values.get("networks"):
                values["networks"] = [{key: data[key] for key in NETWORK_RECORD if key in data}]
            values.pop("model_bytes", None)
        return cls(**values)
