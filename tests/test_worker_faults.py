"""A dead worker never hangs a run: the pool and Dask notice it, retry, or end partial.

SIGKILL of a worker (what the out-of-memory killer does) mid-run: the replication runs
again on a new worker with the same streams, so the tables equal an uninterrupted run's;
a worker that dies again on the same replication ends the run "partial" within seconds,
with the resume hint, and `--resume` then completes it identically.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capsim.simcore.executors import ProcessExecutor, SchedulerError, WorkerLost
from capsim.simcore.pool import RETRIES
from procs import RUN, TABLES, _stat, descendants, parts_done, resume, start, wait_for


def _die_first_time(marker: str, i: int) -> int:
    """A task that kills its worker the first time it runs replication 2."""
    if i == 2 and not os.path.exists(marker):
        Path(marker).write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return i * i


def _always_die(i: int) -> int:
    if i == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def test_a_task_whose_worker_died_runs_again_with_the_same_result(tmp_path):
    ex = ProcessExecutor(2)
    try:
        got = sorted(ex.imap_unordered(_die_first_time, ((i,) for i in range(6)),
                                       shared=(str(tmp_path / "marker"),)))
    finally:
        ex.close()
    assert got == [i * i for i in range(6)]
    assert (tmp_path / "marker").exists()


def test_a_task_that_kills_every_worker_ends_the_call_quickly():
    ex = ProcessExecutor(2)
    t0 = time.monotonic()
    with pytest.raises(WorkerLost, match="SIGKILL.*task 1"):
        try:
            list(ex.imap_unordered(_always_die, ((i,) for i in range(50))))
        finally:
            ex.close()
    assert time.monotonic() - t0 < 10
    assert RETRIES == 1


def _workers(main: int) -> set[int]:
    """The pool's workers: processes below the fork server (grandchildren of `main`)."""
    children = {p for p in descendants(main) if (st := _stat(p)) and st[0] == main}
    return descendants(main) - children


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    p = subprocess.run([sys.executable, "-m", "capsim", "run", "--out", str(out), *RUN],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return out


def _same_tables(reference: Path, out: Path) -> None:
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["replications_done"] == 6
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
def test_sigkill_of_a_pool_worker_is_retried_and_the_run_is_exact(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    assert wait_for(lambda: parts_done(out) >= 1 and _workers(proc.pid))
    os.kill(sorted(_workers(proc.pid))[0], signal.SIGKILL)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "was killed by SIGKILL" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 60  # the remaining replications, not a hang
    _same_tables(reference, out)


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="known: on a busy machine the run can finish on "
                   "replacement workers the kill loop does not find, exiting 0, not 74")
def test_workers_that_keep_dying_end_the_run_partial_and_resume_is_exact(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    assert wait_for(lambda: parts_done(out) >= 1)
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 30:  # an OOM killer gone mad
        for pid in _workers(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10, "the run did not end within 10 s of the kills"
    assert proc.returncode == 74, err
    assert "Traceback" not in err and f"capsim run --resume {out}" in err, err
    assert json.loads((out / "manifest.json").read_text())["status"] == "partial"
    r = resume(out)
    assert r.returncode == 0, r.stderr
    _same_tables(reference, out)


@pytest.mark.slow
def test_a_dead_dask_worker_is_replaced_and_the_run_is_exact(reference, tmp_path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "run"
    proc = start(out, "--executor", "dask")
    assert wait_for(lambda: parts_done(out) >= 1, timeout=300)
    victims = [p for p in descendants(proc.pid)
               if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
               or b"forkserver" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert victims
    os.kill(victims[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    _same_tables(reference, out)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "not an address::", "tcp://:x"])
def test_a_bad_dask_scheduler_is_refused_quickly_naming_it(address):
    pytest.importorskip("dask.distributed")
    from capsim.simcore.executors import DaskExecutor

    t0 = time.monotonic()
    with pytest.raises(SchedulerError, match="dask scheduler"):
        DaskExecutor(1, address)
    assert time.monotonic() - t0 < 10
