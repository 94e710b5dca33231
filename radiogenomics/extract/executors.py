"""Where cases run: in this process, in local worker processes, or on a Dask cluster.

Each runner takes ``(index, case)`` tasks and yields :class:`~.case.CaseResult` objects in
the order the cases finish; :func:`radiogenomics.extract.features` puts them back in
manifest order. A runner never raises for a case: even a worker process that dies (a crash
in a compiled library, the out-of-memory killer) becomes a failure of the case it was
running, and the other cases go on.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from . import case as case_module
from .case import CaseResult, describe

__all__ = ["run_dask", "run_processes", "run_sequential"]

Task = tuple[int, dict]

WORKER_DIED = (
    "the worker process extracting this case died (a crash in a compiled library "
    "or too little memory)"
)


def _work(index: int, case: dict, params: dict) -> CaseResult:
    # looked up on the module at call time, so that the function can be swapped in tests
    return case_module.extract_case(index, case, params)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_worker(parent_pid: int, sitk_threads: int) -> None:
    """Worker set-up: leave when the parent dies (kill -9), share the cores, stay quiet."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, sitk_threads))
    except Exception:  # pragma: no cover - SimpleITK is a dependency
        pass
    case_module._quiet_pyradiomics()


def run_sequential(tasks: Iterable[Task], params: dict) -> Iterator[CaseResult]:
    """Run the cases one after the other in this process."""
    for index, case in tasks:
        yield _work(index, case, params)


def _pool(n_workers: int, n_jobs: int) -> ProcessPoolExecutor:
    sitk_threads = max(1, (os.cpu_count() or 1) // max(1, n_jobs))
    return ProcessPoolExecutor(
        max_workers=n_workers, initializer=_init_worker, initargs=(os.getpid(), sitk_threads)
    )


def _isolated(index: int, case: dict, params: dict, n_jobs: int) -> CaseResult:
    pool = _pool(1, n_jobs)
    try:
        return pool.submit(_work, index, case, params).result()
    except BrokenProcessPool:
        return CaseResult(index=index, stage="worker", error=WORKER_DIED)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_processes(tasks: Iterable[Task], params: dict, n_jobs: int) -> Iterator[CaseResult]:
    """Run the cases in ``n_jobs`` local worker processes.

    When a worker dies, the pool is lost; the cases not finished then run again, each in a
    worker process of its own (still ``n_jobs`` at a time), so that only the case that
    kills its worker fails.
    """
    pending = dict(tasks)
    if not pending:
        return
    pool = _pool(min(n_jobs, len(pending)), n_jobs)
    futures = {pool.submit(_work, i, c, params): i for i, c in pending.items()}
    broken = finished = False
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                broken = True
                break
            pending.pop(result.index, None)
            yield result
        finished = not broken
    finally:
        # stopped early (an interrupt): do not wait for the cases still running
        pool.shutdown(wait=finished, cancel_futures=True)
    if not broken:
        return
    for future, index in futures.items():
        if (
            index in pending
            and future.done()
            and not future.cancelled()
            and future.exception() is None
        ):
            pending.pop(index)
            yield future.result()
    with ThreadPoolExecutor(max_workers=n_jobs) as threads:
        isolated = [threads.submit(_isolated, i, c, params, n_jobs) for i, c in pending.items()]
        try:
            for future in as_completed(isolated):
                yield future.result()
        finally:
            for future in isolated:
                future.cancel()


def run_dask(tasks: Iterable[Task], params: dict, client) -> Iterator[CaseResult]:
    """Run the cases on the workers of a ``dask.distributed`` client.

    The workers must be able to import ``radiogenomics`` and to read the image paths of
    the manifest. A case whose worker dies more often than Dask allows
    (``distributed.scheduler.allowed-failures``) becomes a failure of that case.
    """
    from distributed import as_completed as dask_completed

    tasks = list(tasks)
    if not tasks:
        return
    token = uuid.uuid4().hex[:12]
    futures = {
        client.submit(_work, i, c, params, pure=False, key=f"radiogenomics-extract-{token}-{i}"): i
        for i, c in tasks
    }
    finished = set()
    try:
        for future in dask_completed(list(futures)):
            index = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # KilledWorker, lost connection, ...
                result = CaseResult(index=index, stage="worker", error=describe(exc))
            finished.add(index)
            future.release()
            yield result
    finally:
        remaining = [f for f, i in futures.items() if i not in finished]
        if remaining:
            try:
                client.cancel(remaining)
            except Exception:  # pragma: no cover - the client may be gone already
                pass
