"""Signals: SIGTERM behaves like Ctrl-C; SIGKILL of the main process leaves no worker.

After either, `--resume` gives byte-identical tables and every plot.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from procs import (
    RUN,
    TABLES,
    kill_and_check,
    parts_done,
    resume,
    start,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    p = subprocess.run([sys.executable, "-m", "capsim", "run", "--out", str(out), *RUN],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return out


def _same_as(reference: Path, out: Path) -> None:
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert {p.name for p in (out / "plots").iterdir()} == \
        {p.name for p in (reference / "plots").iterdir()}
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["replications_done"] == 6
    assert not (out / "parts").exists() and not (out / ".lock").exists()


def test_sigterm_keeps_the_run_partial_with_one_message_and_exit_143(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    assert wait_for(lambda: parts_done(out) >= 2)
    left = kill_and_check(proc, signal.SIGTERM)
    assert not left
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 143, err
    said = [x for x in err.splitlines() if "SIGTERM" in x]
    assert len(said) == 1 and f"capsim run --resume {out}" in said[0], err
    assert "Traceback" not in err
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "partial" and 2 <= m["replications_done"] < 6
    assert not (out / ".lock").exists()
    r = resume(out)
    assert r.returncode == 0, r.stderr
    _same_as(reference, out)


@pytest.mark.parametrize("moment", ["early", "random", "plotting"])
def test_sigkill_leaves_no_worker_and_resume_is_exact(reference, tmp_path, moment):
    out = tmp_path / "run"
    proc = start(out)
    if moment == "early":
        assert wait_for(lambda: parts_done(out) >= 1)
    elif moment == "random":
        assert wait_for(lambda: parts_done(out) >= random.Random(7).randint(1, 5))
    else:
        assert wait_for(lambda: (out / "plots").is_dir())
    assert not kill_and_check(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((out / "manifest.json").read_text())["status"] == "partial"
    r = resume(out)
    assert r.returncode == 0, r.stderr
    _same_as(reference, out)
