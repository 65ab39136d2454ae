"""Tests of the economics.

Economics: spend is priced capacity, revenue is served tokens times price, tranches fire
once and only on their milestone, capacity orders go through supply lead times.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from capsim.models import finance
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore.streams import Streams
from capsim.simcore.units import HOURS_PER_DAY


def _run(overrides, seed=5, rep=1, end="2029-04-01"):
    sc = load(None, [f"scenario.end={end}", *overrides])[0]
    model = CapacityModel(sc)
    sim = model.build(Streams(seed, rep))
    sim.run()
    return model, model.collect(sim), sim


def test_spend_is_the_sum_of_priced_capacity():
    model, r, _ = _run([], end="2036-04-01")
    s = r.timeseries
    aws = model.clouds.index("aws")
    price = model.money.cloud_price[aws]
    want = s["occupied_mw__aws"] / model.pue * price / 365.25
    np.testing.assert_allclose(s["spend_daily_usd__aws"], want, rtol=1e-6)
    np.testing.assert_allclose(s["spend_daily_usd"],
                               sum(s[f"spend_daily_usd__{c}"] for c in model.clouds),
                               rtol=1e-9)
    # The evaluation window starts at the announcement, after the history years.
    w0 = (dt.date(2026, 4, 1) - model.sc.scenario.start).days
    assert r.kpis["aws_spend_total_usd"] == pytest.approx(
        s["spend_daily_usd__aws"][w0:].sum(), rel=1e-6)
    assert r.kpis["spend_total_usd__aws"] == r.kpis["aws_spend_total_usd"]
    ten = int(round(10 * 365.25))
    # Commitment gap: $100B over the ten years from the commitment's start (2026-04-01),
    # minus the spend of those years.
    assert r.kpis["commitment_gap_usd"] == pytest.approx(
        100e9 - s["spend_daily_usd__aws"][w0:w0 + ten + 1].sum(), rel=1e-6)


def test_revenue_is_served_tokens_times_price():
    # One price for every tier (no batch discount): revenue = served x price exactly, and
    # lost revenue = unserved x price; prices fall by the yearly factor.
    model, r, _ = _run(["demand.consumer.price_usd_per_mtok=4.0", "demand.price_usd_per_mtok=4.0",
                        "demand.batch_discount=0", "demand.price_decline_per_year=0.7",
                        "demand.growth_multiplier=1.6", "market.enabled=false"])
    s = r.timeseries
    days = np.arange(s["served_tps"].size)
    price = 4.0 * 0.7 ** (days / 365.25)  # the market's prices: tests/test_market.py
    np.testing.assert_allclose(s["revenue_daily_usd"], s["served_tps"] * 86400 * price / 1e6,
                               rtol=1e-9)
    np.testing.assert_allclose(s["lost_revenue_daily_usd"], s["unserved_tps"] * 86400 * price / 1e6,
                               rtol=1e-9, atol=1e-6)
    assert s["lost_revenue_daily_usd"].sum() > 0  # the stress makes some demand go unserved
    # Totals cover the evaluation window (from the announcement, after the history years).
    w0 = (model.sc.scenario.evaluation_start - model.sc.scenario.start).days
    assert r.kpis["revenue_total_usd"] == pytest.approx(s["revenue_daily_usd"][w0:].sum())
    assert r.kpis["lost_revenue_total_usd"] == pytest.approx(
        s["lost_revenue_daily_usd"][w0:].sum())


def test_tokens_value_prices_each_tier():
    v = finance.tokens_value_usd(np.array([1e6, 2e6, 0.0, 1e6]), np.array([3.0, 3.0, 1.0, 1.5]))
    assert v == pytest.approx((1e6 * 3 + 2e6 * 3 + 1e6 * 1.5) * 86400 / 1e6)


def test_a_tranche_fires_once_and_only_when_its_milestone_is_met():
    ts = finance.Tranches([finance.Tranche("a", 5.0, 0.0, 0.5),
                           finance.Tranche("b", 7.0, 100.0, 0.0),
                           finance.Tranche("c", 9.0, 150.0, 0.0)])
    fired = {d: [t.name for t in ts.check(d, rr)]
             for d, rr in enumerate([10, 99.9, 100, 120, 90, 200, 300])}
    assert fired == {0: ["a"], 1: [], 2: ["b"], 3: [], 4: [], 5: ["c"], 6: []}
    assert ts.received_usd == 21.0


def test_no_tranche_before_the_deal_and_the_deal_tranche_on_its_day():
    ts = finance.Tranches([finance.Tranche("now", 5.0, 1e9, 0.5, at_deal=True),
                           finance.Tranche("m", 7.0, 100.0, 0.0)], deal_day=3)
    fired = {d: [t.name for t in ts.check(d, rr)]
             for d, rr in enumerate([500, 500, 500, 50, 500, 500])}
    # The milestone is met from day 0 but nothing fires before the deal (day 3); the deal
    # tranche fires on it whatever the run-rate, the milestone one on the next day met.
    assert fired == {0: [], 1: [], 2: [], 3: ["now"], 4: ["m"], 5: []}


@pytest.mark.parametrize("seed", [int(x) for x in np.random.default_rng(28).integers(0, 2**31, 6)])
def test_no_investment_event_precedes_the_announcement(seed):
    # Fast early growth puts milestones in reach before the announcement: still, no
    # tranche, and no order a tranche pays for, comes before the deal date.
    model, r, _ = _run(["finance.tranches.milestone-1.milestone_run_rate_usd=20e9"],
                       seed=seed, rep=0, end="2027-06-01")
    deal_h = model.tranches.deal_day * HOURS_PER_DAY
    tranches = [e for e in r.events if e.kind == "tranche"]
    orders = [e for e in r.events if e.kind == "order" and "tranche" in e.detail]
    assert any(e.subject == "initial" for e in tranches)
    assert all(e.hour >= deal_h for e in tranches + orders), [
        (e.kind, e.subject, e.hour / HOURS_PER_DAY) for e in tranches + orders]
    initial = next(e for e in tranches if e.subject == "initial")
    assert initial.hour == pytest.approx(deal_h + HOURS_PER_DAY / 2)  # on the deal date
    cum = r.timeseries["investment_cum_usd"]
    assert (cum[:model.tranches.deal_day] == 0).all()
    # Investment is counted over the deal: all of it, from the deal date on.
    assert r.kpis["investment_total_usd"] == pytest.approx(cum[-1])


def test_tranches_in_the_model_fire_on_the_first_day_the_run_rate_reaches_them():
    model, r, sim = _run([], end="2030-04-01")
    rr = r.timeseries["run_rate_usd"]
    fired = {e.subject: e.hour for e in r.events if e.kind == "tranche"}
    assert fired, "the initial tranche fires on the deal date"
    deal = model.tranches.deal_day
    assert deal == (dt.date(2026, 4, 1) - model.sc.scenario.start).days
    for t in model.tranches.items:
        above = np.nonzero(rr[deal:] >= t.milestone_run_rate_usd)[0] + deal
        if t.at_deal:
            assert t.fired_day == deal, t.name
        elif t.fired_day is None:
            assert above.size == 0, t.name
            assert t.name not in fired
        else:
            assert t.fired_day == above[0], t.name
        if t.fired_day is not None:
            assert fired[t.name] == pytest.approx((t.fired_day + 0.5) * HOURS_PER_DAY)
    assert r.kpis["investment_total_usd"] == pytest.approx(
        sum(t.amount_usd for t in model.tranches.items if t.fired_day is not None))
    inv = r.timeseries["investment_cum_usd"]
    assert np.all(np.diff(inv) >= 0) and inv[-1] == r.kpis["investment_total_usd"]


def test_funded_capacity_arrives_after_the_lead_times():
    funded, rf, _ = _run([], end="2030-04-01")
    unfunded, ru, _ = _run([f"finance.tranches.{n}.capacity_share=0"
                            for n in load()[0].finance.tranches], end="2030-04-01")
    assert ru.kpis["ordered_total_mw"] == 0 and rf.kpis["ordered_total_mw"] > 0
    assert funded.orders.ordered_chips > 0 and unfunded.orders.ordered_chips == 0
    # The first order is placed on day 0; nothing changes before the order lead time has
    # passed (chips) or the build lead time (buildings).
    first = int(min(funded.orders.order_lead_h, funded.orders.build_lead_h) // HOURS_PER_DAY)
    for k in ("chips_shipped", "energized_mw"):
        np.testing.assert_array_equal(rf.timeseries[k][:first], ru.timeseries[k][:first])
    assert rf.timeseries["energized_mw"][-1] > ru.timeseries["energized_mw"][-1]
    assert rf.timeseries["chips_shipped"][-1] > ru.timeseries["chips_shipped"][-1]


def test_commitment_gap_counts_the_part_of_the_window_the_run_covers():
    start = dt.date(2026, 4, 1)
    spend = np.full(400, 1.0)
    # A one-year window from the start: 365.25 of 400 days inside, all of it covered.
    assert finance.commitment_gap_usd(spend, start, 1000.0, start, 1.0) == pytest.approx(1000 - 366)
    # A window that began 365 days before the start: 365.5 of its 730.5 days are covered.
    gap = finance.commitment_gap_usd(spend, start, 1000.0, dt.date(2025, 4, 1), 2.0)
    assert gap == pytest.approx(1000 * 365.5 / 730.5 - 366)
    # A window entirely before the start counts nothing.
    assert finance.commitment_gap_usd(spend, start, 1000.0, dt.date(2020, 1, 1), 1.0) == 0.0
