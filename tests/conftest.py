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
