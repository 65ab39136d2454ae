"""Helpers for signal tests: start `capsim run` as a user would, find its processes, kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RUN = ["-n", "6", "--workers", "2", "--seed", "3", "--set", "scenario.end=2027-01-01",
       "--no-progress"]
"""A run of a few seconds on 2 cores: 6 replications of nine months."""
TABLES = ("kpis.parquet", "timeseries.parquet", "events.parquet")


def start(out: Path, *extra: str) -> subprocess.Popen:
    """`python -m capsim run --out OUT ...` in its own session (so nothing leaks to ours)."""
    return subprocess.Popen([sys.executable, "-m", "capsim", "run", "--out", str(out), *RUN,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process, None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def descendants(pid: int) -> set[int]:
    """Pids of every live process below `pid` (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st is not None and st[1] != "Z":
                parents[int(d)] = st[0]
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def alive(pids: set[int]) -> set[int]:
    """The pids of `pids` still running (zombies count as gone)."""
    return {p for p in pids if (st := _stat(p)) is not None and st[1] != "Z"}


def wait_for(cond, timeout: float = 120.0, every: float = 0.02) -> bool:
    """Poll `cond()` until true or timeout; True if it became true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(every)
    return False


def parts_done(out: Path) -> int:
    """Replications stored so far."""
    return len(list((out / "parts").glob("kpis-*.parquet"))) if (out / "parts").is_dir() else 0


def kill_and_check(proc: subprocess.Popen, sig: int, grace: float = 5.0) -> set[int]:
    """Send `sig` to the main process only; return the processes of the run alive `grace` s later.

    The workers are collected just before the signal; the main process is reaped.
    """
    workers = descendants(proc.pid)
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:  # it had finished already
        pass
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    wait_for(lambda: not alive(workers), timeout=grace)
    left = alive(workers)
    for p in left:  # never leave them to the next test
        os.kill(p, signal.SIGKILL)
    return left


def resume(out: Path) -> subprocess.CompletedProcess:
    """`python -m capsim run --resume OUT`."""
    return subprocess.run([sys.executable, "-m", "capsim", "run", "--resume", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=600)
