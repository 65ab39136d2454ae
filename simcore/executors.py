"""Executors: where replications run. Results never depend on the executor.

Each executor maps a top-level function over argument tuples and yields results as
they finish (any order); callers key results by replication, never by arrival order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import popen_forkserver, spawn
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any

from capsim.simcore import tuning


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent(parent: int) -> None:
    """Pool worker initializer: end with the process that made the pool, leave signals to it.

    A worker's own parent is the pool's fork server (see `ProcessExecutor`), which ends
    when `parent` does. Two guards, because either alone leaves orphans: on Linux,
    PR_SET_PDEATHSIG asks the kernel for SIGKILL when the worker's own parent dies (even
    by SIGKILL), but only if it was still alive when the call was made, and only for the
    thread that started the worker; and a daemon thread polls both processes and ends
    the worker when either is gone (any POSIX). Ctrl-C and SIGTERM are ignored here: the
    parent gets them, keeps the finished replications and shuts the pool down.
    """
    import signal
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    own = os.getppid()

    def watch() -> None:
        while os.getppid() == own and _alive(parent):
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    if own == 1 or not _alive(parent):  # a parent died before the guards were up
        os._exit(1)
    threading.Thread(target=watch, name="capsim-parent-watch", daemon=True).start()


PARENT_POLL_SECONDS = 0.5
"""How often a pool worker checks that the process that started it is alive."""


def _init_worker(parent: int) -> None:
    """Pool worker initializer: die with the parent, then the worker's process tuning."""
    _die_with_parent(parent)
    tuning.become_worker()


class Executor:
    """Interface: `imap_unordered(fn, argtuples)` yields fn(*args) as results complete."""

    name = "base"
    workers = 1

    def imap_unordered(self, fn: Callable, argtuples: Iterable[tuple]) -> Iterator[Any]:
        """Yield results in completion order."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""


class SerialExecutor(Executor):
    """Runs everything in this process, in order; the reference for the others."""

    name = "serial"

    def imap_unordered(self, fn, argtuples):  # noqa: D102
        for args in argtuples:
            yield fn(*args)


class _LeanPopen(popen_forkserver.Popen):
    """Starts a worker without the parent's ``__main__``.

    A fork-server (or spawned) worker imports the parent's main module before its first
    task, for tasks defined there. Ours are never defined there, and the main module of a
    command (the console script, or ``python -m``'s module) imports the whole command
    line: tables, plotting, every experiment, about 30 MB of resident memory per worker.
    """

    def _launch(self, process_obj: Any) -> None:
        real = spawn.get_preparation_data

        def lean(name: str) -> dict[str, Any]:
            data = real(name)
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            return data

        spawn.get_preparation_data = lean
        try:
            super()._launch(process_obj)  # type: ignore[misc]  # not in the stubs
        finally:
            spawn.get_preparation_data = real


class _LeanProcess(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _LeanPopen:  # noqa: N802 (multiprocessing's name)
        return _LeanPopen(process_obj)


class _LeanForkServer(ForkServerContext):
    Process = _LeanProcess


def _modules_of(fn: Callable, args: tuple) -> list[str]:
    """The modules a task needs: the function's, and those of the classes among its args."""
    mods = [fn.__module__] + [a.__module__ for a in args if isinstance(a, type)]
    return [m for m in dict.fromkeys(mods) if m in sys.modules]


class ProcessExecutor(Executor):
    """A local process pool; keeps at most 2 x workers tasks in flight to bound memory.

    Workers are forked from a fork server: a fresh interpreter that imports only the
    modules the tasks need (the function's and those of the classes passed to it), not
    whatever this process has imported (tables, plotting). Forked from here, a worker
    would carry every page of those libraries in its resident memory. Workers import
    this process's main module only when a task is defined in it (a script run directly).
    """

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = int(workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def imap_unordered(self, fn, argtuples):  # noqa: D102
        pending: set[Future] = set()
        it = iter(argtuples)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * self.workers:
                try:
                    args = next(it)
                except StopIteration:
                    exhausted = True
                    break
                if self._pool is None:
                    self._pool = self._start(_modules_of(fn, args))
                pending.add(self._pool.submit(fn, *args))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()

    def _start(self, preload: list[str]) -> ProcessPoolExecutor:
        # Tasks defined in the main module (a script run directly) need it in the workers.
        ctx = (multiprocessing.get_context("forkserver") if "__main__" in preload
               else _LeanForkServer())
        ctx.set_forkserver_preload([m for m in preload if m != "__main__"])
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                   initializer=_init_worker, initargs=(os.getpid(),))

    def close(self) -> None:  # noqa: D102
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _local_worker_config() -> dict[str, Any]:
    """Dask settings for the workers of a local cluster started here.

    Dask's nanny sets MALLOC_TRIM_THRESHOLD_ for its workers, which makes glibc hand every
    freed large array back to the kernel: a replication allocates many, and each was
    paged in again (a replication took 0.32 s in a worker instead of 0.19 s). The
    workers keep glibc's defaults instead (other variables as Dask sets them), and do not
    run Dask's sampling profiler (a few percent of a replication). The cluster's own
    housekeeping (event-loop ticks every 20 ms, system monitor every 0.5 s, memory
    monitor every 0.1 s, in every process) took 9.5% of a core while idle, taken from
    the replications when every core runs a worker; at 1-2 s intervals it takes 3%.
    """
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {"distributed.nanny.pre-spawn-environ": env,
            "distributed.worker.profile.enabled": False,
            "distributed.admin.tick.interval": "1s",
            "distributed.admin.system-monitor.interval": "2s",
            "distributed.worker.memory.monitor-interval": "1s"}


class DaskExecutor(Executor):
    """dask.distributed: a given scheduler address, or a LocalCluster started here."""

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # the optional extra is missing
            raise RuntimeError(
                "the dask executor needs the 'distributed' extra: pip install 'capsim[distributed]'"
            ) from exc
        self.workers = int(workers or os.cpu_count() or 1)
        if scheduler:
            self._cluster = None
            self._client = Client(scheduler)
        else:
            with dask.config.set(_local_worker_config()):
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster)
        from capsim.simcore.dask_tuning import TuneWorker

        self._client.register_plugin(TuneWorker())

    def imap_unordered(self, fn, argtuples):  # noqa: D102
        from dask.distributed import as_completed

        # Objects shared by many tasks (the scenario) go to the workers once, not with
        # every task; numbers, strings and classes travel with the task.
        shared: dict[int, tuple[Any, Any]] = {}

        def send(a: Any) -> Any:
            if a is None or isinstance(a, int | float | str | bytes | type):
                return a
            if id(a) not in shared:
                shared[id(a)] = (a, self._client.scatter(a, broadcast=True, hash=False))
            return shared[id(a)][1]

        futures = [self._client.submit(fn, *map(send, args), pure=False) for args in argtuples]
        for f in as_completed(futures):
            yield f.result()
            f.release()

    def close(self) -> None:  # noqa: D102
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


EXECUTORS = ("serial", "processes", "dask")


def make_executor(name: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Build an executor by name: serial, processes (local pool) or dask."""
    if name == "serial" or (name == "processes" and workers == 1):
        return SerialExecutor()
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers, scheduler)
    raise ValueError(f"executor(={name!r}) must be one of {', '.join(EXECUTORS)}")
