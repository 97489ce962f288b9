"""The workers of the LocalCluster nepagn starts: their thread bound and their memory allocator's settings."""

from __future__ import annotations

import os

from nepagn.cluster import cluster_client, session_threads


def test_nepagns_own_workers_are_bounded_from_the_start_and_keep_glibcs_malloc_tuning(monkeypatch):
    """The worker plugin sets the thread bound when a worker starts, so a session built outside a task (a warm-up
    through client.run) gets it too. And the workers do not inherit Dask's MALLOC_TRIM_THRESHOLD_=65536, which
    slowed partition tasks on a worker by about 16 % against the same code in one process."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # an earlier LocalCluster of this process set it
    with cluster_client(workers=1, threads_per_worker=1) as client:
        assert list(client.run(session_threads).values()) == [1]
        assert list(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == [None]
