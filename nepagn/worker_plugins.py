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
    was running were cancelled by that close is dropped too, and so is a heartbeat that the worker's own
    close cut off. Workers of a user's own cluster keep all three.
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
            logging.getLogger("distributed.worker").addFilter(HeartbeatCutByClose(worker))
        apply_tf_thread_limit(self.threads)
        if self.preload:
            import_tensorflow_quietly()


class _CancelledByClose(logging.Filter):
    """Drops "Async instruction for <Task cancelled ...> ended with CancelledError": a task stopped by
    nepagn closing its own cluster after Ctrl-C, which the command itself reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ended with CancelledError" not in record.getMessage()


class HeartbeatCutByClose(logging.Filter):
    """Drops "Failed to communicate with scheduler during heartbeat" (with its traceback) once the worker is
    closing: a heartbeat in flight when nepagn closes its own cluster after a finished command; while the
    worker runs, the message (a real loss of the scheduler) is kept."""

    def __init__(self, worker) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        from distributed.core import Status

        closing = self.worker.status in (Status.closing, Status.closing_gracefully, Status.closed)
        return not (closing and record.getMessage().startswith("Failed to communicate with scheduler during heartbeat"))
