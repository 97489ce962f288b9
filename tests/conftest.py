"""Shared test fixtures: the real labelled NEPW sample, and a real Dask LocalCluster with processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "NEPAGN_SHARED_DATA"


def shared_data_dir() -> Path:
    """Where the real NEPW data lives: $NEPAGN_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get(SHARED_DATA_ENV, REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def poliszczuk_csv() -> Path:
    """The real 14-band labelled sample of Poliszczuk et al. 2021; skips where it is not at hand."""
    path = shared_data_dir() / "nepw_poliszczuk2021" / "training_sample.csv"
    if not path.is_file():
        pytest.skip(f"real NEPW sample not found at {path} (set ${SHARED_DATA_ENV} to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster with two worker processes, one thread each, shared by the session's tests."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


# --- build-catalogue fixtures (issue 5): a tiny mock store, a tiny model set, a reference build ---


@pytest.fixture(scope="session")
def tiny_mock_store(tmp_path_factory) -> Path:
    """A 1,500-source mock ingested into a HATS store of small partitions (no cluster needed)."""
    from nepagn.columnmap import ColumnMap
    from nepagn.ingest import ingest
    from nepagn.resources import catalogs_dir
    from nepagn.simulate import simulate_catalogue

    root = tmp_path_factory.mktemp("tiny_mock")
    simulate_catalogue(n_sources=1500, seed=1).to_parquet(root / "mock.parquet", index=False)
    cmap = ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")
    ingest(root / "mock.parquet", cmap, root / "store", max_rows_per_partition=500)
    return root / "store"


@pytest.fixture(scope="session")
def tiny_model_set(tiny_mock_store, dask_client, tmp_path_factory) -> Path:
    """Models A, B, C trained quickly (2 folds, 3 epochs, on the LocalCluster) on the tiny mock's labels: a MODELDIR."""
    from nepagn.model.training import train_model_set
    from nepagn.store import open_store

    store = open_store(tiny_mock_store)
    frame = store.to_dask().compute(scheduler="synchronous")
    out = tmp_path_factory.mktemp("tiny_models") / "models"
    return train_model_set(frame[frame["label"].notna()], out, folds=2, max_epochs=3, client=dask_client,
                           progress=False)


@pytest.fixture(scope="session")
def reference_build(tiny_mock_store, tiny_model_set, dask_client, tmp_path_factory):
    """build-catalogue of the tiny mock on the LocalCluster: the result other runs must equal."""
    from nepagn.pipeline.build import build_catalogue

    out = tmp_path_factory.mktemp("reference_build") / "out"
    return build_catalogue(tiny_mock_store, tiny_model_set, out, dask_client)
