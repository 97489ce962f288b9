"""Dask worker plugins nepagn registers on every cluster it uses (imported only when a cluster starts)."""

from __future__ import annotations

from distributed import WorkerPlugin

from nepagn.cluster import apply_tf_thread_limit, import_tensorflow_quietly


class BoundTensorFlowThreads(WorkerPlugin):
    """Limit TensorFlow's intra/inter-op threads on a worker to that worker's share of cores.

    TF and Dask both use threads; without a bound, every worker's TF would use every core.
    The limit is set through the environment before TF is first imported in the worker, and
    through tf.config where TF is already loaded there. With `preload`, the worker then loads TF
    at once, with its start-up lines held back (nepagn.cluster.import_tensorflow_quietly).
    """

    name = "nepagn-bound-tf-threads"

    def __init__(self, threads: int, preload: bool = False):
        self.threads = max(1, int(threads))
        self.preload = preload

    def setup(self, worker) -> None:  # noqa: D401 - Dask plugin hook
        apply_tf_thread_limit(self.threads)
        if self.preload:
            import_tensorflow_quietly()
