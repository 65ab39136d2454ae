"""Plots: the generic stacked area and panels, and the per-run plots `capsim run` draws."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines import figures
from capsim.experiments.pipelines.figures import _Weekly
from capsim.experiments.pipelines.runs import KPI_UNITS, format_value
from capsim.models.capacity import KPIS, MILESTONES
from capsim.simcore import plots
from capsim.simcore.store import RunStore

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


# The multi-cloud runs are CI's (slow): the quick loop draws the default scenario's plots.
@pytest.fixture(scope="module", params=[
    "default", pytest.param("anthropic-multicloud-2026", marks=pytest.mark.slow)])
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


def test_colours_are_distinct_grouped_and_colour_blind_safe():
    assert len(set(plots.colors_for(9))) == 9
    assert len(set(plots.colors_for(20))) == 20
    # Past the palette, Okabe-Ito's colours (then lighter shades of them); no tab20.
    assert plots.colors_for(9)[:8] == list(plots.OKABE_ITO)
    import inspect

    from capsim.simcore.plots import charts

    # The heat map's default colour map is ordered in lightness, not red against green.
    assert inspect.signature(charts.heatmap).parameters["cmap"].default == "cividis"
    assert not {"Reds", "Greens"} <= set(plots.GROUP_CMAPS[:4])
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
    modules = sorted(Path(plots.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # the package's modules, not only its __init__
    for module in modules:
        text = module.read_text().lower()
        for word in ("chip", "cloud", "trainium", "claude", "aws", "token", "revenue"):
            assert not re.search(rf"\b{word}", text), (module.name, word)


# ------------------------------------------------------------ what every figure says
UNIT = re.compile(r"\(.+\)")


def _is_date_axis(axis) -> bool:
    fmt = axis.get_major_formatter()
    return isinstance(fmt, mdates.DateFormatter | mdates.ConciseDateFormatter
                      | mdates.AutoDateFormatter)


def _has_data(ax) -> bool:
    return bool(ax.lines or ax.collections or ax.images or ax.patches)


def check_texts(fig, path) -> list[str]:
    """Problems with a figure's texts: title, axis labels with units, footer."""
    problems = []
    title = fig._suptitle.get_text() if fig._suptitle else ""
    if not title.strip():
        problems.append("no title")
    footers = [t.get_text() for t in fig.texts if t.get_gid() == "footer"]
    if not footers or not all(w in footers[0] for w in ("scenario", "seed", "replications")):
        problems.append(f"footer {footers!r}")
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison or not _has_data(ax):
            continue
        name = ax.get_title() or ax.get_label()
        categorical = bool(ax.images)  # a heatmap: rows and columns are categories
        yl = ax.get_ylabel()
        if not yl or not (categorical or UNIT.search(yl)):
            problems.append(f"{name}: y label {yl!r} without a unit")
        if ax.xaxis.get_visible() and any(t.get_visible() for t in ax.get_xticklabels()):
            xl = ax.get_xlabel()
            if not _is_date_axis(ax.xaxis) and not (xl and (categorical or UNIT.search(xl))):
                problems.append(f"{name}: x label {xl!r} without a unit")
        for tick in ax.get_yticklabels():
            t = tick.get_text()
            if re.search(r"\de[+-]?\d", t):  # a bare 1e6 on the axis
                problems.append(f"{name}: tick label {t!r}")
    return problems


@pytest.fixture
def figure_texts(monkeypatch):
    seen: dict[str, list[str]] = {}

    def hook(fig, path):
        fig.canvas.draw()  # tick labels exist only after a draw
        seen[Path(path).name] = check_texts(fig, path)

    monkeypatch.setattr(plots.page, "before_save", [hook])
    return seen


def test_every_plot_has_a_title_units_and_a_footer(run_dir, figure_texts):
    made = figures.write_plots(RunStore.open(run_dir))
    assert {p.name for p in made} == set(figure_texts)
    assert {f.name + ".png" for f in figures.FIGURES} <= set(figure_texts)
    bad = {k: v for k, v in figure_texts.items() if v}
    assert not bad, bad


def test_the_checker_catches_a_missing_unit_and_footer(figure_texts, tmp_path):
    dates = np.arange("2026-01-01", "2027-01-01", 7, dtype="datetime64[D]")
    x = np.ones((3, dates.size))
    plots.fan_chart(tmp_path / "a.png", dates, {"x": x}, ylabel="no unit here", title="t")
    assert any("unit" in p for p in figure_texts["a.png"])
    assert any("footer" in p for p in figure_texts["a.png"])


def _with_own_capacity(run_dir: Path, tmp_path: Path, share: float) -> Path:
    """A copy of a run whose table has capacity_own_tps = share x capacity_tps."""
    import shutil

    copy = tmp_path / "own"
    shutil.copytree(run_dir, copy)
    t = pq.read_table(copy / "timeseries.parquet")
    own = pa.array(t["capacity_tps"].to_numpy() * share)
    if "capacity_own_tps" in t.column_names:  # runs record it: replace it with the test's
        t = t.drop_columns(["capacity_own_tps"])
    pq.write_table(t.append_column("capacity_own_tps", own), copy / "timeseries.parquet")
    return copy


@pytest.mark.parametrize("run_dir", ["default"], indirect=True)
def test_fan_chart_shades_demand_above_capacity_without_the_loan(run_dir, tmp_path, monkeypatch):
    """With capacity_own_tps (issue 14's series) the fan chart draws it and shades the gap."""
    copy = _with_own_capacity(run_dir, tmp_path, 0.05)
    drawn = {}

    def hook(fig, path):
        drawn[Path(path).name] = fig

    monkeypatch.setattr(plots.page, "before_save", [hook])
    figures.write_plots(RunStore.open(copy))
    ax = drawn["fan_chart.png"].axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert any("without training's loan" in lab for lab in labels)
    gap = [c for c in ax.collections if "demand above capacity without" in c.get_label()]
    assert len(gap) == 1
    # A twentieth of the capacity with the loan: demand stands above it almost everywhere
    # (the history years included, when capacity ran far ahead of demand), so the shaded
    # region covers most of the horizon.
    xs = np.concatenate([p.vertices[:, 0] for p in gap[0].get_paths()])
    span = xs.max() - xs.min()
    lo, hi = ax.get_xlim()
    assert span > 0.5 * (hi - lo)
    # The finding on the loan titles the chart's own panel (the figure's title is the
    # headroom panel's finding).
    assert "without training's loan" in ax.get_title(loc="left")


@pytest.mark.slow
@pytest.mark.parametrize("run_dir", ["default"], indirect=True)
def test_plot_formats_and_dpi(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "fmt"
    shutil.copytree(run_dir, copy)
    assert main(["plot", str(copy), "--format", "svg"]) == 0
    svg = (copy / "plots" / "fan_chart.svg").read_text()
    assert "<svg" in svg and "scenario aws-anthropic-2026" in svg  # text kept as text
    wide = mpimg.imread(copy / "plots" / "power.png").shape[1]
    assert main(["plot", str(copy), "--dpi", "75"]) == 0
    narrow = mpimg.imread(copy / "plots" / "power.png").shape[1]
    assert abs(narrow / wide - 75 / 150) < 0.02
    assert main(["plot", str(copy), "--format", "pdf"]) == 2
    assert main(["plot", str(copy), "--dpi", "5"]) == 2


def test_chips_by_state_stack_equals_chips_shipped(run_dir):
    w = figures._Weekly(run_dir / "timeseries.parquet", 7)
    stack = sum(w.mean(f"chips_{st}") for st in figures.CHIP_STATES)
    np.testing.assert_allclose(stack, w.mean("chips_shipped"), rtol=1e-9)


def test_tick_formatters():
    assert plots.human(1234) == "1,234"
    assert plots.human(2.5e6) == "2.5M"
    assert plots.human(-3.2e9, "usd") == "-$3.2B"
    assert plots.human(0.456, "share") == "46%"
    assert plots.human(0.05, "share") == "5%"
    assert plots.human(0.012, "share") == "1.2%"
    assert plots.human(2031.0, "year") == "2031"
    with pytest.raises(ValueError):
        plots.formatter("furlongs")


@pytest.mark.parametrize("run_dir", ["default"], indirect=True)
def test_long_runs_draw_daily_series_from_a_bounded_subset(run_dir, tmp_path, monkeypatch):
    """Plot memory is replications x days: beyond MAX_DRAWN the daily series use a subset."""
    reps = sorted(RunStore.open(run_dir).read_kpis()["replication"].unique())
    assert len(reps) >= 2
    monkeypatch.setattr(figures, "MAX_DRAWN", 1)
    footers, weeks = [], []
    page, weekly = plots.Page, figures._Weekly

    def spy_page(text, dpi):
        footers.append(text)
        return page(text, dpi)

    def spy_weekly(path, step=7, keep=None):
        weeks.append(weekly(path, step, keep))
        return weeks[-1]

    monkeypatch.setattr(plots, "Page", spy_page)
    monkeypatch.setattr(figures, "_Weekly", spy_weekly)
    made = figures.write_plots(RunStore.open(run_dir), out=tmp_path)
    assert made and all(p.exists() for p in made)
    assert weeks[0].replications == 1
    assert f"{len(reps)} replications" in footers[0] and "daily series of 1 of them" in footers[0]


# --------------------------------------------------- headroom, held chips, implied figures
def test_peak_headroom_scales_the_peak_by_the_demand_the_market_would_bring():
    from capsim.experiments.pipelines import headroom

    cap, peak, dem = np.array([120.0, 90.0, 5.0]), np.array([100.0, 100.0, 0.0]), \
        np.array([80.0, 80.0, 0.0])
    np.testing.assert_allclose(headroom.peak_headroom(cap, peak, dem)[:2], [0.2, -0.1])
    # Demand after customers left is 80 of the 100 the market would bring: the peak hour of
    # the demand the market would bring is 125, so 120 of capacity is 4% short of it.
    h = headroom.peak_headroom(cap, peak, dem, np.array([100.0, 100.0, 0.0]))
    np.testing.assert_allclose(h[:2], [120 / 125 - 1, 90 / 125 - 1])
    assert np.isnan(h[2])  # no demand: no headroom


def test_headroom_title_names_the_first_and_last_short_week():
    from capsim.experiments.pipelines import headroom

    dates = np.arange("2030-01-01", "2031-01-01", 7, dtype="datetime64[D]")
    med = np.full(dates.size, 0.3)
    assert "stays above" in headroom.title(dates, med)
    med[10:20] = -0.1
    med[15] = 0.05
    t = headroom.title(dates, med)
    assert f"from {np.datetime64(dates[10], 'M')} to {np.datetime64(dates[19], 'M')}" in t
    assert "(90% of the weeks in between)" in t


@pytest.mark.parametrize("run_dir", ["default"], indirect=True)
def test_fan_chart_headroom_panel_shades_where_capacity_falls_short(run_dir, tmp_path,
                                                                     monkeypatch):
    import shutil

    copy = tmp_path / "short"
    shutil.copytree(run_dir, copy)
    t = pq.read_table(copy / "timeseries.parquet")
    # A thousandth of the capacity: below the peak hour in every week of the run.
    cap = pa.array(t["capacity_tps"].to_numpy() * 0.001)
    t = t.set_column(t.column_names.index("capacity_tps"), "capacity_tps", cap)
    pq.write_table(t, copy / "timeseries.parquet")
    drawn = {}
    monkeypatch.setattr(plots.page, "before_save",
                        [lambda fig, path: drawn.__setitem__(Path(path).name, fig)])
    figures.write_plots(RunStore.open(copy))
    fig = drawn["fan_chart.png"]
    top, low = fig.axes[0], fig.axes[1]
    assert top.get_yscale() == "log" and low.get_yscale() == "linear"
    assert "Headroom" in low.get_title(loc="left")
    shade = [c for c in low.collections if "capacity short" in c.get_label()]
    assert len(shade) == 1
    xs = np.concatenate([p.vertices[:, 0] for p in shade[0].get_paths()])
    lo, hi = low.get_xlim()
    assert xs.max() - xs.min() > 0.9 * (hi - lo)
    assert "falls short of peak-hour demand in the median replication from" in \
        fig._suptitle.get_text()


@pytest.mark.parametrize("run_dir", ["default"], indirect=True)
def test_chips_plot_shows_held_chips_and_the_revenue_plot_says_aws_implied(run_dir,
                                                                          monkeypatch):
    drawn = {}
    monkeypatch.setattr(plots.page, "before_save",
                        [lambda fig, path: drawn.__setitem__(Path(path).name, fig)])
    figures.write_plots(RunStore.open(run_dir))
    chips = drawn["chips_by_state.png"]
    held = figures._Weekly(run_dir / "timeseries.parquet", 7).mean("chips_held")
    assert held.max() > 0  # the power-aware policy holds chips from mid-2026
    labels = [c.get_label() for c in chips.axes[0].collections]
    assert figures.HELD in labels
    assert f"held at the supplier peak at {plots.human(held.max())}" in \
        chips._suptitle.get_text() or "held at the supplier reach" in chips._suptitle.get_text()
    assert any("AWS-implied" in ax.get_title(loc="left") for ax in drawn["revenue.png"].axes)


def test_anthropic_wide_figures_are_named_for_the_clouds_that_imply_them():
    from capsim.experiments.pipelines.kpi_text import implied
    from capsim.models.kpis import SERIES
    from capsim.models.scenario import load

    assert implied(load(None)[0]) == "AWS-implied"
    assert implied(load("anthropic-multicloud-2026")[0]) == "implied by AWS, Google and Azure"
    wide = [m for m in SERIES.values() if "Anthropic-wide" in m.definition]
    assert {m.name for m in wide} >= {"run_rate_usd", "run_rate_reported_usd",
                                      "spend_anthropic_daily_usd"}
    assert all("AWS-implied" in m.definition for m in wide)


def test_the_kpi_ecdf_names_the_headline_kpis_by_their_labels(run_dir, figure_texts):
    """Panels are the headline KPIs (no 0/1 indicator), titled by the registry's labels."""
    from capsim.experiments.pipelines import kpi_text

    panels = {}

    def grab(fig, path):
        if Path(path).stem == "kpi_ecdf":
            panels["titles"] = [next(t for t in (ax.get_title(loc) for loc in
                                                 ("left", "center", "right")) if t)
                                .split("\n")[0] for ax in fig.axes if ax.axison]
            panels["title"] = fig._suptitle.get_text().replace("\n", " ")

    plots.page.before_save.append(grab)
    figures.write_plots(RunStore.open(run_dir))
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    names = [k for k in kpi_text.headline_names(summary)
             if {**summary["kpis"], **summary["milestones"]}[k]["unit"] != "probability"]
    assert panels["titles"] == [kpi_text.label(k) for k in names]
    assert "p_shortfall_any" not in names and all("_" not in t for t in panels["titles"])
    assert panels["title"].startswith(f"Across {summary['replications']} replications the "
                                      "middle 90% of unmet demand runs from ")
