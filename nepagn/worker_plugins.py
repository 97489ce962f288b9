"""Dask worker plugins nepagn registers on every cluster it uses (imported only when a cluster starts)."""

from __future__ import annotations

import logging
import signal
import threading

from distributed import WorkerPlugin

from nepagn.cluster import apply_tf_thread_limit, import_tensorflow_quietly


class BoundTensorFlowThreads(WorkerPlugin):
    """Limit TensorFlow's intra/inter-op threads on a worker to that worker's share of cores.

    TF and Dask both use threads; without a bound, every worker's TF would use every core.
    The limit is set through the environment before TF is first imported in the worker, and
    through tf.config where TF is already loaded there. With `preload`, the worker then loads TF
    at once, with its start-up lines held back (nepagn.cluster.import_tensorflow_quietly).

    With `local` (the workers of a LocalCluster nepagn started and will close), a worker process
    ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the command, not each
    worker, decides how to stop (it closes its cluster in order); the worker's note that the tasks it
    was running were cancelled by that close is dropped too. Workers of a user's own cluster keep both.
    """

    name = "nepagn-bound-tf-threads"

    def __init__(self, threads: int, preload: bool = False, local: bool = False):
        self.threads = max(1, int(threads))
        self.preload = preload
        self.local = local

    def setup(self, worker) -> None:  # noqa: D401 - Dask plugin hook
        if self.local:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            logging.getLogger("distributed.worker.state_machine").addFilter(_CancelledByClose())
        apply_tf_thread_limit(self.threads)
        if self.preload:
            import_tensorflow_quietly()


class _CancelledByClose(logging.Filter):
    """Drops "Async instruction for <Task cancelled ...> ended with CancelledError": a task stopped by
    nepagn closing its own cluster after Ctrl-C, which the command itself reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ended with CancelledError" not in record.getMessage()
