"""The one runner of independent tasks: on the Dask cluster or in this process, with a progress bar.

Ingest, build-catalogue, update, training and the evaluation's cross-validation all run lists of
independent tasks. They share this loop: submit every task, follow them as they finish (a bar, a
callback that keeps each result at once: a done record, a training checkpoint), stop at the first
failure, return the results in the order of the items. Ctrl-C and SIGTERM reach the caller as they
would anywhere (nepagn.cli), and the cluster's close cancels what is still running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from tqdm.auto import tqdm


def run_tasks(
    client: Any,
    function: Callable[..., Any],
    items: Sequence[Any],
    *args: Any,
    description: str,
    unit: str = "task",
    progress: bool = False,
    retries: int = 0,
    keys: Sequence[str] | None = None,
    on_result: Callable[[Any], None] | None = None,
    already_done: int = 0,
    items_carry_data: bool = False,
    meanwhile: Callable[[], None] | None = None,
) -> list[Any]:
    """``function(item, *args)`` for every item; the results, in item order.

    Parameters
    ----------
    client : distributed.Client or None
        Where the tasks run; None runs them one after another in this process.
    function, items, args
        The task and its inputs; `args` are the same for every task (scattered futures welcome).
    description, unit, progress
        The progress bar's label and unit, and whether to show it.
    retries : int
        How many times Dask runs a task again whose worker died or that raised; tasks must then be
        idempotent (their writes atomic).
    keys : sequence of str, optional
        Dask keys of the tasks, one per item (names on the dashboard; a resumed run's tasks are new ones).
    on_result : callable, optional
        Called with each result as its task finishes, in the order they finish.
    already_done : int
        Tasks of the same job done before this call (a resumed run), counted on the bar.
    items_carry_data : bool
        The items hold data (rows) that belong in the task graph: Dask's warning about large graphs is
        silenced (nepagn.cluster.data_in_graph).
    meanwhile : callable, optional
        Work of this process to do while the tasks run on the cluster: called once every task is submitted,
        before waiting for them (without a client: before the tasks). Nothing it prints should matter, as it
        runs beside the progress bar.

    Returns
    -------
    list
        One result per item, in the order of `items`.
    """
    results: list[Any] = [None] * len(items)
    with tqdm(total=len(items) + already_done, initial=already_done, desc=description, unit=unit,
              disable=not progress) as bar:

        def finished(index: int, result: Any) -> None:
            results[index] = result
            if on_result is not None:
                on_result(result)
            bar.update()

        if client is None:
            if meanwhile is not None:
                meanwhile()
            for index, item in enumerate(items):
                finished(index, function(item, *args))
            return results
        from distributed import as_completed

        from nepagn.cluster import data_in_graph

        with data_in_graph() if items_carry_data else nullcontext():
            futures = [
                client.submit(function, item, *args, pure=False, retries=retries,
                              **({"key": keys[index]} if keys is not None else {}))
                for index, item in enumerate(items)
            ]
        if meanwhile is not None:
            meanwhile()
        position = {future.key: index for index, future in enumerate(futures)}
        for future in as_completed(futures):
            finished(position[future.key], future.result())
    return results
