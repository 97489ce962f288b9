"""Run independent per-partition tasks on the Dask cluster (or in this process without one), with a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from nepagn.cluster import data_in_graph


def run_tasks(client, function: Callable, items: list, description: str, progress: bool = False) -> list[Any]:
    """function(item) for every item, results in item order; Dask retries nothing here (writes are atomic)."""
    if not items:
        return []
    with tqdm(total=len(items), desc=description, unit="part", disable=not progress) as bar:
        if client is None:
            results = []
            for item in items:
                results.append(function(item))
                bar.update()
            return results
        from distributed import as_completed

        with data_in_graph():  # items carry their rows (an update's incoming rows per partition)
            futures = client.map(function, items, pure=False)
        for _ in as_completed(futures):
            bar.update()
        return client.gather(futures)
