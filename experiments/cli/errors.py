"""Exit codes of the `capsim` command and the errors it tells apart.

A user mistake (`UsageError`, `ScenarioError`, `StoreError`) exits 2, an environment
failure (disk full, read-only, permission denied) 74, Ctrl-C 130, SIGTERM 143, and
anything else is a bug: exit 1 with the traceback in a log file.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import traceback

from capsim.experiments.pipelines.checks import UsageError
from capsim.models.scenario import ScenarioError
from capsim.simcore.executors import SchedulerError, WorkerLost
from capsim.simcore.store import StoreError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_TARGET_NOT_MET = 0, 1, 2, 3
EXIT_ENVIRONMENT = 74  # EX_IOERR
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 128 + signal.SIGTERM

ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                      errno.EIO, errno.EFBIG, errno.EMFILE, errno.ENFILE}
"""OSErrors that are the machine's state (disk, permissions), not capsim's bug."""
_ENVIRONMENT_TEXT = ("No space left on device", "Read-only file system", "Permission denied",
                     "Disk quota exceeded", "File too large")


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled like Ctrl-C (the run is kept as "partial"), but exits 143."""


def on_sigterm(signum, frame) -> None:
    """The SIGTERM handler: raise `Terminated` in the main thread."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one message, one clean-up
    raise Terminated()


def environment_error(exc: BaseException) -> str | None:
    """A one-line description if `exc` is an environment error (disk, permissions), else None."""
    if not isinstance(exc, OSError):
        return None
    text = str(exc)
    if exc.errno in ENVIRONMENT_ERRNOS:
        what = exc.strerror or os.strerror(exc.errno)
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write or read{where}: {what}"
    for t in _ENVIRONMENT_TEXT:  # Arrow's I/O errors carry no errno
        if t in text:
            return f"{t} ({text.splitlines()[0][:200]})"
    return None


def exit_code(exc: BaseException) -> int:
    """Print one message for an exception that ended a command; the exit code."""
    if isinstance(exc, UsageError):
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, ScenarioError):
        for p in exc.problems:
            print(f"capsim: {exc.source}: {p}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, SchedulerError):
        print(f"capsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, WorkerLost):  # the machine killed a worker twice (out of memory?)
        print(f"capsim: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    if isinstance(exc, StoreError):
        print(f"capsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        if isinstance(exc, Terminated):
            print("capsim: stopped by SIGTERM", file=sys.stderr)
            return EXIT_TERMINATED
        print("capsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):  # the reader closed the pipe (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    msg = environment_error(exc)
    if msg is not None:
        print(f"capsim: {msg}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    # Internal error: short message, details in a log.
    fd, log = tempfile.mkstemp(prefix="capsim-error-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        traceback.print_exception(exc, file=fh)
    print(f"capsim: internal error: {type(exc).__name__}: {exc} (details: {log})",
          file=sys.stderr)
    return EXIT_INTERNAL
