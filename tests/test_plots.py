"""Plots: the generic stacked area and panels, and the per-run plots `capsim run` draws."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.figures import _Weekly
from capsim.experiments.runs import KPI_UNITS, format_value
from capsim.models.capacity import KPIS, MILESTONES
from capsim.simcore import plots

SHORT = ["--set", "scenario.end=2027-04-01", "--no-progress", "-n", "2", "--workers", "1"]
NEW_PLOTS = ("capacity_by_generation.png", "capacity_by_cloud.png", "chips_by_state.png",
             "spend_vs_commitment.png", "revenue.png")


def _assert_image(path: Path) -> None:
    assert path.exists(), path.name
    assert path.stat().st_size > 10_000, path.name
    img = mpimg.imread(path)
    assert img.shape[1] > 500 and img.shape[0] > 300, (path.name, img.shape)
    # Not a blank canvas: a good share of pixels differ from the white background.
    assert (img[..., :3] < 0.95).any(axis=2).mean() > 0.02, path.name


@pytest.fixture(scope="module", params=["default", "anthropic-multicloud-2026"])
def run_dir(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("plots") / request.param
    scenario = [] if request.param == "default" else [request.param]
    assert main(["run", *scenario, "--out", str(out), *SHORT]) == 0
    return out


def test_run_draws_the_new_plots(run_dir):
    for name in NEW_PLOTS:
        _assert_image(run_dir / "plots" / name)


def test_capsim_plot_redraws_them(run_dir, capsys):
    for name in NEW_PLOTS:
        (run_dir / "plots" / name).unlink()
    assert main(["plot", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    for name in NEW_PLOTS:
        assert name in printed
        _assert_image(run_dir / "plots" / name)


def test_weekly_reader_matches_a_pandas_pivot(run_dir):
    path = run_dir / "timeseries.parquet"
    w = _Weekly(path, 7)
    ts = pd.read_parquet(path, columns=["replication", "date", "demand_tps"])
    wide = ts.pivot(index="replication", columns="date", values="demand_tps").to_numpy(float)
    n = wide.shape[1] // 7 * 7
    want = wide[:, :n].reshape(wide.shape[0], -1, 7).mean(axis=2)
    assert w.replications == 2 and w.dates.size == want.shape[1]
    np.testing.assert_allclose(w.weekly("demand_tps"), want)
    assert w.dates[0] == np.datetime64(ts["date"].min(), "D")


def test_every_kpi_has_a_unit_and_dollars_read_as_billions():
    for name in KPIS + MILESTONES:
        assert KPI_UNITS.get(name), name
    assert format_value(2.5e9, "USD") == "$2.5B"
    assert format_value(-278e9, "USD") == "-$278.0B"


def test_stacked_area_on_synthetic_data(tmp_path):
    dates = np.arange("2026-01-01", "2030-01-01", 7, dtype="datetime64[D]")
    t = np.linspace(0, 1, dates.size)
    layers = {"a": 1 + t, "b": 2 * t**2, "c": np.where(t > 0.5, t, np.nan)}  # NaN counts as 0
    lines = {"total": 1 + t + 2 * t**2 + np.where(t > 0.5, t, 0), "half": (1 + t) / 2}
    p = plots.stacked_area(tmp_path / "s.png", dates, layers, lines, ylabel="units",
                           title="synthetic", line_styles={"half": "--"})
    _assert_image(p)
    with pytest.raises(ValueError, match="layer 'b'"):
        plots.stacked_area(tmp_path / "bad.png", dates, {"a": t, "b": t[:-1]}, ylabel="u",
                           title="bad")
    # More layers than PALETTE: distinct colours still.
    many = {f"l{i}": t * (i + 1) for i in range(9)}
    _assert_image(plots.stacked_area(tmp_path / "many.png", dates, many, ylabel="u", title="m"))


def test_colours_are_distinct_and_grouped():
    assert len(set(plots.colors_for(9))) == 9
    assert plots.grouped_colors(["x", "x"]) == list(plots.PALETTE[:2])
    cols = plots.grouped_colors(["x", "x", "y", "z", "z"])
    assert len(set(cols)) == 5


def test_fan_panels_with_levels(tmp_path):
    rng = np.random.default_rng(1)
    dates = np.arange("2026-04-01", "2036-04-01", 7, dtype="datetime64[D]")
    x = np.cumsum(rng.gamma(2.0, 1.0, (20, dates.size)), axis=1)
    levels = {"p1": [plots.Level("target", 300.0, dt.date(2025, 1, 1), dt.date(2031, 1, 1))],
              "p2": [plots.Level("open-ended", 100.0)]}
    p = plots.fan_panels(tmp_path / "f.png", dates, {"p1": {"x": x}, "p2": {"x": x, "y": x / 2}},
                         ylabel=["a", "b"], title="panels", levels=levels)
    _assert_image(p)
    with pytest.raises(ValueError, match="y labels"):
        plots.fan_panels(tmp_path / "g.png", dates, {"p1": {"x": x}}, ylabel=["a", "b"], title="")


def test_simcore_plots_stays_domain_free():
    text = (Path(plots.__file__)).read_text().lower()
    for word in ("chip", "cloud", "trainium", "claude", "aws", "token", "revenue"):
        assert not re.search(rf"\b{word}", text), word
