"""Executors and resume: the same tables from any executor; a killed run loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from capsim.experiments.cli import main

SHORT = ["--set", "scenario.end=2027-06-01", "--no-progress"]


def _tables(d):
    return [pd.read_parquet(d / f"{t}.parquet") for t in ("kpis", "timeseries")]


@pytest.mark.slow
def test_dask_executor_gives_the_local_executors_tables(tmp_path):
    pytest.importorskip("dask.distributed")
    args = ["run", "--replications", "6", "--seed", "9", "--workers", "2", *SHORT]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--executor", "dask", "--out", str(tmp_path / "dask")]) == 0
    for a, b in zip(_tables(tmp_path / "local"), _tables(tmp_path / "dask"), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert main([*args, "--executor", "serial", "--out", str(tmp_path / "serial")]) == 0
    for a, b in zip(_tables(tmp_path / "local"), _tables(tmp_path / "serial"), strict=True):
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    n = 40
    args = ["run", "--replications", str(n), "--seed", "5", "--workers", "2", *SHORT]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "capsim.experiments.cli", *args,
                             "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while len(list((killed / "parts").glob("kpis-*.parquet"))) < 4:
            assert proc.poll() is None, "run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    m = json.loads((killed / "manifest.json").read_text())
    # The counter is updated just after each part is written, so a kill can land between
    # the two: it may trail the parts by one. Resume trusts the parts.
    assert m["status"] == "partial" and 3 <= m["replications_done"] < n
    assert main(["run", "--resume", str(killed), "--no-progress"]) == 0
    assert json.loads((killed / "manifest.json").read_text())["status"] == "complete"
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    for a, b in zip(_tables(tmp_path / "whole"), _tables(killed), strict=True):
        pd.testing.assert_frame_equal(a, b)
