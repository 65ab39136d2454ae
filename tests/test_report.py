"""capsim report: the answer first, tables with units, plots by question; headless Chromium.

The browser test runs wherever Chromium is installed and FAILS under CI=true when none is
found (.ci/run installs it), so that it can never be skipped silently in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines import answer, figures, report
from capsim.models.capacity import KPIS
from capsim.simcore import stats


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "r"
    assert main(["run", "-n", "6", "--workers", "1", "--set", "scenario.end=2027-04-01",
                 "--no-progress", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def html(run):
    return (run / "report.html").read_text()


def _text(fragment: str) -> str:
    import html as h

    fragment = fragment.replace("<wbr>", "")  # a break opportunity, not a space
    return h.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip())


def test_report_is_self_contained_with_kpis_and_plots(html):
    assert '<table id="kpis">' in html
    for name in KPIS:
        assert f"<code>{name}</code>" in html.replace("<wbr>", "")
    assert html.count('src="data:image/png;base64,') >= 8
    # Opens with no network: no external resources of any kind.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "@media print" in html


def test_the_answer_comes_first_and_matches_the_run(run, html):
    body = html[html.index("<body>"):]
    order = [body.index(s) for s in ('id="answer"', 'id="toc"', 'id="kpis"', 'id="clouds"',
                                     'id="generations"', 'id="assumptions"', 'id="caveats"')]
    assert order == sorted(order)
    assert body.index('id="answer"') < body.index("<img")
    summary = json.loads((run / "summary.json").read_text())
    kp = pd.read_parquet(run / "kpis.parquet")
    sentence = _text(re.search(r'id="answer-sentence">(.*?)</p>', html, re.S).group(1))
    # The probability and its Wilson interval, recomputed from the per-replication table.
    k = int(kp["p_shortfall_any"].sum())
    p, lo, hi = stats.proportion_ci(k, len(kp))
    assert answer.pct(p) in sentence and f"{answer.pct(lo)}-{answer.pct(hi)}" in sentence
    # It leads with unmet demand and the revenue it forgoes.
    unmet = summary["kpis"]["unmet_demand_share"]["mean"]
    assert sentence.startswith(answer.pct(unmet) + " of the demand the market would bring")
    assert "forgoing $" in sentence
    # The never-adequate share is the share of replications with no sustained adequate run.
    never = int(kp["sustained_adequacy_date"].isna().sum())
    assert never == int(kp["p_never_sustained_adequate"].sum())
    s, lo, hi = stats.proportion_ci(never, len(kp))
    assert f"never stays adequate for 12 months in a row before 2027-04 in {answer.pct(s)}" \
        in sentence
    assert summary["kpis"]["sustained_adequacy_date"]["n_missing"] == never


def test_kpi_rows_have_units_and_definitions(html):
    table = html[html.index('<table id="kpis">'):]
    table = table[:table.index("</table>")].replace("<wbr>", "")
    rows = re.findall(r"<tr><td><code>(\w+)</code></td><td class=\"def\">(.*?)</td>.*?"
                      r"<td class=\"text\">(.*?)</td></tr>", table, re.S)
    assert len(rows) >= len(KPIS)
    for name, definition, unit in rows:
        assert len(_text(definition)) > 15, name
        assert unit.strip(), name


def test_by_cloud_and_by_generation_tables(html):
    gens = html[html.index('<table id="generations">'):]
    gens = gens[:gens.index("</table>")]
    for g in ("trainium2", "trainium3"):
        assert g in gens
    assert "installed compute (reference tokens/s)" in gens
    assert "AWS" in html[html.index('<table id="clouds">'):]


def test_plots_grouped_by_question_with_captions(run, html):
    made = json.loads((run / "plots" / figures.CAPTIONS).read_text())
    assert set(made) >= {"fan_chart", "shortfall_probability", "slo_heatmap", "kpi_ecdf"}
    for f in figures.FIGURES:
        if f'id="fig-{f.name}"' in html:
            fig = html[html.index(f'id="fig-{f.name}"'):]
            caption = made.get(f.name, f.caption)
            assert _text(caption) in _text(fig[:fig.index("</figure>")]), f.name
    found = [g for g in figures.GROUPS if f'<section class="plots" id="{g}">' in html]
    assert found == [g for g in figures.GROUPS if g in found] and len(found) >= 4
    toc = html[html.index('id="toc"'):html.index("</nav>")]
    for g in found:
        assert f'href="#{g}"' in toc


def test_captions_are_computed_from_the_runs_data(run):
    """The fan chart's caption says "shaded" only when some week's median demand is high.

    Shading needs a week whose median demand is above the median capacity without the
    loan; the index's own captions (for plots drawn before captions) name no colour.
    """
    ts = pd.read_parquet(run / "timeseries.parquet",
                         columns=["replication", "date", "demand_tps", "capacity_own_tps"])
    ts = ts.sort_values(["replication", "date"])
    days = ts["date"].nunique() // 7 * 7

    def weekly(col):
        x = ts[col].to_numpy(float).reshape(ts["replication"].nunique(), -1)[:, :days]
        return np.median(x.reshape(x.shape[0], -1, 7).mean(axis=2), axis=0)

    weeks = int((weekly("demand_tps") > weekly("capacity_own_tps")).sum())
    made = json.loads((run / "plots" / figures.CAPTIONS).read_text())
    if weeks:
        assert f"in {weeks} weeks (shaded)" in made["fan_chart"]
    else:
        assert "nothing is shaded" in made["fan_chart"]
    reps = f"of {len(pd.read_parquet(run / 'kpis.parquet'))} replications"
    assert reps in made["fan_chart"]
    for f in figures.FIGURES:
        assert not re.search(r"\b(red|green)\b|50% line", f.caption, re.I), f.name


def test_sensitivity_drivers_and_history_section(run, tmp_path):
    sens = tmp_path / "sensitivity_unserved_fraction.json"
    ranking = [{"param": p, "prcc": v, "ci95": [v - 0.1, v + 0.1]}
               for p, v in (("demand.growth_multiplier", 0.9), ("surges.intensity_multiplier",
                                                               -0.4),
                            ("datacenters.power_on_delay_days", 0.2), ("x.unused", 0.05))]
    sens.write_text(json.dumps({"kpi": "unserved_fraction", "points": 40, "ranking": ranking,
                                "warnings": []}))
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["history"] = {"inside": 3, "total": 4, "observations": [
        {"name": "run-rate 2026-04", "observed": "$30B", "inside": True}]}
    (copy / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "r.html"
    assert main(["report", str(copy), "--out", str(out), "--sensitivity", str(tmp_path)]) == 0
    text = out.read_text()
    drivers = _text(re.search(r'id="drivers">(.*?)</p>', text, re.S).group(1))
    pos = [drivers.index(p) for p in ("growth_multiplier", "intensity_multiplier",
                                      "power_on_delay_days")]
    assert pos == sorted(pos) and "x.unused" not in drivers and "PRCC +0.90" in drivers
    assert "3 of 4 public observations" in text and "run-rate 2026-04" in text
    # Without a history section (a scenario with no observations) the report leaves it out.
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    summary.pop("history")
    (bare / "summary.json").write_text(json.dumps(summary))
    assert main(["report", str(bare), "--out", str(tmp_path / "bare.html")]) == 0
    assert 'id="history"' not in (tmp_path / "bare.html").read_text()


def test_report_refuses_a_missing_sensitivity_result(run, tmp_path, capsys):
    assert main(["report", str(run), "--out", str(tmp_path / "x.html"),
                 "--sensitivity", str(tmp_path)]) == 2
    assert "sensitivity" in capsys.readouterr().err


def test_decimal_years_read_as_months():
    assert answer.month_of(2026.2466) == "2026-04"
    assert answer.month_of(2030 + 4 / 12) == "2030-05"
    assert answer.month_of(float("nan")) == "-"


CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _browser() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but no headless Chromium found (chromium, chromium-browser or "
                        "google-chrome); .ci/run installs it with apt-get")
        pytest.skip("no headless Chromium installed (apt-get install chromium)")
    return CHROMIUM


def test_first_screen_holds_the_answer_in_headless_chromium(run, tmp_path):
    """In a 1366 x 768 window the answer sentence is rendered, in full, in the first screen.

    A screenshot of that window is taken; the DOM after load carries, through a small
    inline script, the sentence's bounding box and every image's decoded width, which is
    what is checked (the screenshot's pixels are not read as text).
    """
    browser = _browser()
    flags = [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1366,768",
             "--hide-scrollbars"]
    page = run / "report.html"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", """<script>
window.addEventListener('load', () => {
  const r = document.getElementById('answer-sentence').getBoundingClientRect();
  const b = document.body;
  b.setAttribute('data-answer', [r.top, r.bottom, r.left, r.right].join(','));
  b.setAttribute('data-viewport', [window.innerWidth, window.innerHeight].join(','));
  b.setAttribute('data-imgs', Array.from(document.images).map(i => i.naturalWidth).join(','));
});
</script></body>"""))
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=180).stdout
    top, bottom, left, right = (float(v) for v in
                                re.search(r'data-answer="([^"]+)"', dom).group(1).split(","))
    width, height = (int(v) for v in re.search(r'data-viewport="([^"]+)"', dom).group(1)
                     .split(","))
    # A 1366 x 768 window: the page's viewport is that or smaller (headless Chromium keeps
    # room for a window frame, as a laptop browser does); the sentence must fit in it.
    assert width == 1366 and 500 <= height <= 768
    assert 0 <= top < bottom <= height and 0 <= left < right <= width
    sentence = _text(re.search(r'id="answer-sentence">(.*?)</p>', dom, re.S).group(1))
    assert re.search(r"in \d+% of 6 replications \(95% CI [\d.]+%-\d+%\)", sentence)
    assert re.search(r"never stays adequate for \d+ months in a row before \d{4}-\d\d in \d+% "
                     r"\(95% CI", sentence)
    widths = [int(w) for w in re.search(r'data-imgs="([0-9,]*)"', dom).group(1).split(",")]
    assert len(widths) >= 8 and all(w > 100 for w in widths)
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=180)
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (768, 1366)
    # Not a blank page: the answer block's tinted background and text are drawn.
    assert (img[..., :3] < 0.9).any(axis=2).mean() > 0.02
    assert np.isfinite(img).all()


def test_service_kpis_of_newer_runs_are_named_when_present(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["kpis"]["loan_share"] = {"mean": 0.12, "ci95": [0.1, 0.14], "p05": 0.0,
                                     "p50": 0.11, "p95": 0.3, "unit": "share of serving capacity"}
    (copy / "summary.json").write_text(json.dumps(summary))
    text = _text(report.render(copy))
    assert "training lends 12% of serving capacity on average (median 11%)" in text.lower()
    row = re.search(r"loan_share (.*?) % of serving capacity", text).group(1)
    # The terminal's format: a share as a percentage, the interval as "lo to hi".
    assert "12% 10% to 14% 11% 0% to 30%" in row


TABLES = """<script>
window.addEventListener('load', () => {
  const out = Array.from(document.querySelectorAll('table')).map((t, i) => {
    const box = t.parentElement.getBoundingClientRect(), r = t.getBoundingClientRect();
    return [t.id || 'table' + i, t.scrollWidth, r.right, box.width, box.right].join(':');
  });
  document.body.setAttribute('data-tables', out.join(';'));
  document.body.setAttribute('data-page', [document.documentElement.scrollWidth,
                                           window.innerWidth].join(','));
});
</script></body>"""


def test_no_table_overflows_the_text_column_at_1366_px(run, tmp_path):
    """Every table's width (scrollWidth, its right edge) stays within its container's."""
    browser = _browser()
    probe = tmp_path / "tables.html"
    probe.write_text((run / "report.html").read_text().replace("</body>", TABLES))
    dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--window-size=1366,768", "--hide-scrollbars",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    page, window = (int(v) for v in re.search(r'data-page="([^"]+)"', dom).group(1).split(","))
    assert page <= window == 1366  # no horizontal scrolling of the page
    tables = [t.split(":") for t in re.search(r'data-tables="([^"]+)"', dom).group(1).split(";")]
    assert {"kpis", "history-table", "clouds", "generations"} <= {t[0] for t in tables}
    for name, scroll, right, width, box_right in tables:
        assert float(scroll) <= float(width) + 1, (name, scroll, width)
        assert float(right) <= float(box_right) + 1, (name, right, box_right)
