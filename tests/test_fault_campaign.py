"""The fault campaign (tests/fault_campaign.py), a bounded count of each kind of fault.

CI's slow tests run two cases of every category and two fuzzed inputs; a user runs the
whole campaign with `python tests/fault_campaign.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CAMPAIGN = Path(__file__).with_name("fault_campaign.py")


@pytest.mark.slow
def test_a_bounded_fault_campaign_passes():
    r = subprocess.run([sys.executable, str(CAMPAIGN), "--limit", "2", "--fuzz", "2"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 failures; exit 1: 0, hangs: 0" in r.stdout, r.stdout
    cases = int(r.stdout.strip().splitlines()[-2].split()[0])
    assert cases >= 18  # two of each category at least
