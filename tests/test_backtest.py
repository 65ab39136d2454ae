"""`capsim backtest`: origins, baselines, scores, vintages, resuming."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines import backtest as bt
from capsim.experiments.pipelines.history import load_observations
from capsim.models.inputs import uncertain_inputs
from capsim.models.observations import Observation
from capsim.models.scenario import ScenarioError, load

D = dt.date


def _obs(name, date, value, series="run_rate_usd"):
    return Observation(name, date, value, value * 0.9, value * 1.1, "USD", "test",
                       (series,), "value")


def test_quarter_ends_and_default_origins():
    assert bt.quarter_end(D(2025, 2, 10)) == D(2025, 3, 31)
    assert bt.quarter_end(D(2025, 12, 31)) == D(2025, 12, 31)
    obs = [_obs("a", D(2024, 12, 31), 1.0), _obs("b", D(2025, 8, 1), 2.0)]
    # up to the last observation's quarter, each origin with a later point to forecast
    assert bt.default_origins(obs) == [D(2024, 12, 31), D(2025, 3, 31), D(2025, 6, 30)]


def test_baselines_are_a_two_point_trend_and_last_year_s_growth():
    obs = [_obs("a", D(2024, 1, 1), 1.0), _obs("b", D(2025, 1, 1), 10.0),
           _obs("c", D(2025, 3, 1), 20.0), _obs("t", D(2025, 6, 1), 0.0),
           _obs("x", D(2025, 2, 1), 5.0, series="other")]
    target = obs[3]
    trend, growth = bt.baselines(obs, target, D(2025, 3, 31))
    days = lambda a, b: (b - a).days / bt.YEAR  # noqa: E731
    want_trend = 20.0 * np.exp(np.log(2.0) / days(D(2025, 1, 1), D(2025, 3, 1))
                               * days(D(2025, 3, 1), D(2025, 6, 1)))
    # the observation nearest a year before the last (2025-03-01) is 2024-01-01's
    want_growth = 20.0 * np.exp(np.log(20.0) / days(D(2024, 1, 1), D(2025, 3, 1))
                                * days(D(2025, 3, 1), D(2025, 6, 1)))
    assert trend == pytest.approx(want_trend) and growth == pytest.approx(want_growth)
    # fewer than two earlier points of the series: no baseline
    assert np.isnan(bt.baselines(obs, target, D(2024, 6, 30))[0])


def test_scores_of_a_later_observation():
    obs = [_obs("a", D(2024, 12, 31), 1.0), _obs("b", D(2025, 6, 30), 2.0),
           _obs("c", D(2025, 12, 31), 4.0)]
    rng = np.random.default_rng(0)
    design = pd.DataFrame({"a": rng.normal(1, 0.1, 400), "b": rng.normal(2, 0.2, 400),
                           "c": rng.normal(3, 0.3, 400), "retained": rng.random(400) < 0.5})
    rows = bt.score_origin(D(2025, 6, 30), obs, design)
    assert [r["observation"] for r in rows] == ["c"]
    r = rows[0]
    kept = design.loc[design["retained"], "c"].to_numpy()
    assert r["n_draws"] == kept.size and not r["in_band"]  # 4 is above 3 + 1.645 * 0.3
    assert r["p50"] == pytest.approx(np.median(kept))
    assert r["interval_score"] > r["p95"] - r["p05"]
    assert r["trend"] == pytest.approx(4.0, rel=0.02)  # doubling each half year
    assert r["skill_trend"] < 0  # the trend is right; the model is not


def test_a_figure_published_after_the_origin_is_forecast_not_fitted_nor_a_baseline():
    late = Observation("late", D(2024, 12, 31), 1.5, 1.35, 1.65, "USD", "test",
                       ("run_rate_usd",), "value", data_date=D(2025, 9, 1))
    obs = [_obs("a", D(2024, 6, 30), 1.0), late, _obs("c", D(2025, 3, 1), 2.0),
           _obs("t", D(2025, 12, 31), 3.0)]
    assert not late.known_by(D(2025, 6, 30)) and late.known_by(D(2025, 9, 1))
    rng = np.random.default_rng(1)
    design = pd.DataFrame({o.name: rng.normal(o.value, 0.1, 50) for o in obs})
    design["retained"] = True
    rows = bt.score_origin(D(2025, 6, 30), obs, design)
    assert [r["observation"] for r in rows] == ["late", "t"]
    # the trend through the two points public by the origin (a and c), not through `late`
    days = lambda a, b: (b - a).days / bt.YEAR  # noqa: E731
    want = 2.0 * np.exp(np.log(2.0) / days(D(2024, 6, 30), D(2025, 3, 1))
                        * days(D(2025, 3, 1), D(2025, 12, 31)))
    assert bt.baselines(obs, obs[3], D(2025, 6, 30))[0] == pytest.approx(want)


def test_an_origin_older_than_the_priors_is_refused_naming_the_inputs(tmp_path, capsys):
    with pytest.raises(ScenarioError) as exc:
        bt.backtest(load(None)[0], out=tmp_path / "a", origins=[D(2023, 3, 31)], points=10)
    assert any("no distribution written from data up to 2023-03-31" in p
               for p in exc.value.problems)
    assert not (tmp_path / "a").exists()  # refused before anything is written
    assert main(["backtest", "--origin", "2023-03-31", "--points", "10", "--out",
                 str(tmp_path / "b"), "--no-progress"]) == 2
    assert "demand.growth_start" in capsys.readouterr().err


@pytest.mark.slow
def test_a_small_backtest_uses_only_inputs_dated_by_each_origin_and_resumes(tmp_path):
    out = tmp_path / "bt"
    origins = ["--origin", "2025-06-30", "--origin", "2026-06-30"]
    args = ["backtest", *origins, "--points", "12", "-w", "1", "--out", str(out),
            "--no-progress"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and set(summary["origins"]) == {
        "2025-06-30", "2026-06-30"}
    names = {i.name for i in uncertain_inputs(load(None)[0])}
    for origin in ("2025-06-30", "2026-06-30"):
        cal = json.loads((out / "origins" / origin / "summary.json").read_text())
        used = cal["vintages"]
        assert set(used) == names  # every input was given a dated distribution ...
        assert all(v <= origin for v in used.values())  # ... none written after the origin
        assert cal["priors_as_of"] == origin
    table = pd.read_parquet(out / "backtest.parquet")
    # Every forecast is of a figure not public at its origin: later, or published later;
    # and every figure fitted at an origin was public by then.
    obs = {o.name: o for o in load_observations(load(None)[0], drop_outside=True)}
    for origin, name in zip(table["origin"], table["observation"], strict=True):
        assert not obs[name].known_by(dt.date.fromisoformat(str(origin)[:10])), (origin, name)
    for origin in ("2025-06-30", "2026-06-30"):
        cal = json.loads((out / "origins" / origin / "summary.json").read_text())
        assert all(obs[n].known_by(dt.date.fromisoformat(origin)) for n in cal["fitted"])
    assert {"crps", "in_band", "interval_score", "median_error", "band_width", "skill_trend",
            "skill_growth"} <= set(table.columns)
    assert (out / "backtest.csv").is_file() and (out / "summary.md").is_file()
    assert summary["figures"] and all((out / "plots" / f).is_file() for f in summary["figures"])
    # Run again: both origins are done, nothing is simulated again and the table is the same.
    chunks = sorted((out / "rows").iterdir())
    assert main(args) == 0
    assert sorted((out / "rows").iterdir()) == chunks
    pd.testing.assert_frame_equal(pd.read_parquet(out / "backtest.parquet"), table)
