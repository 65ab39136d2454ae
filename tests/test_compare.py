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
    u = cmp["kpis"]["unserved_fraction"]
    assert u["diff_ci95"][0] > 0 and u["b_mean"] > u["a_mean"]
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
