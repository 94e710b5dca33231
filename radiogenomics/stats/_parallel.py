"""Work spread over threads: the worker pool of the vectorised kernels, with one BLAS
thread per worker thread while they run."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

__all__ = ["run", "blas_limit"]

_controller = None


def blas_limit(n_jobs: int):
    """One BLAS thread per worker thread while ``n_jobs`` workers run.

    The controller (which inspects every loaded library, about 0.1 s) is made once per
    process, not at every call: a table with many missingness patterns runs many batches.
    """
    global _controller
    if n_jobs <= 1:
        return nullcontext()
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return nullcontext()
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def run(tasks: list[Callable[[], None]], n_jobs: int) -> None:
    """Call every task, in ``n_jobs`` threads (in order, here, when ``n_jobs <= 1``)."""
    if n_jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    with blas_limit(n_jobs), ThreadPoolExecutor(n_jobs) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()
