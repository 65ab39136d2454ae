"""Observation operators: the run-rate as Anthropic reports it, H100-equivalents, IT power."""

from __future__ import annotations

import numpy as np
import pytest
from capsim.models import reported
from capsim.models.capacity import CapacityModel
from capsim.models.days import trailing_mean
from capsim.models.scenario import load
from capsim.simcore.simulation import run_replication
from capsim.simcore.units import DAYS_PER_MONTH, DAYS_PER_YEAR


def test_the_reported_run_rate_is_28_days_of_consumption_x13_plus_a_month_of_subscriptions_x12():
    rng = np.random.default_rng(1)
    revenue = rng.uniform(50, 150, 120)
    subs = revenue * rng.uniform(0.2, 0.4, 120)
    got = reported.run_rate(revenue, subs, 0.5)
    d = 100
    consumption = (revenue - subs)[d - 27:d + 1].sum() * 13
    monthly = subs[d - 29:d + 1].mean() * DAYS_PER_MONTH * 12
    assert got[d] == pytest.approx((consumption + monthly) / 0.5)
    # The first days scale what they have up to the window.
    assert got[0] == pytest.approx(((revenue[0] - subs[0]) * 28 * 13
                                    + subs[0] * DAYS_PER_MONTH * 12) / 0.5)
    # Flat revenue: 364 days of consumption and 365.25 of subscriptions.
    flat = reported.run_rate(np.full(60, 10.0), np.full(60, 3.0), 1.0)
    assert flat[-1] == pytest.approx(7 * 364 + 3 * DAYS_PER_YEAR)


def test_on_a_fast_ramp_the_28_day_rate_leads_a_30_day_mean():
    # Revenue growing 45% a month: the reported rate (28 days) lags less than a 30-day mean.
    days = np.arange(400)
    revenue = np.exp(np.log(1.45) / DAYS_PER_MONTH * days)
    rep = reported.run_rate(revenue, np.zeros_like(revenue), 1.0)
    old = trailing_mean(revenue, 30) * DAYS_PER_YEAR
    now = revenue * DAYS_PER_YEAR
    assert np.all(old[60:] < rep[60:]) and np.all(rep[60:] < now[60:])


@pytest.fixture(scope="module")
def one_run():
    sc = load(None, ["scenario.end=2026-06-01"])[0]
    cm = CapacityModel(sc)
    res = run_replication(CapacityModel, sc, 2026, 0)
    return cm, res.timeseries


def test_the_operator_series_add_up_and_follow_their_definitions(one_run):
    cm, ts = one_run
    h = ts["h100e"]
    np.testing.assert_allclose(h, ts["fp8_eflops"] * 1e6 / reported.H100_FP8_TFLOPS)
    clouds = [k for k in ts if k.startswith("h100e__")]
    assert clouds == ["h100e__aws"]
    np.testing.assert_allclose(sum(ts[k] for k in clouds), h, rtol=1e-9)
    np.testing.assert_allclose(ts["occupied_it_mw__aws"], ts["occupied_it_mw"], rtol=1e-12)
    ratio = ts["spend_anthropic_daily_usd"] / np.where(ts["spend_daily_usd"] > 0,
                                                      ts["spend_daily_usd"], np.nan)
    share = 1 / np.nanmedian(ratio)
    assert 0 < share <= 1 and np.allclose(ratio[np.isfinite(ratio)], 1 / share)
    # The reported run-rate and the tranches' 30-day mean agree on a flat stretch and
    # differ by the definitions' few percent; both are positive and grow over the history.
    rr, old = ts["run_rate_reported_usd"], ts["run_rate_usd"]
    assert np.all(rr > 0) and rr[-1] > 10 * rr[0]
    assert np.all(np.abs(rr[60:] / old[60:] - 1) < 0.15)
