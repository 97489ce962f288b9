"""The rows a model trains and is checked on: the labelled photometry itself, or degraded copies of it.

Folds and inner splits are always drawn over labelled sources; `TrainingData.rows` turns a set of
labelled rows into the training rows that belong to them (the rows themselves, or all their degraded
copies), so no copy of a held-out source is ever fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nepagn.degrade import COPY, ROW, TargetPhotometry

NOT_DEGRADED = -1  # the copy number recorded for a prediction on the labelled photometry itself


@dataclass(frozen=True)
class TrainingData:
    """Training rows with their labels and the labelled row each comes from."""

    frame: pd.DataFrame
    y: np.ndarray
    objects: np.ndarray  # per row: position of its labelled row
    copies: np.ndarray  # per row: degraded copy number, NOT_DEGRADED for the labelled photometry
    degraded: bool

    @classmethod
    def make(
        cls, labelled: pd.DataFrame, y: np.ndarray, target: TargetPhotometry | None, copies: int, seed: int
    ) -> TrainingData:
        """The labelled rows as they are (no target or copies == 0), or `copies` degraded copies of each."""
        if target is None or copies <= 0:
            n = len(labelled)
            return cls(labelled, np.asarray(y), np.arange(n), np.full(n, NOT_DEGRADED), False)
        frame = target.degrade(labelled, copies, seed)
        objects = frame[ROW].to_numpy()
        return cls(frame, np.asarray(y)[objects], objects, frame[COPY].to_numpy(), True)

    def rows(self, labelled_rows: np.ndarray) -> np.ndarray:
        """Positions (in `frame`) of the training rows that belong to the given labelled rows."""
        if not self.degraded:
            return np.asarray(labelled_rows)
        return np.flatnonzero(np.isin(self.objects, labelled_rows))

    def held_out(self, name: str, positions: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """Scores of held-out rows as a run result stores them: `<name>_rows` (labelled row of each),
        `<name>_copy` (its copy number) and `p_<name>`."""
        positions = np.asarray(positions, dtype=np.int64)
        return {
            f"{name}_rows": self.objects[positions],
            f"{name}_copy": self.copies[positions],
            f"p_{name}": np.asarray(scores, dtype=np.float64),
        }
