"""ModelSet inference: each model is one session, built once whatever its member groups and batch sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nepagn.bands import load_registry
from nepagn.features import FeatureSpec
from nepagn.model.inference import ModelSet
from nepagn.model.manifest import Manifest
from nepagn.model.network import build_network

GROUPS = 6  # members with six different feature specs


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


def test_each_model_is_one_session_built_once_whatever_its_groups_and_batch_sizes(tmp_path):
    model_set, frame = _per_fold_model_set(tmp_path)
    sessions = []
    for rows in (1, 7, 300, 2, 0):
        predicted = model_set.predict_proba(frame.iloc[:rows])
        assert len(predicted) == rows and predicted["score_agn_A"].notna().all()
        sessions.append(model_set._sessions["A"])
    assert list(model_set._sessions) == ["A"]  # the six groups' members run in one session
    assert all(session is sessions[0] for session in sessions) and sessions[0].members == GROUPS


def _session_threads(modeldir: str, frame: pd.DataFrame) -> int:
    """The intra-op thread count of a model's session, built in this process."""
    model_set = ModelSet.load(modeldir)
    model_set.predict_proba(frame)
    return model_set._sessions[model_set.names[0]].threads


def test_a_workers_sessions_use_its_thread_count_not_every_core(tiny_model_set, tiny_mock_store, dask_client):
    """Two single-thread workers on a two-core machine: a session with ONNX Runtime's default (every core)
    in each would oversubscribe the cores."""
    from nepagn.store import open_store

    frame = open_store(tiny_mock_store).to_dask().compute(scheduler="synchronous").iloc[:300]
    assert dask_client.submit(_session_threads, str(tiny_model_set), frame, pure=False).result() == 1


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

