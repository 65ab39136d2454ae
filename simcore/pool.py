"""A local process pool that survives a dead worker and never blocks on shutdown.

Each worker has a pipe of its own (no queue shared by all workers, no feeder thread):
the parent sends a task's arguments, at most `DEPTH` at a time, and reads each result
as soon as the pipe is readable. Arguments shared by every task (the model class, the
scenario, the seed) go to a worker once, when it starts, not with every task.

A worker that dies (SIGKILL from the out-of-memory killer, a crash) is noticed at once:
its process sentinel or its pipe becomes readable. The task it was running is given to
a new worker once (a replication uses the same named streams wherever it runs, so its
results are unchanged); a second death on the same task raises `WorkerLost`. Shutdown
tells idle workers to stop and kills busy ones after a short grace: it never waits on a
full pipe.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import connection
from multiprocessing.context import BaseContext
from typing import Any

log = logging.getLogger(__name__)

DEPTH = 2
"""Tasks in flight per worker: one running, one waiting, so a worker never idles."""
RETRIES = 1
"""Times a task is given to a new worker after the worker running it died."""
GRACE_SECONDS = 2.0
"""How long shutdown waits for idle workers to exit before killing them."""


class WorkerLost(RuntimeError):
    """A worker process died running a task, and died again when the task was retried."""


def _portable(exc: BaseException) -> BaseException:
    """`exc`, or a RuntimeError saying what it was when it does not survive pickling."""
    exc.add_note("".join(traceback.format_exception(exc)).rstrip())
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 (any failure to pickle: send its text instead)
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def worker_main(conn: connection.Connection, init: Callable[[], None] | None,
                fn: Callable, shared: tuple) -> None:
    """A worker's loop: receive (key, args), send (key, ok, fn(*shared, *args)) back."""
    if init is not None:
        init()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg is None:
            return
        key, args = msg
        try:
            out: tuple = (key, True, fn(*shared, *args))
        except BaseException as exc:  # noqa: BLE001 (every failure goes to the parent)
            out = (key, False, _portable(exc))
        try:
            conn.send(out)
        except (EOFError, OSError):
            return


@dataclass
class _Worker:
    proc: Any
    conn: connection.Connection
    inflight: deque = field(default_factory=deque)


def _death(proc: Any) -> str:
    """How a worker ended, in words."""
    proc.join(0.5)
    code = proc.exitcode
    if code is None:
        return "stopped answering"
    if code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Pool:
    """Worker processes running `fn(*shared, *args)` for each task; see the module doc."""

    def __init__(self, ctx: BaseContext, workers: int, fn: Callable, shared: tuple,
                 init: Callable[[], None] | None = None) -> None:
        self.ctx, self.size, self.fn, self.shared, self.init = ctx, workers, fn, shared, init
        self.workers: list[_Worker] = []
        self.retried: dict[int, int] = {}

    def _spawn(self) -> _Worker:
        mine, theirs = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=worker_main,  # type: ignore[attr-defined]
                                args=(theirs, self.init, self.fn, self.shared),
                                name="capsim-worker", daemon=True)
        proc.start()
        theirs.close()
        return _Worker(proc, mine)

    def imap_unordered(self, argtuples: Iterable[tuple]) -> Iterator[Any]:
        """Yield each task's result as it finishes; re-raise a task's exception."""
        items = enumerate(argtuples)
        retry: deque[tuple[int, tuple]] = deque()
        exhausted = False
        while True:
            for w in list(self._fill()):
                while len(w.inflight) < DEPTH:
                    if retry:
                        task = retry.popleft()
                    elif not exhausted:
                        try:
                            task = next(items)
                        except StopIteration:
                            exhausted = True
                            break
                    else:
                        break
                    w.inflight.append(task)
                    try:
                        w.conn.send(task)
                    except OSError:  # died while idle: its tasks go to another worker
                        retry.extendleft(reversed(self._bury(w)))
                        break
            busy = [w for w in self.workers if w.inflight]
            if not busy:
                return
            ready = set(connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for w in busy:
                dead = w.proc.sentinel in ready
                while w.conn in ready or w.conn.poll():
                    ready.discard(w.conn)
                    try:
                        key, ok, value = w.conn.recv()
                    except (EOFError, OSError):
                        dead = True
                        break
                    w.inflight.popleft()
                    if not ok:
                        raise value
                    yield value
                if dead:
                    retry.extendleft(reversed(self._bury(w)))

    def _fill(self) -> list[_Worker]:
        """The workers, starting any that are missing (at first, or after a death)."""
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())
        return self.workers

    def _bury(self, w: _Worker) -> list[tuple[int, tuple]]:
        """Forget a dead worker; the tasks it held, to run again (or `WorkerLost`)."""
        self.workers.remove(w)
        how = _death(w.proc)
        w.conn.close()
        tasks = list(w.inflight)
        if not tasks:
            return []
        key, args = tasks[0]  # the one it was running
        self.retried[key] = self.retried.get(key, 0) + 1
        what = (f"task {args[0]!r}" if len(args) == 1 and len(repr(args[0])) < 60
                else f"task {key}")
        if self.retried[key] > RETRIES:
            raise WorkerLost(f"a worker process {how} running {what}, again after "
                             f"{RETRIES} retry on a new worker (out of memory?)")
        log.warning("capsim: a worker process %s running %s; running it again on a new "
                    "worker", how, what)
        return tasks

    def close(self) -> None:
        """Stop the workers: idle ones are told to exit, busy ones are killed."""
        for w in self.workers:
            if w.inflight:
                w.proc.kill()
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    w.proc.kill()
        deadline = _now() + GRACE_SECONDS
        for w in self.workers:
            w.proc.join(max(0.0, deadline - _now()))
            if w.proc.exitcode is None:
                w.proc.kill()
                w.proc.join(1.0)
            w.conn.close()
        self.workers = []


def _now() -> float:
    import time

    return time.monotonic()

