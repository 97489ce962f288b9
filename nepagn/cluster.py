"""Connect to the Dask cluster a command runs on: a LocalCluster by default, or a real one.

Every command that computes takes the same three options (--scheduler, --scheduler-file,
--workers), so the same invocation runs on a laptop or on a survey team's cluster.

Dask itself is imported only when a cluster is started: adding the options to a parser (what
`nepagn COMMAND --help` and every usage error do) stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

TF_THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
_thread_limit: int | None = None  # the bound apply_tf_thread_limit last set in this process


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --scheduler / --scheduler-file / --workers / --threads-per-worker to a subcommand."""
    group = parser.add_argument_group("Dask cluster (default: a LocalCluster on this machine)")
    target = group.add_mutually_exclusive_group()
    target.add_argument("--scheduler", metavar="ADDR", help="address of a running scheduler, e.g. tcp://127.0.0.1:8786")
    target.add_argument(
        "--scheduler-file", metavar="FILE", help="scheduler file written by `dask scheduler --scheduler-file`"
    )
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the LocalCluster (default: one per core)",
    )
    group.add_argument(
        "--threads-per-worker", type=int, default=1, metavar="N", help="threads per LocalCluster worker (default 1)"
    )


def task_threads() -> int | None:
    """The Dask worker's thread count when called in one of its tasks; None outside a worker."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def session_threads() -> int | None:
    """Threads for a compute session built in this process (ONNX Runtime, nepagn.model.stacked): the Dask
    worker's thread count inside a task; else the bound apply_tf_thread_limit set in this process (a worker
    plugin sets it when a worker starts, a benchmark in its own process); else None, the runtime's default."""
    threads = task_threads()
    return threads if threads is not None else _thread_limit


def bound_task_threads() -> None:
    """The one thread rule of nepagn's tasks: TF, OpenMP and BLAS threads bounded to the Dask worker's thread
    count (as the worker plugin set them at start; a task repeats it in case a library reset them), and left
    as they are outside a worker. ONNX Runtime sessions take the same count (nepagn.model.stacked)."""
    threads = task_threads()
    if threads is not None:
        apply_tf_thread_limit(threads)


def apply_tf_thread_limit(threads: int) -> None:
    """Bound TF, OpenMP and BLAS threads in this process (one rule for networks and gradient boosting alike);
    safe to call before or after TF or scikit-learn is imported. ONNX Runtime sessions built later in the
    process take the same bound (session_threads)."""
    global _thread_limit
    _thread_limit = threads
    for name in TF_THREAD_ENV:
        os.environ[name] = str(threads)
    import sys

    if "sklearn" in sys.modules or "numpy" in sys.modules:  # runtimes already loaded ignore the environment
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)

    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TF already initialised its thread pools in this process
            log.debug("TensorFlow thread pools already initialised; environment limit applies to new pools only")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with this process's stderr (fd 2) sent to /dev/null meanwhile.

    Loading TF's shared libraries prints lines ("oneDNN custom operations are on", "Could not find
    cuda drivers") before its logging is initialised, so TF_CPP_MIN_LOG_LEVEL cannot hold them back.
    An import error still raises as usual.
    """
    import sys

    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def preload_tensorflow(client: Client) -> None:
    """Start loading TensorFlow, quietly, on every worker of `client` and return at once.

    One task per worker, pinned to it: the tasks submitted after it there run after it, and the workers
    load TensorFlow while this process goes on with its own work (build-catalogue reads the target
    photometry meanwhile). `cluster_client(tensorflow=True)` loads it too, but waits for every worker.
    """
    from distributed import fire_and_forget

    for address in client.scheduler_info(n_workers=-1)["workers"]:
        fire_and_forget(client.submit(import_tensorflow_quietly, workers=[address], allow_other_workers=False,
                                      pure=False, key=f"nepagn-load-tensorflow-{address}"))


class _QuietNannyShutdown(logging.Filter):
    """Drops the nanny's "Worker process still alive after N seconds, killing" while nepagn closes its cluster.

    By then every result is on disk; a worker process slow to exit (TensorFlow's teardown on a loaded
    machine) is stopped by its nanny as intended, and the warning would only alarm the user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Worker process still alive")


@contextmanager
def data_in_graph() -> Iterator[None]:
    """Silence distributed's "Sending large graph" advice where the data must travel in the graph.

    An update's per-partition tasks carry their incoming rows, and a position match carries the survey's
    positions (nepagn.crossmatch.pairs): the data goes to the workers once either way, so the advice to
    load it on the workers instead is noise on the user's terminal.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        yield


def worker_threads(client: Client) -> int:
    """The smallest thread count among the cluster's workers (the TF bound each can afford)."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    return max(1, min((worker["nthreads"] for worker in info.values()), default=1))


# The LocalCluster's worker processes keep glibc's own malloc tuning. Dask's nannies start workers with
# MALLOC_TRIM_THRESHOLD_=65536, which also switches off glibc's adaptive mmap threshold: every array above 128 KiB
# is then mapped and unmapped afresh, and partition tasks ran about 16 % slower on a worker than the same code in
# one process (docs/benchmarks.md). nepagn's tasks hold bounded partitions, so the memory glibc keeps is bounded
# too. A value in the user's environment still wins; a user's own cluster keeps its settings.
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@contextmanager
def cluster_client(
    scheduler: str | None = None,
    scheduler_file: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    tensorflow: bool = False,
) -> Iterator[Client]:
    """Yield a Client: to `scheduler`/`scheduler_file` if given, else to a new LocalCluster with processes.

    Logs the dashboard address and bounds TF threads on every worker; with `tensorflow`, every worker
    also loads TensorFlow now, quietly (the command will need it there). The LocalCluster is closed
    in order when the block ends, however it ends.
    """
    from distributed import Client, LocalCluster

    from nepagn.worker_plugins import BoundTensorFlowThreads

    if scheduler or scheduler_file:
        client = (
            Client(scheduler, scheduler_file=scheduler_file) if scheduler else Client(scheduler_file=scheduler_file)
        )
        cluster = None
    else:
        import dask

        n_workers = workers or max(1, (os.cpu_count() or 1) // max(1, threads_per_worker))
        with dask.config.set(LOCAL_WORKER_CONFIG):
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.WARNING,
            )
        client = Client(cluster)
    completed = False
    try:
        client.register_plugin(BoundTensorFlowThreads(worker_threads(client), preload=tensorflow,
                                                      local=cluster is not None))
        log.info("Dask dashboard: %s", client.dashboard_link)
        yield client
        completed = True
    finally:
        client.close()
        if cluster is not None:
            _close_local_cluster(cluster, graceful=completed)


WORKER_EXIT_GRACE_S = 30.0


async def _close_workers(cluster, timeout: float) -> None:
    await asyncio.gather(*(worker.close(timeout=timeout) for worker in list(cluster.workers.values())))


def _close_local_cluster(cluster, graceful: bool) -> None:
    """Close a LocalCluster in order: after a completed command each worker process gets
    WORKER_EXIT_GRACE_S to exit by itself (a worker that loaded TensorFlow needs more than the 4 s
    Dask's own close allows, and was killed with a warning); after an interruption, at once."""
    nanny_log = logging.getLogger("distributed.nanny")
    quiet = _QuietNannyShutdown()
    nanny_log.addFilter(quiet)
    try:
        if graceful:
            try:
                cluster.sync(_close_workers, cluster, WORKER_EXIT_GRACE_S)
            except Exception as exc:  # the workers are closed below anyway
                log.debug("graceful worker shutdown failed: %s", exc)
        cluster.close()
    finally:
        nanny_log.removeFilter(quiet)


def client_from_args(args: argparse.Namespace, tensorflow: bool = False):
    """cluster_client() configured from the options add_cluster_arguments() added."""
    return cluster_client(
        scheduler=args.scheduler,
        scheduler_file=args.scheduler_file,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        tensorflow=tensorflow,
    )
