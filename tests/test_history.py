"""History and calibration: observation files, scoring, posterior draws, history matching."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines.history import load_observations
from capsim.models import history, observations
from capsim.models.capacity import CapacityModel, series_names
from capsim.models.inputs import Builder, uncertain_inputs
from capsim.models.posterior import WEIGHT, read_posterior
from capsim.models.scenario import ScenarioError, load
from capsim.simcore import inference
from capsim.simcore.simulation import run_replication
from capsim.simcore.streams import Streams
from conftest import PRIORS

START, END = dt.date(2024, 1, 1), dt.date(2036, 4, 1)

GOOD = """
[[observation]]
name = "run_rate_2024_12"
date = 2024-12-31
value = 1.0e9
low = 0.8e9
high = 1.25e9
unit = "USD per year"
series = "run_rate_usd"
source = "press reports"
kind = "independent"
"""


def _parse(text, sc=None):
    sc = sc or load()[0]
    return observations.parse("obs.toml", text, series_names(sc), START, END)


# -- the observation file ------------------------------------------------------------------

def test_shipped_observations_parse_and_cover_the_issue_points(default_scenario):
    obs = load_observations(default_scenario)
    names = {o.name for o in obs}
    assert {f"trainium2_shipped_{y}q{q}" for y in (2024, 2025) for q in range(1, 5)} <= names
    assert {"trainium2_landed_2025", "run_rate_2024_12", "run_rate_2025_12", "run_rate_2026_02",
            "run_rate_2026_04", "run_rate_2026_05", "trainium_mw_2026_12",
            "trainium_it_mw_2025_12", "trainium_h100e_2025_12", "compute_spend_2024",
            "compute_spend_2025", "new_carlisle_it_mw_2025_12",
            "mississippi_it_mw_2025_12"} <= names
    for o in obs:
        assert o.low <= o.value <= o.high and o.unit and o.source
        assert default_scenario.scenario.start <= o.date <= default_scenario.scenario.end


@pytest.mark.parametrize("change, problem", [
    (('series = "run_rate_usd"', 'series = "run_rate_usdd"'), "unknown series 'run_rate_usdd'"),
    (("date = 2024-12-31", "date = 2040-01-01"), "outside the run"),
    (("high = 1.25e9", "high = 0.9e9"), "excludes the value"),
    (('unit = "USD per year"\n', ""), "unit: required"),
    (('source = "press reports"', 'sauce = "x"'), "unknown key"),
])
def test_bad_observation_files_name_the_entry_and_the_problem(change, problem):
    with pytest.raises(observations.ObservationError) as e:
        _parse(GOOD.replace(*change))
    assert e.value.source == "obs.toml"
    assert any("observation 'run_rate_2024_12'" in p and problem in p for p in e.value.problems), \
        e.value.problems


@pytest.mark.parametrize("change, problem", [
    (('series = "run_rate_usd"', 'series = "run_rate_usdd"'), "unknown series"),
    (("date = 2024-12-31", "date = 2040-01-01"), "outside the run"),
    (("high = 1.25e9", "high = 0.9e9"), "excludes the value"),
    (('unit = "USD per year"\n', ""), "unit: required"),
])
def test_bad_observation_file_exits_2_with_one_line_naming_file_entry_problem(
        tmp_path, capsys, change, problem):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace(*change))
    code = main(["calibrate", "--observations", str(bad), "--out", str(tmp_path / "c"),
                 "--points", "10", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if problem in line]
    assert len(lines) == 1 and str(bad) in lines[0] and "run_rate_2024_12" in lines[0]
    assert "Traceback" not in err


# -- scoring -----------------------------------------------------------------------------

def test_observation_problems_give_the_line_and_the_closest_key():
    text = GOOD.replace('source = "press reports"', 'sorce = "press reports"') + GOOD.replace(
        "value = 1.0e9", "value = nan")
    with pytest.raises(observations.ObservationError) as e:
        _parse(text)
    assert e.value.problems == [
        "observation 'run_rate_2024_12': line 2: source: required key is missing",
        "observation 'run_rate_2024_12': line 10: sorce: unknown key; did you mean 'source'?",
        "observation 'run_rate_2024_12': line 16: value: Input should be a finite number "
        "(got nan)"]


@pytest.mark.parametrize("text, problem", [
    ("observation = [1]\n", "observation #1: must be a table of keys (got 1)"),
    ("[[observations]]\nname = 'x'\n", "observations: unknown key; did you mean 'observation'?"),
    (GOOD + GOOD, "observation 'run_rate_2024_12': line 14: name: used by an earlier entry"),
    (GOOD.replace("low = 0.8e9\nhigh = 1.25e9", "tolerance = 1.5"),
     "observation 'run_rate_2024_12': line 6: tolerance: must be a share in (0, 1) (got 1.5)"),
    (GOOD.replace('series = "run_rate_usd"', 'series = "run_rate_usd"\naggregation = "mean"'),
     "observation 'run_rate_2024_12': line 2: from: required (a date) with aggregation 'mean'"),
])
def test_observation_files_are_checked_like_scenarios(text, problem):
    with pytest.raises(observations.ObservationError) as e:
        _parse(text)
    assert any(problem in p for p in e.value.problems), e.value.problems


def _obs(agg="value", start=None, value=10.0, low=8.0, high=12.0):
    return observations.Observation("x", dt.date(2024, 1, 10), value, low, high, "u", "s",
                                    ("a", "b"), agg, start)


def test_aggregations_read_the_summed_series_on_the_right_days():
    dates = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-21"))
    a = np.tile(np.arange(20.0), (3, 1)) * np.array([[1], [2], [3]])
    b = np.ones((3, 20))
    series = {"a": a, "b": b}.__getitem__
    v = history.simulate(_obs(), series, dates)
    np.testing.assert_allclose(v, [10, 19, 28])  # day 9 (Jan 10): 9 x k + 1
    inc = history.simulate(_obs("increase", dt.date(2024, 1, 5)), series, dates)
    np.testing.assert_allclose(inc, [6, 12, 18])  # day 9 minus day 3, times k
    mean = history.simulate(_obs("mean", dt.date(2024, 1, 9)), series, dates)
    np.testing.assert_allclose(mean, [9.5, 18, 26.5])


def test_score_marks_inside_the_band_and_the_crps_grows_with_the_gap():
    obs = [_obs(value=10.0), observations.Observation(
        "y", dt.date(2024, 1, 10), 100.0, 90.0, 110.0, "u", "s", ("a",))]
    rng = np.random.default_rng(0)
    sim = {"x": rng.normal(10, 1, 400), "y": rng.normal(10, 1, 400)}
    h = history.score(obs, sim)
    assert h["inside"] == 1 and h["total"] == 2
    rows = {r["name"]: r for r in h["observations"]}
    assert rows["x"]["inside"] and not rows["y"]["inside"]
    assert rows["x"]["crps_relative"] < 0.05 < 0.8 < rows["y"]["crps_relative"]
    assert rows["x"]["share_in_range"] > 0.9 and rows["y"]["share_in_range"] == 0.0
    assert history.headline(h).startswith("history (90% band): independent: 1 of 2 inside")
    assert history.headline(h).endswith("(outside: y)")
    # Moving the simulation away from the observation only raises the distance.
    d = [history.distance(10.0, 8.0, 12.0, rng.normal(10 + k, 1, 400)) for k in range(5)]
    assert all(np.diff(d) > 0)


def test_run_writes_and_prints_the_history_section(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    assert main(["run", "-n", "3", "--workers", "1", "--set", "scenario.end=2027-01-15",
                 "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    h = s["history"]
    assert h["total"] == 22 and 0 <= h["inside"] <= 22
    kinds = h["by_kind"]
    assert {k: c["total"] for k, c in kinds.items()} == {
        "input-echo": 9, "independent": 12, "plan": 1}
    assert (f"independent: {kinds['independent']['inside']} of 12 inside" in printed
            and "input-echo: " in printed and "(give back inputs)" in printed)
    ts = pd.read_parquet(out / "timeseries.parquet", columns=["date"])
    assert pd.to_datetime(ts["date"]).min() <= pd.Timestamp("2024-01-31")
    for r in h["observations"]:
        assert r["p05"] <= r["p50"] <= r["p95"]
    # Scored a few replications at a time (bounded memory), the values are those of the
    # whole table read at once, replication by replication.
    from capsim.experiments.pipelines import history as hx
    from capsim.simcore.store import RunStore

    store = RunStore.open(out)
    obs = load_observations(load(out / "scenario.toml")[0], drop_outside=True)
    whole = pd.read_parquet(out / "timeseries.parquet").sort_values(["replication", "date"])
    dates = np.asarray(whole["date"].iloc[: len(whole) // 3]).astype("datetime64[D]")
    want = {o.name: history.simulate(o, lambda c: whole[c].to_numpy(float).reshape(3, -1),
                                     dates) for o in obs}
    monkeypatch.setattr(hx, "READ_REPLICATIONS", 2)
    got = hx.simulated_values(store, obs)
    for o in obs:
        np.testing.assert_array_equal(got[o.name], want[o.name])


# -- uncertain inputs, pinning and posterior draws ----------------------------------------

def test_uncertain_inputs_include_history_inputs_and_skip_switched_off_clouds(default_scenario):
    names = {i.name for i in uncertain_inputs(default_scenario)}
    assert "demand.growth_volatility" in names
    assert "supply.generations.trainium2.quarterly_output[7]" in names
    assert "datacenters.pue" in names and "demand.enterprise.batch_discount" not in names
    assert not any("tpu7x" in n or "azure" in n for n in names)


def test_pinned_inputs_are_drawn_exactly_and_leave_other_draws_alone(default_scenario):
    sc = load(None, ["scenario.end=2024-03-01", PRIORS])[0]
    pinned = Builder(sc).pin({"datacenters.pue": 1.07,
                             "supply.generations.trainium2.quarterly_output[0]": 12345.0,
                             "demand.growth_start": 7.0})
    a, b = CapacityModel(sc), CapacityModel(pinned)
    a.build(Streams(3, 0))
    b.build(Streams(3, 0))
    assert b.pue == 1.07 and a.pue != 1.07
    # One uniform is still drawn for a pinned input: the rest of each stream is unchanged.
    assert a.fleet.kw[1] == pytest.approx(b.fleet.kw[1] * a.pue / b.pue)
    assert a.fleet.tps.tolist() == b.fleet.tps.tolist()
    assert a.demand.pop.n == b.demand.pop.n
    g = pinned.supply.generations["trainium2"].quarterly_output
    assert g.values[0] == g.low[0] == g.high[0] == 12345.0
    with pytest.raises(ScenarioError, match="not an uncertain input"):
        Builder(sc).pin({"datacenters.puee": 1.1})


def _posterior(tmp_path, rows, weights):
    df = pd.DataFrame(rows)
    df[WEIGHT] = weights
    path = tmp_path / "post"
    path.mkdir()
    df.to_parquet(path / "posterior.parquet")
    return path


@pytest.mark.slow
def test_runs_from_a_posterior_use_its_rows_with_worker_independent_draws(tmp_path):
    post = _posterior(tmp_path, {"datacenters.pue": [1.05, 1.10, 1.14],
                                 "demand.growth_start": [6.0, 8.0, 12.0]},
                      [0.2, 0.0, 0.8])
    over = ["scenario.end=2024-04-01", f"scenario.posterior={str(post)!r}"]
    sc = load(None, over)[0]
    pues = []
    for rep in range(12):
        m = CapacityModel(sc)
        m.build(Streams(5, rep))
        pues.append(m.pue)
    assert set(pues) <= {1.05, 1.14} and set(pues) == {1.05, 1.14}  # weight 0 never drawn
    import capsim

    serial = capsim.run(sc, replications=4, seed=5, executor="serial", out=tmp_path / "a",
                        progress=False)
    pooled = capsim.run(sc, replications=4, seed=5, workers=2, out=tmp_path / "b",
                        progress=False)
    pd.testing.assert_frame_equal(serial.kpis, pooled.kpis)


def test_bad_posterior_exits_2(tmp_path, capsys):
    post = _posterior(tmp_path, {"datacenters.puee": [1.1]}, [1.0])
    code = main(["run", "-n", "1", "--set", "scenario.end=2024-03-01", "--no-progress",
                 "--posterior", str(post), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "'datacenters.puee' is not an uncertain input" in err
    with pytest.raises(ScenarioError, match="outside its prior"):
        read_posterior(_posterior(tmp_path / "x", {"datacenters.pue": [2.0]}, [1.0])
                       if (tmp_path / "x").mkdir() is None else None, load()[0])


# -- history matching, domain-free -------------------------------------------------------

def _line(u, i, noise):
    """A toy simulator: inputs (slope, intercept, nuisance) ~ U(0, 1); outputs at t=1..4."""
    slope, icept = 1 + 2 * u[0], 5 + 5 * u[1]
    rng = np.random.default_rng(i)
    return icept + slope * np.arange(1, 5) + rng.normal(0, noise, 4), None


def test_history_matching_recovers_a_known_truth_on_a_toy_simulator():
    truth_u = np.array([0.3, 0.7, 0.5])
    y, _ = _line(truth_u, 10**6, 0.0)
    targets = inference.Targets(observed=y, low=y - 0.2, high=y + 0.2, log=np.ones(4, bool),
                                fitted=np.ones(4, bool), discrepancy=0.01)
    unit = inference.design(2000, 3, seed=1)
    res = inference.history_match(_line, unit, targets, args=(0.05,), progress=False)
    assert res.done.all() and 10 < res.accepted.sum() < 2000
    post = unit[res.accepted]
    for j in range(2):  # slope and intercept: the truth inside, the interval much narrower
        lo, hi = np.percentile(post[:, j], [5, 95])
        assert lo <= truth_u[j] <= hi
        assert hi - lo < 0.5 * 0.9
    lo, hi = np.percentile(post[:, 2], [5, 95])  # the nuisance input stays as its prior
    assert hi - lo > 0.7
    # Same seed, same design and the same retained points.
    res2 = inference.history_match(_line, inference.design(2000, 3, seed=1), targets,
                                   args=(0.05,), progress=False)
    assert (res2.accepted == res.accepted).all()


def test_weighted_quantiles_and_ess():
    x = np.arange(1, 101, dtype=float)
    np.testing.assert_allclose(inference.weighted_quantiles(x, [0.5]), [50.5])
    w = np.r_[np.zeros(50), np.ones(50)]
    assert inference.weighted_quantiles(x, [0.5], w)[0] == pytest.approx(75.5)
    assert inference.effective_sample_size(w) == pytest.approx(50)


# -- synthetic truth on the capacity model -----------------------------------------------

FREE = ["demand.revenue_run_rate_usd", "demand.growth_start",
        "supply.generations.trainium2.share", "demand.price_decline_per_year"]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known failure since vintaged priors and stochastic "
                   "demand growth were merged: trainium2.share narrows by 0.07, not the 0.2 "
                   "asked; cause not yet found")
def test_calibration_recovers_known_inputs_from_synthetic_observations(tmp_path):
    # 2024 only; every input but four pinned at its median. Observations are simulated
    # from known values of the four (another seed than the calibration's), then fitted.
    from capsim.experiments.pipelines.calibrate import calibrate

    base = load(None, ["scenario.end=2025-01-15"])[0]
    inputs = uncertain_inputs(base)
    sc = Builder(base).pin({i.name: float(i.prior.median) for i in inputs if i.name not in FREE})
    free = {i.name: i for i in uncertain_inputs(sc)}
    assert set(free) == set(FREE)
    truth = {n: float(free[n].prior.ppf(q)) for n, q in zip(FREE, (0.35, 0.65, 0.4, 0.55),
                                                           strict=True)}
    res = run_replication(CapacityModel, Builder(sc).pin(truth), 999, 0)
    shipped = sum(res.timeseries[f"chips_{s}__trainium2"] for s in
                  ("in_transit", "waiting", "installed", "failed", "retired"))
    dates = CapacityModel(sc).clock.dates()

    def at(d):
        return int(np.searchsorted(dates, np.datetime64(d, "D")))

    entries = []
    for k, (a, b) in enumerate([("2024-01-01", "2024-03-31"), ("2024-04-01", "2024-06-30"),
                                ("2024-07-01", "2024-09-30"), ("2024-10-01", "2024-12-31")]):
        v = float(shipped[at(b)] - (shipped[at(a) - 1] if at(a) else 0))
        entries.append(f'[[observation]]\nname = "q{k}"\nfrom = {a}\ndate = {b}\nvalue = {v}\n'
                       f'low = {0.95 * v}\nhigh = {1.05 * v}\nunit = "chips"\nsource = "synthetic"'
                       '\nkind = "independent"'
                       '\nseries = ["chips_in_transit__trainium2", "chips_waiting__trainium2", '
                       '"chips_installed__trainium2", "chips_failed__trainium2", '
                       '"chips_retired__trainium2"]\naggregation = "increase"\n')
    for d in ("2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31"):
        v = float(res.timeseries["run_rate_usd"][at(d)])
        entries.append(f'[[observation]]\nname = "rr{d}"\ndate = {d}\nvalue = {v}\n'
                       f'low = {0.9 * v}\nhigh = {1.1 * v}\nunit = "USD per year"\n'
                       'source = "synthetic"\nseries = "run_rate_usd"\nkind = "independent"\n')
    obs_file = tmp_path / "synthetic.toml"
    obs_file.write_text("\n".join(entries))
    # The synthetic record comes from the model itself: little discrepancy to allow for.
    s = calibrate(sc, out=tmp_path / "cal", observations=obs_file, points=160, seed=4,
                  workers=1, progress=False, discrepancy=0.02)
    assert s["accepted"] >= 20
    par = s["parameters"]
    inside = [par[n]["posterior_p05"] <= truth[n] <= par[n]["posterior_p95"] for n in FREE]
    assert sum(inside) >= 3, (truth, s["parameters"])
    # The share of Trainium2 output is narrowed by the chips shipped each quarter (history
    # matching keeps everything within 3 sd, so the interval narrows, it does not collapse).
    assert par["supply.generations.trainium2.share"]["shrinkage"] > 0.2
    post = pd.read_parquet(tmp_path / "cal" / "posterior.parquet")
    assert set(post.columns) == {*FREE, WEIGHT} and len(post) == s["accepted"]
    for f in ("fit.csv", "summary.json", "plots/observations.png", "plots/parameters.png"):
        assert (tmp_path / "cal" / f).exists()
