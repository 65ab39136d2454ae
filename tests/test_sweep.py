"""Sweeps and sensitivity: known answers on toy models, and the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines.sweep import design
from capsim.simcore import sensitivity
from conftest import PRIORS


def test_prcc_ranks_a_toy_model_with_a_known_answer():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (200, 4))
    # Strong (range 6), medium and non-linear but monotone (range e - 1 = 1.7), weak and
    # negative (range 0.8), and no effect.
    y = 6 * x[:, 0] + np.exp(x[:, 1]) - 0.8 * x[:, 2] + rng.normal(0, 0.3, 200)
    est, lo, hi = sensitivity.prcc_with_ci(x, y, np.random.default_rng(0), boot=200)
    order = list(np.argsort(-np.abs(est)))
    assert order[:3] == [0, 1, 2] and order[3] == 3
    assert est[2] < 0 and hi[2] < 0           # the negative effect is resolved as negative
    assert lo[3] < 0 < hi[3]                  # the inert input's interval covers 0


def test_best_box_finds_the_planted_region():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (400, 3))
    outcome = (x[:, 1] > 0.7) | (rng.uniform(size=400) < 0.05)
    box = sensitivity.best_box(x, outcome, min_coverage=0.5)
    assert box.column == 1 and box.side == "above" and 0.6 <= box.threshold <= 0.8
    assert box.density > 0.8 > box.base_rate


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_designs_fill_their_ranges(method):
    d = design({"a": (0.0, 2.0), "b": (10.0, 20.0)}, 16, method, seed=4)
    assert d.shape == (16, 2)
    assert d["a"].between(0, 2).all() and d["b"].between(10, 20).all()
    # Space filling: every quarter of each range gets points.
    assert all(np.histogram(d[c], bins=4, range=r)[0].min() >= 2
               for c, r in (("a", (0, 2)), ("b", (10, 20))))


def test_sweep_then_sensitivity_cli(tmp_path, capsys):
    out = tmp_path / "sw"
    rc = main(["sweep", "--param", "demand.growth_multiplier=0.6:1.6",
               "--param", "datacenters.power_on_delay_days=0:365",
               "--param", "surges.intensity_multiplier=0:3", "--samples", "10", "-n", "1",
               "--workers", "2", "--set", "scenario.end=2028-04-01", "--set", PRIORS,
               "--out", str(out)])
    assert rc == 0
    df = pd.read_parquet(out / "sweep.parquet")
    assert len(df) == 10 and {"point", "replication", "demand.growth_multiplier"} <= set(df)
    capsys.readouterr()
    assert main(["sensitivity", str(out), "--json", str(tmp_path / "s.json"),
                 "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    r = json.loads((tmp_path / "s.json").read_text())
    ranking = [e["param"] for e in r["ranking"]]
    # Ranked by |PRCC|: the printed order is the file's, every swept input in it.
    assert sorted(ranking) == sorted(["demand.growth_multiplier",
                                      "datacenters.power_on_delay_days",
                                      "surges.intensity_multiplier"])
    assert f"1. {ranking[0]}" in printed
    assert (out / "plots" / "tornado_unserved_fraction.png").exists()
    assert (out / "plots" / "discovery_unserved_fraction.png").exists()
    # 10 points for 3 inputs is too few for trustworthy PRCC: warned and recorded.
    assert "warning: only 10 usable points for 3 inputs" in printed
    record = json.loads((out / "sensitivity_unserved_fraction.json").read_text())
    assert record["warnings"] and record["dropped_points"] == []
    # Points whose KPI has no value are dropped, named, and recorded.
    df.loc[df["point"].isin([2, 5]), "unserved_fraction"] = np.nan
    df.to_parquet(out / "sweep.parquet", index=False)
    assert main(["sensitivity", str(out), "--bootstrap", "20"]) == 0
    err = capsys.readouterr().err
    assert "2 of 10 design points dropped" in err and "points 2, 5" in err
    record = json.loads((out / "sensitivity_unserved_fraction.json").read_text())
    assert record["dropped_points"] == [2, 5] and record["points"] == 8


@pytest.mark.parametrize("param, fragment", [
    ("demand.growth_multiplier=2:1", "low < high"),
    ("demand.growth_multiplier=a:b", "with numbers"),
    ("demand.nope=0:1", "unknown key"),
    ("demand.cloud_share=0.5:1.5", "values must lie in [0, 1]"),
])
def test_bad_sweep_parameters_exit_2(tmp_path, capsys, param, fragment):
    assert main(["sweep", "--param", param, "--samples", "4", "--out", str(tmp_path / "x")]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_sweep_shows_a_progress_bar(tmp_path, capsys):
    from capsim.experiments.pipelines.sweep import run_sweep

    run_sweep(None, ["scenario.end=2026-10-01"], {"demand.growth_multiplier": (0.8, 1.2)}, 3,
              "lhs", 1, 1, 1, tmp_path / "sw", progress=True, executor="serial")
    err = capsys.readouterr().err
    assert "sweep" in err and "3/3" in err


def test_tornado_and_discovery_speak_the_registrys_labels(tmp_path):
    """Ticks, axes and titles name inputs and KPIs in words, with a finding in the title."""
    import re

    import numpy as np
    from capsim.experiments.pipelines import sweep
    from capsim.simcore import plots

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 2))
    result = {"kpi": "unserved_fraction", "points": 30, "names": ["demand.growth_multiplier",
                                                                  "surges.intensity_multiplier"],
              "ranking": [{"param": "demand.growth_multiplier", "prcc": 0.8, "ci95": [0.6, 0.9]},
                          {"param": "surges.intensity_multiplier", "prcc": -0.1,
                           "ci95": [-0.4, 0.2]}],
              "box": {"param": "demand.growth_multiplier", "side": "above", "threshold": 0.6,
                      "density": 0.9, "coverage": 0.7, "base_rate": 0.5},
              "x": x, "bad": x[:, 0] > 0.6}
    seen = []

    def grab(fig, path):
        ax = fig.axes[0]
        seen.append({"title": fig._suptitle.get_text().replace("\n", " "),
                     "ticks": [t.get_text() for t in ax.get_yticklabels()],
                     "axes": ax.get_xlabel() + " | " + ax.get_ylabel()})

    plots.before_save.append(grab)
    try:
        sweep.tornado(result, tmp_path / "t.png")
        sweep.discovery_plot(result, tmp_path / "d.png")
    finally:
        plots.before_save.remove(grab)
    tornado, discovery = seen
    assert tornado["title"].startswith("Growth multiplier (demand) drives tokens not served "
                                       "most (PRCC +0.80, 30 points)")
    assert set(tornado["ticks"]) == {"growth multiplier (demand)",
                                     "intensity multiplier (surges)"}
    assert discovery["title"].startswith("Tokens not served above its median in 90% of points "
                                         "with growth multiplier (demand) above 0.6")
    for shown in (*tornado.values(), *discovery.values()):
        assert not re.search(r"[a-z]+_[a-z]+", str(shown)), shown  # no snake_case name
