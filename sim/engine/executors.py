"""Where batches of runs are computed: in this process, in a local process pool, or on a Dask cluster.

Every executor has ``map(func, shared, items)``: it calls ``func(shared, item)`` for every item (a batch
of runs, a chunk of a grid, a set of calibration candidates) and yields the results as they finish, in
any order, keeping only a small window of items in flight so memory does not grow with the work.
``shared`` (a base scenario, the targets) is sent to each worker once; a local pool is kept for further
calls with the same ``shared`` object until ``close()``. ``func`` must be an importable module-level
function. ``run_jobs`` runs a list of jobs through an executor and returns their records in job order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from sim.engine.batch import Job, batches, run_batch
from sim.model.records import Records


@contextmanager
def no_main_reimport():
    """Processes started inside this block do not re-run the parent's ``__main__``.

    spawn and forkserver children re-import the parent's main script unless it is a package's
    ``__main__``. The work lives in importable modules, and the main script may not survive being
    re-run: a Streamlit page (AppTest and ``streamlit run`` swap ``sys.modules["__main__"]``), a notebook,
    a script without a ``__main__`` guard. So the children are shown a bare main module instead.
    """
    real = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, __spec__ is None
    try:
        yield
    finally:
        if real is not None:
            sys.modules["__main__"] = real


class SerialExecutor:
    """Runs everything in this process (``--workers 1``): no pool, easiest to debug."""
    name = "serial"

    def __init__(self):
        self.workers = 1

    def size(self) -> int:
        """How many batches run at once (what batch sizes are chosen for)."""
        return 1

    def map(self, func: Callable, shared: Any, items: Iterable) -> Iterator:
        for it in items:
            yield func(shared, it)

    def close(self) -> None:
        pass


# -- local process pool: ``shared`` is sent once per worker through the initializer
_SHARED: dict[str, Any] = {}


def _exit_with_parent() -> None:
    """Exit this worker as soon as the process that started it is gone, however it went (SIGKILL
    included). The parent keeps a pipe to every worker open while it lives (``parent_process().sentinel``
    under forkserver and spawn); a daemon thread waits for that pipe to close. Without this, an orphaned
    pool keeps computing, holds memory and keeps the parent's stdout open."""
    parent = mp.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:  # pragma: no cover (fork start method: not used for grids)
        return

    def watch() -> None:
        from multiprocessing.connection import wait as wait_fds

        wait_fds([sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(shared: Any) -> None:
    _SHARED["value"] = shared
    # Ctrl-C reaches the whole process group: the parent stops the pool, a worker must not die mid-task
    # on its own (a half-dead pool cannot be shut down cleanly)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()


def _call(func: Callable, item: Any) -> Any:
    return func(_SHARED["value"], item)


def start_method() -> str:
    """forkserver where available (a clean single-threaded server forks the workers, with the model
    preloaded), else spawn. Never plain fork: the parent may hold threads (progress bar, Dask, Streamlit)."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


MAX_TASKS_PER_WORKER = int(os.environ.get("CHIPSHIFT_MAX_TASKS_PER_WORKER", "8"))


class LocalExecutor:
    """A ProcessPoolExecutor with an explicit start method (``import mesa`` forces spawn process-wide)."""
    name = "local"

    def __init__(self, workers: int | None = None, method: str | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.method = method or start_method()
        self._pool: ProcessPoolExecutor | None = None
        self._shared: Any = None

    def size(self) -> int:
        return self.workers

    def _pool_for(self, shared: Any) -> ProcessPoolExecutor:
        """The worker pool for ``shared`` (kept between calls with the same object; a new one otherwise)."""
        if self._pool is not None and self._shared is shared:
            return self._pool
        self.close()
        ctx = mp.get_context(self.method)
        if self.method == "forkserver":
            ctx.set_forkserver_preload(["sim.engine.worker"])
        # a worker is replaced after MAX_TASKS_PER_WORKER tasks, so what a long grid leaves in a worker's
        # heap (fragmentation of large temporary arrays) cannot grow without bound
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(shared,), max_tasks_per_child=MAX_TASKS_PER_WORKER)
        self._shared = shared
        return self._pool

    def map(self, func: Callable, shared: Any, items: Iterable) -> Iterator:
        pool = self._pool_for(shared)
        window = 2 * self.workers
        it = iter(items)
        inflight = set()

        def submit(x) -> None:
            with no_main_reimport():  # a submit may start a worker process
                inflight.add(pool.submit(_call, func, x))

        try:
            for x in it:
                submit(x)
                if len(inflight) >= window:
                    break
            while inflight:
                done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
                for x in it:
                    submit(x)
                    if len(inflight) >= window:
                        break
        except BaseException:  # interrupted (Ctrl-C, SIGTERM) or abandoned: do not wait for running tasks
            self.abort()
            raise
        finally:
            for f in inflight:  # stopped early (an error, a cancelled consumer): drop what is queued
                f.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._shared = None

    def abort(self) -> None:
        """Stop now (Ctrl-C, SIGTERM, an error): terminate the workers instead of waiting for their tasks
        (their results would be discarded anyway: only the parent commits runs), then shut the pool down."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():  # pragma: no cover (SIGTERM is not ignored by workers)
                p.kill()
        pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Runs items on a Dask distributed cluster: ``scheduler`` (tcp://host:port), an existing ``client``,
    or a LocalCluster of ``workers`` single-threaded worker processes. Results come back to this process;
    only this process writes files, so workers need not share a file system with it."""
    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None, client=None):
        self.scheduler = scheduler
        self._own_client = client is None
        self._client = client
        self._cluster = None
        self.requested = workers
        self.workers = workers or 0

    def _connect(self):
        from distributed import Client, LocalCluster

        if self._client is None:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout="30s")
            else:
                n = max(1, self.requested or os.cpu_count() or 1)
                with no_main_reimport():
                    self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                 dashboard_address=":0")
                self._client = Client(self._cluster)
        n = sum(w.get("nthreads", 1) for w in self._client.scheduler_info().get("workers", {}).values())
        self.workers = max(1, n)
        return self._client

    def size(self) -> int:
        """Worker threads of the cluster (connects first, so batches are sized to the real cluster)."""
        self._connect()
        return self.workers

    def connect(self) -> None:
        """Reach the scheduler (or start the local cluster) now, so that an unreachable one is reported
        before anything is written."""
        self._connect()

    @property
    def address(self) -> str | None:
        return self._client.scheduler.address if self._client is not None else self.scheduler

    def map(self, func: Callable, shared: Any, items: Iterable) -> Iterator:
        from distributed import as_completed

        client = self._connect()
        shared_f = client.scatter(shared, broadcast=True, hash=False)
        window = 2 * self.workers + 2
        it = iter(items)
        ac = as_completed()
        live = set()
        try:
            for x in it:
                f = client.submit(func, shared_f, x, pure=False)
                ac.add(f)
                live.add(f)
                if len(live) >= window:
                    break
            for f in ac:
                live.discard(f)
                res = f.result()
                f.release()
                yield res
                for x in it:
                    nf = client.submit(func, shared_f, x, pure=False)
                    ac.add(nf)
                    live.add(nf)
                    if len(live) >= window:
                        break
        finally:
            for f in live:
                f.cancel()
            self.close()

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None, client=None):
    if kind == "dask" or scheduler or client is not None:
        return DaskExecutor(workers, scheduler, client)
    if kind == "serial":
        return SerialExecutor()
    if kind != "local":
        raise ValueError(f"unknown executor {kind!r} (serial, local or dask)")
    if workers == 1:
        return SerialExecutor()
    return LocalExecutor(workers)


def _run_batch_item(options: tuple[bool, tuple[str, ...]], item: tuple[int, list[Job]]) -> tuple[int, Records]:
    trace, details = options
    k, jobs = item
    return k, run_batch(jobs, trace=trace, details=details)


def run_jobs(jobs: Sequence[Job], executor=None, trace: bool = False,
             details: Sequence[str] = ("deliveries",), limit: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> Records:
    """Run ``jobs`` in batches through ``executor`` (default: in this process); records in job order.
    All jobs must share one horizon. ``progress(done_runs, total_runs)`` is called as batches finish.
    The records do not depend on the executor or on how the jobs were batched."""
    jobs = list(jobs)
    if not jobs:
        raise ValueError("no runs to do")
    ex = executor or SerialExecutor()
    parts = list(enumerate(batches(jobs, ex.size(), limit)))
    if len({(j.scenario.header.start, j.scenario.header.end) for j in jobs}) > 1:
        raise ValueError("runs of different horizons cannot be joined in one set of records")
    out: dict[int, Records] = {}
    done = 0
    for k, rec in ex.map(_run_batch_item, (bool(trace), tuple(details)), parts):
        out[k] = rec
        done += rec.n_runs
        if progress is not None:
            progress(done, len(jobs))
    return Records.concat([out[k] for k in range(len(parts))])
