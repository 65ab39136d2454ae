"""capsim report: a self-contained HTML file; rendered in headless Chromium when installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from capsim.experiments.cli import main
from capsim.models.capacity import KPIS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "r"
    assert main(["run", "-n", "3", "--workers", "1", "--set", "scenario.end=2027-04-01",
                 "--no-progress", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    return out / "report.html"


def test_report_is_self_contained_with_kpis_and_plots(report):
    text = report.read_text()
    assert re.search(r"<table id=\"kpis\">", text)
    for name in KPIS:
        assert f"<code>{name}</code>" in text
    assert text.count('src="data:image/png;base64,') >= 4
    # Opens with no network: no external resources of any kind.
    assert not re.search(r"(src|href)=\"(https?:)?//", text)


CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")
def test_report_renders_in_headless_chromium(report, tmp_path):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    # The DOM after load: the KPI table is there and every image decoded (naturalWidth > 0).
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace(
        "</body>", "<script>window.addEventListener('load', () => document.body.setAttribute("
        "'data-imgs', Array.from(document.images).map(i => i.naturalWidth).join(',')))"
        "</script></body>"))
    dom = subprocess.run([CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'id="kpis"' in dom and "unserved_fraction" in dom
    widths = [int(w) for w in re.search(r'data-imgs="([0-9,]*)"', dom).group(1).split(",")]
    assert len(widths) >= 4 and all(w > 100 for w in widths)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2000",
                    report.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000
