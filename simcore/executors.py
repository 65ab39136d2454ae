"""Executors: where replications run. Results never depend on the executor.

Each executor maps a top-level function over argument tuples and yields results as
they finish (any order); callers key results by replication, never by arrival order.
"""

from __future__ import annotations

import functools
import itertools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import popen_forkserver, spawn
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any

from capsim.simcore import tuning
from capsim.simcore.pool import Pool, WorkerLost  # noqa: F401  (WorkerLost: see pool)


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

    def imap_unordered(self, fn: Callable, argtuples: Iterable[tuple],
                       shared: tuple = ()) -> Iterator[Any]:
        """Yield fn(*shared, *args) for each args in completion order.

        `shared` holds the arguments every task has in common (a scenario): sent to each
        worker once, not with every task. `argtuples` is read as tasks are handed out,
        never all at once.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""


class SerialExecutor(Executor):
    """Runs everything in this process, in order; the reference for the others."""

    name = "serial"

    def imap_unordered(self, fn, argtuples, shared=()):  # noqa: D102
        for args in argtuples:
            yield fn(*shared, *args)


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
    """A local process pool (`simcore.pool`) that survives a dead worker.

    Workers are forked from a fork server: a fresh interpreter that imports only the
    modules the tasks need (the function's and those of the classes passed to it), not
    whatever this process has imported (tables, plotting). Forked from here, a worker
    would carry every page of those libraries in its resident memory. Workers import
    this process's main module only when a task is defined in it (a script run directly).
    The workers live until `close`, and across calls of `imap_unordered` with the same
    function and `shared` arguments (given to each worker once, when it starts).
    """

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = int(workers or os.cpu_count() or 1)
        self._pool: Pool | None = None
        self._ctx: Any = None

    def imap_unordered(self, fn, argtuples, shared=()):  # noqa: D102
        it = iter(argtuples)
        try:
            first = next(it)
        except StopIteration:
            return
        shared = tuple(shared)
        pool = self._pool
        if pool is None or pool.fn is not fn or len(pool.shared) != len(shared) or \
                any(a is not b for a, b in zip(pool.shared, shared, strict=True)):
            self.close()
            if self._ctx is None:
                preload = _modules_of(fn, shared + tuple(first))
                # Tasks defined in the main module (a script run directly) need it in
                # the workers.
                self._ctx = (multiprocessing.get_context("forkserver")
                             if "__main__" in preload else _LeanForkServer())
                self._ctx.set_forkserver_preload([m for m in preload if m != "__main__"])
            pool = self._pool = Pool(self._ctx, self.workers, fn, shared,
                                     init=functools.partial(_init_worker, os.getpid()))
        try:
            yield from pool.imap_unordered(itertools.chain([first], it))
        except BaseException:
            self.close()  # busy workers are killed: nothing waits on them
            raise

    def close(self) -> None:  # noqa: D102
        if self._pool is not None:
            self._pool.close()
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


CONNECT_SECONDS = 5
"""How long a Dask scheduler given by address may take to answer."""


class SchedulerError(RuntimeError):
    """A Dask scheduler address that is malformed or does not answer."""


def _connect(client_cls: Any, address: str) -> Any:
    """A client of the scheduler at `address`, or a `SchedulerError` naming it."""
    try:
        return client_cls(address, timeout=CONNECT_SECONDS)
    except Exception as exc:  # noqa: BLE001 (refused, timed out, malformed, not Dask)
        what = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise SchedulerError(f"dask scheduler {address!r}: cannot connect within "
                             f"{CONNECT_SECONDS} s: {what}") from None


def _dask_retries() -> int:
    import dask

    return int(dask.config.get("distributed.scheduler.allowed-failures", default=3)) + 1


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
            self._client = _connect(Client, scheduler)
        else:
            with dask.config.set(_local_worker_config()):
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster)
        from capsim.simcore.dask_tuning import TuneWorker

        self._client.register_plugin(TuneWorker())

    def imap_unordered(self, fn, argtuples, shared=()):  # noqa: D102
        from dask.distributed import as_completed

        # What every task shares (the scenario) goes to the workers once, not with every
        # task; the tasks are submitted as results come back, at most 2 x workers ahead.
        sent = [self._client.scatter(a, broadcast=True, hash=False)
                if not isinstance(a, int | float | str | bytes | type) else a
                for a in shared]
        it = iter(argtuples)
        queue = as_completed()
        for args in itertools.islice(it, 2 * self.workers):
            queue.add(self._client.submit(fn, *sent, *args, pure=False))
        for f in queue:
            try:
                value = f.result()
            except Exception as exc:
                if type(exc).__name__ == "KilledWorker":  # died on every retry
                    raise WorkerLost(f"dask: the workers running a task died "
                                     f"{_dask_retries()} times ({exc})") from None
                raise
            f.release()
            for args in itertools.islice(it, 1):
                queue.add(self._client.submit(fn, *sent, *args, pure=False))
            yield value

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
