"""The benchmark script runs end to end in --quick mode and ends with its summary line.

No timing assertions: the machine may be busy; only the contract is checked.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAST_LINE = re.compile(
    r"^speedup_vs_naive=(\S+) replications_per_minute=(\S+) peak_rss_mb=(\S+)"
    r" speedup_vs_baseline=(\S+)$")


@pytest.mark.slow
def test_quick_benchmark_ends_with_three_positive_finite_numbers():
    proc = subprocess.run(
        [sys.executable, "-m", "capsim.experiments.benchmark", "--quick", "--replications", "2",
         "--workers", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{proc.stderr[-4000:]}"
    m = LAST_LINE.match(lines[-1])
    assert m, f"unexpected last line: {lines[-1]!r}"
    values = [float(v) for v in m.groups()]
    assert all(math.isfinite(v) and v > 0 for v in values), values


def test_bad_arguments_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "capsim.experiments.benchmark", "--replications", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2


def test_an_unknown_baseline_revision_exits_2_with_its_name():
    proc = subprocess.run(
        [sys.executable, "-m", "capsim.experiments.benchmark", "--quick",
         "--baseline", "no-such-revision-xyz"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no-such-revision-xyz" in proc.stderr and "Traceback" not in proc.stderr
