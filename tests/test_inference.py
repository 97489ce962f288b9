"""ModelSet inference: each model is compiled once, whatever its member groups and batch sizes, and never retraced."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from nepagn.bands import load_registry
from nepagn.features import FeatureSpec
from nepagn.model.inference import ModelSet
from nepagn.model.manifest import Manifest
from nepagn.model.network import build_network

GROUPS = 6  # more than TensorFlow's frequent-retracing threshold (5 traces in the last 10 calls)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _per_fold_model_set(tmp_path) -> tuple[ModelSet, pd.DataFrame]:
    """One model whose members each have their own fitted scaling (as per-fold standardisation gives): one
    group per member; untrained networks (only the compilation matters here)."""
    bands = load_registry()[:4]
    specs = [
        FeatureSpec(bands=bands, standardise=True, scale=tuple((20.0 + k, 1.0, 0.1, 0.05) for _ in bands))
        for k in range(GROUPS)
    ]
    networks = [build_network(spec.input_shape) for spec in specs]
    model_set = ModelSet(tmp_path, Manifest(tmp_path, {"models": ["A"]}), {"A": networks}, {"A": specs}, {"A": None})
    rng = np.random.default_rng(0)
    columns = {}
    for band in bands:
        columns[band.mag_column] = rng.normal(21.0, 1.0, 300)
        columns[band.err_column] = rng.uniform(0.01, 0.2, 300)
    return model_set, pd.DataFrame(columns)


def test_each_model_is_traced_once_whatever_its_groups_and_never_warns_of_retracing(tmp_path):
    model_set, frame = _per_fold_model_set(tmp_path)
    records = _Records()
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addHandler(records)
    try:
        for rows in (1, 7, 300, 2):
            predicted = model_set.predict_proba(frame.iloc[:rows])
            assert len(predicted) == rows and predicted["score_agn_A"].notna().all()
    finally:
        tf_logger.removeHandler(records)
    assert not [message for message in records.messages if "retracing" in message]
    assert list(model_set._functions) == ["A"]  # the six groups' members run in one graph
    # a concrete function: one graph for any batch length (no per-shape retrace possible)
    assert model_set._functions["A"].structured_input_signature[0][0].shape.as_list()[:2] == [None, None]


def test_a_rows_scores_do_not_depend_on_the_rows_beside_it(tiny_model_set, tiny_mock_store):
    """Every network call has one shape, so a row scores the same alone, in a small partition or a large one
    (a single-row batch took another float32 path before and differed in the last bit)."""
    from nepagn.store import open_store

    frame = open_store(tiny_mock_store).to_dask().compute(scheduler="synchronous").reset_index(drop=True)
    model_set = ModelSet.load(tiny_model_set)
    everything = model_set.predict_proba(frame)
    for rows in (slice(5, 6), slice(0, 37), slice(400, 1500)):
        part = model_set.predict_proba(frame.iloc[rows])
        pd.testing.assert_frame_equal(part, everything.iloc[rows], check_exact=True)
