"""capsim compare: paired comparisons under common random numbers."""

from __future__ import annotations

import json

import pytest
from capsim.experiments.cli import main

SHORT = ["--set", "scenario.end=2028-04-01", "--no-progress", "--workers", "2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    a, b, c = tmp / "a", tmp / "b", tmp / "c"
    assert main(["run", "-n", "6", "--seed", "3", "--out", str(a), *SHORT]) == 0
    assert main(["run", "-n", "6", "--seed", "3", "--out", str(b), *SHORT,
                 "--set", "demand.growth_multiplier=1.3"]) == 0
    assert main(["run", "-n", "6", "--seed", "4", "--out", str(c), *SHORT]) == 0
    return tmp, a, b, c


def test_same_seed_is_paired_and_detects_more_demand(runs):
    tmp, a, b, _ = runs
    out = tmp / "cmp.json"
    plot = tmp / "cmp.png"
    assert main(["compare", str(a), str(b), "--json", str(out), "--plot", str(plot)]) == 0
    cmp = json.loads(out.read_text())
    assert cmp["paired"] is True
    # More demand from the announcement on: more of it unmet (the headline KPI) in no
    # replication less, and more on average. (The stress starts at the announcement, so
    # two years of it leave some replications without any shortage either way.)
    import pandas as pd

    u = cmp["kpis"]["unmet_demand_share"]
    ka, kb = (pd.read_parquet(d / "kpis.parquet").sort_index() for d in (a, b))
    assert (kb["unmet_demand_share"] >= ka["unmet_demand_share"] - 1e-12).all()
    assert u["diff_mean"] > 0 and u["b_mean"] > u["a_mean"]
    assert u["narrowing"] > 1  # common random numbers narrow the interval
    assert plot.stat().st_size > 10_000
    assert not (b / "plots" / "compare_vs_a.png").exists()  # the runs are only read


def test_a_run_against_itself_differs_by_exactly_zero(runs, tmp_path):
    _, a, _, _ = runs
    out = tmp_path / "self.json"
    assert main(["compare", str(a), str(a), "--json", str(out), "--plot",
                 str(tmp_path / "self.png")]) == 0
    import pandas as pd

    kp = pd.read_parquet(a / "kpis.parquet")
    checked = 0
    for name, r in json.loads(out.read_text())["kpis"].items():
        if kp[name].notna().sum() >= 2:  # an interval needs two values
            assert r["diff_mean"] == 0 and r["diff_ci95"] == [0, 0], name
            checked += 1
    assert checked >= 6


def test_other_seed_is_unpaired(runs, tmp_path):
    _, a, _, c = runs
    out = tmp_path / "u.json"
    assert main(["compare", str(a), str(c), "--json", str(out), "--plot",
                 str(tmp_path / "u.png")]) == 0
    assert json.loads(out.read_text())["paired"] is False


def test_compare_refuses_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "not a capsim run directory" in capsys.readouterr().err


def test_compare_prints_units_and_plots_the_paired_difference(runs, tmp_path, capsys,
                                                              monkeypatch):
    tmp, a, b, _ = runs
    capsys.readouterr()
    out = tmp_path / "cmp.svg"
    assert main(["compare", str(a), str(b), "--plot", str(out)]) == 0
    printed = capsys.readouterr().out
    head = next(ln for ln in printed.splitlines() if ln.startswith("KPI "))
    assert head.split()[-1] == "unit"
    row = next(ln for ln in printed.splitlines() if ln.startswith("lost_revenue_total_usd"))
    assert row.rstrip().endswith("USD") and "$" in row
    assert "% of tokens" in next(ln for ln in printed.splitlines()
                                 if ln.startswith("unserved_fraction"))
    assert "<svg" in out.read_text()
    # A bare --plot draws into the current directory, never into a run.
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(a), str(b), "--plot"]) == 0
    assert (tmp_path / "compare_a_vs_b.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--plot", "x.pdf"]) == 2
    assert ".png or .svg" in capsys.readouterr().err


def test_weekly_difference_interval_is_the_paired_t_interval():
    import numpy as np
    from capsim.experiments.pipelines.compare import weekly_difference
    from capsim.simcore import stats

    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, (12, 4))
    b = a + rng.normal(0.5, 0.1, (12, 4))
    m, lo, hi = weekly_difference(a, b, paired=True)
    for j in range(4):
        want = stats.mean_ci(b[:, j] - a[:, j])
        np.testing.assert_allclose([m[j], lo[j], hi[j]], want)
        u = stats.unpaired_difference(a[:, j], b[:, j])
    mu, lou, hiu = weekly_difference(a, b, paired=False)
    np.testing.assert_allclose([mu[-1], lou[-1], hiu[-1]], [u["diff_mean"], *u["diff_ci95"]])
    assert (hi - lo < hiu - lou).all()  # pairing narrows the interval


def test_compare_warns_on_a_partial_run_and_refuses_an_empty_one(runs, tmp_path, capsys):
    import shutil

    from capsim.simcore.store import RunStore

    _, a, b, _ = runs
    part = tmp_path / "part"
    shutil.copytree(b, part)
    m = json.loads((part / "manifest.json").read_text())
    m["status"] = "partial"
    (part / "manifest.json").write_text(json.dumps(m))
    capsys.readouterr()
    assert main(["compare", str(a), str(part), "--plot", str(tmp_path / "p.png")]) == 0
    cap = capsys.readouterr()
    assert "warning: run B" in cap.err and "partial" in cap.err
    assert cap.out.startswith("WARNING: run B")
    empty = tmp_path / "empty"
    store = RunStore.create(empty, {"capsim_version": "test", "scenario": "x", "seed": 3,
                                    "replications": 6})
    store.unlock()
    assert main(["compare", str(a), str(empty)]) == 2
    assert "no finished replication" in capsys.readouterr().err


def test_compare_leads_with_the_largest_paired_effects_in_the_run_tables_format(runs, capsys):
    import re

    from capsim.experiments.pipelines.compare import diff_value
    from capsim.experiments.pipelines.kpi_text import label

    import capsim

    _, a, b, _ = runs
    cmp = capsim.compare(a, b)
    rows = cmp.data["kpis"]
    sizes = [r["effect_size"] for r in rows.values()]
    known = [e for e in sizes if e is not None]
    assert known == sorted(known, reverse=True) and sizes[:len(known)] == known
    # The headline names the largest effects whose 95% interval excludes 0, in order.
    clear = [k for k, r in rows.items() if r["effect_size"]
             and (r["diff_ci95"][0] > 0 or r["diff_ci95"][1] < 0)]
    text = cmp.data["headline"]
    if clear:
        assert text.startswith("Largest paired effects of B against A: ")
        at = 0
        for k in clear[:3]:  # in order (a label may be part of another: search on from it)
            at = text.index(label(k), at) + len(label(k))
        assert f"({len(clear)} of {len(rows)} KPIs" in text
    else:
        assert text.startswith("No KPI changes clearly")
    assert main(["compare", str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert " ".join(text.split()) in " ".join(printed.split())
    table = printed[printed.index("KPI "):]
    assert not re.search(r"\d[eE][+-]?\d", table)  # no scientific notation
    dates = next(ln for ln in table.splitlines() if ln.startswith("first_short_month"))
    assert re.search(r"\b20\d\d-\d\d\b", dates) and " mo" in dates
    assert diff_value(0.012, "share of tokens") == "+1.2 pp"
    assert diff_value(-2.5e9, "USD") == "-$2.5B" and diff_value(0.25, "decimal year") == "+3.0 mo"


def test_the_plot_title_wraps_within_the_figure(runs, tmp_path):
    from capsim.simcore import plots

    import capsim

    _, a, b, _ = runs
    long = tmp_path / ("b-" + "with-a-very-long-run-directory-name" * 3)
    import shutil

    shutil.copytree(b, long)
    seen = {}

    def grab(fig, path):
        seen["title"] = fig._suptitle.get_text()
        seen["width"] = fig.get_figwidth()

    plots.before_save.append(grab)
    try:
        capsim.compare(a, long).plot(tmp_path / "c.png")
    finally:
        plots.before_save.remove(grab)
    lines = seen["title"].split("\n")
    assert len(lines) >= 2 and all(len(ln) <= seen["width"] * 9 for ln in lines)
