"""Customers who react: rationing inside a tier, same-day retries, groups and reviews."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from capsim.models.capacity import CapacityModel
from capsim.models.customers import Reaction, build_groups
from capsim.models.demand import build_population
from capsim.models.rationing import allocate_retrying, served_shares, water_level
from capsim.models.scenario import load
from capsim.models.service import allocate
from capsim.simcore.simulation import run_replication
from capsim.simcore.streams import Streams
from conftest import PRIORS


def test_water_level_uses_the_capacity_and_serves_small_customers_in_full():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0, 1.5, (500, 12))
    n = rng.integers(0, 50, (500, 12)).astype(float)
    want = (x * n).sum(axis=1)
    cap = want * rng.uniform(0, 1.2, 500)
    level = water_level(x, n, cap)
    served = (n * np.minimum(x, level[:, None])).sum(axis=1)
    fits = cap >= want
    np.testing.assert_allclose(served[~fits], cap[~fits], rtol=1e-9)
    assert np.isinf(level[fits]).all()
    share = served_shares(x, n, cap, "max_min")
    assert ((share >= 0) & (share <= 1)).all()
    # Under one rate limit a smaller customer never gets a smaller share than a larger one.
    for i in range(50):
        o = np.argsort(x[i])
        assert (np.diff(share[i][o]) <= 1e-12).all()
    # More capacity never lowers the limit.
    assert (water_level(x, n, cap * 1.1) >= level).all()
    p = served_shares(x, n, cap, "proportional")
    np.testing.assert_allclose((p * x * n).sum(axis=1), np.minimum(cap, want), rtol=1e-9)


def _hours(seed, days=40):
    rng = np.random.default_rng(seed)
    prof = 1 + 0.5 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    cap = rng.uniform(50, 150, (days, 1)) * np.ones((1, 24))
    tiers = [rng.uniform(0, 40, (days, 24)) * prof for _ in range(3)]
    batch = rng.uniform(0, 30, days)
    return cap, tiers, batch


def _retry_by_hand(cap, tiers, r):
    """The same-day retry rule hour by hour, written as plainly as possible."""
    days = cap.shape[0]
    given_up = np.zeros((len(tiers), days, 24))
    served = np.zeros((days, 24))
    for d in range(days):
        queue = [0.0] * len(tiers)
        for h in range(24):
            free = cap[d, h]
            for i, t in enumerate(tiers):
                s = min(t[d, h], free)
                free -= s
                missed = t[d, h] - s
                given_up[i, d, h] += (1 - r) * missed
                take = min(queue[i], free)
                queue[i] += r * missed - take
                free -= take
                served[d, h] += s + take
        for i in range(len(tiers)):
            given_up[i, d, 23] += queue[i]
    return served, given_up


@pytest.mark.parametrize("r", [0.0, 0.3, 1.0])
def test_same_day_retries_match_an_hour_by_hour_loop_and_keep_tokens(r):
    cap, tiers, batch = _hours(3)
    got, fresh = allocate_retrying(cap, tiers, np.zeros_like(batch), r)
    served, given_up = _retry_by_hand(cap, tiers, r)
    np.testing.assert_allclose(got.served, served, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.unserved_by_tier[:3], given_up, rtol=1e-9, atol=1e-9)
    # Tokens: over each day demand = served + given up, per tier and in total.
    np.testing.assert_allclose(got.served.sum(axis=1) + got.unserved.sum(axis=1),
                               got.demand.sum(axis=1), rtol=1e-9)
    assert (got.served <= cap * (1 + 1e-12)).all()
    assert ((fresh >= 0) & (fresh <= 1)).all()


def test_no_retries_is_the_plain_priority_allocation():
    cap, tiers, batch = _hours(4)
    got, _ = allocate_retrying(cap, tiers, batch, 0.0)
    ref = allocate(cap, tiers, batch)
    for f in ("served", "unserved_by_tier", "short", "demand"):
        np.testing.assert_array_equal(getattr(got, f), getattr(ref, f))


def test_retries_serve_more_and_never_less():
    cap, tiers, batch = _hours(5)
    served = [allocate_retrying(cap, tiers, batch, r)[0].served.sum() for r in (0, .3, .6, 1)]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(served, served[1:], strict=False))
    assert served[-1] > served[0]


def test_groups_add_up_to_the_population(default_scenario):
    sc = default_scenario
    pop = build_population(sc.demand, 400, np.random.default_rng(7))
    g = build_groups(pop, 3, [0.5, 0.8, 0.95, 0.99], 400)
    for parent in range(pop.count.shape[0]):
        rows = g.parent == parent
        np.testing.assert_allclose(g.count[rows].sum(axis=0), pop.count[parent], rtol=0)
        np.testing.assert_allclose(g.weight[rows].sum(axis=0), pop.weight[parent], rtol=1e-9)
    new = (np.arange(pop.n) >= pop.n_start) & (pop.arrive > 0)
    assert g.arrivals.sum() == new.sum()
    # The population's own fine groups (drawn with these quantiles) are what cutting it
    # afresh gives; other quantiles cut it afresh, and add up to it too.
    fresh = build_groups(replace(pop, size_classes=()), 3, [0.5, 0.8, 0.95, 0.99], 400)
    for name in ("count", "weight", "arrivals"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(g, name))
    other = build_groups(pop, 3, [0.3, 0.9], 400)
    assert other.count.shape == (3 * 2 * 3, 400)
    for parent in range(pop.count.shape[0]):
        rows = other.parent == parent
        np.testing.assert_allclose(other.count[rows].sum(axis=0), pop.count[parent], rtol=0)
        np.testing.assert_allclose(other.weight[rows].sum(axis=0), pop.weight[parent],
                                   rtol=1e-9)
    # Size classes split each segment by size: a higher class holds larger customers.
    assert (g.committed == (g.parent % 2 == 1)).all()


def test_a_model_run_keeps_customers_and_tokens_consistent(short_scenario):
    model = CapacityModel(short_scenario)
    sim = model.build(Streams(11, 0))
    sim.run()
    r = model.collect(sim)
    s = r.timeseries
    assert (s["customers_throttled_committed"] <= s["customers_committed"]).all()
    assert (s["customers_throttled_on_demand"]
            <= s["customers_active"] - s["customers_committed"]).all()
    assert (s["customer_hours_throttled"] <= 24 * s["customers_active"] + 1e-6).all()
    np.testing.assert_allclose(s["served_tps"] + s["unserved_tps"], s["demand_tps"], rtol=1e-9)
    cu = model.demand_days.customers
    # Lost customers leave the head count: active = retained share x baseline, never more.
    base = cu.g.count.sum(axis=0)
    assert (s["customers_active"] <= base + 0.5).all()
    assert r.kpis["customers_lost_to_competitors"] <= s["customers_lost"][-1] + 1e-9


def test_customers_who_left_stay_gone_in_periods_without_throttling(default_scenario):
    """Every day's head count comes from the customers retained, short period or not."""
    model = CapacityModel(default_scenario)
    sim = model.build(Streams(0, 0))
    sim.run()
    r = model.collect(sim)
    cu = model.demand_days.customers
    assert r.kpis["customers_lost_to_competitors"] > 0
    np.testing.assert_array_equal(r.timeseries["customers_active"],
                                  cu.active(0, model.clock.days).sum(axis=1))
    # The retained sizes per population group: summed by blocks of consecutive size
    # classes, exactly as a scatter-add over the groups' parents sums them.
    days = model.clock.days
    assert cu._blocks
    fast = cu.weight(0, days)
    cu._blocks = False
    np.testing.assert_array_equal(fast, cu.weight(0, days))
    assert (r.timeseries["demand_tps"] <= r.timeseries["demand_potential_tps"] * (1 + 1e-12)).all()


def test_results_do_not_depend_on_when_days_are_served(default_scenario, monkeypatch):
    """Tranche checks serve days early or late; reviews and results must not notice."""
    from capsim.models.ledger import TrancheWatch

    def run():
        model = CapacityModel(default_scenario)
        sim = model.build(Streams(8, 0))  # seed 8: a review right after early-served days
        sim.run()
        return model.collect(sim)

    lazy = run()
    monkeypatch.setattr(TrancheWatch, "_below_milestone", lambda self, lo, day: False)
    eager = run()
    assert lazy.kpis["customers_lost_to_competitors"] > 0
    for k, v in lazy.kpis.items():
        assert v == eager.kpis[k] or (v != v and eager.kpis[k] != eager.kpis[k]), k
    for k, v in lazy.timeseries.items():
        np.testing.assert_array_equal(v, eager.timeseries[k], err_msg=k)


def test_reactions_off_lose_nobody_and_keep_demand():
    sc = load(None, ["scenario.end=2028-04-01", "customers.reactions=[]", PRIORS,
                     "demand.growth_multiplier=2"])[0]
    r = run_replication(CapacityModel, sc, 3, 0)
    s = r.timeseries
    assert s["customers_lost"][-1] == 0
    np.testing.assert_array_equal(s["demand_tps"], s["demand_potential_tps"])
    assert r.kpis["customers_throttled_peak"] > 0  # the stress does throttle


def test_customers_react_to_a_stress_and_leave():
    """Same seeds: the growth stress throttles, and reacting customers leave."""
    sets = ["scenario.end=2028-04-01", "demand.growth_multiplier=2", PRIORS]
    model = CapacityModel(load(None, sets)[0])
    sim = model.build(Streams(3, 0))
    sim.run()
    on = model.collect(sim)
    # Customers who left stay gone: every day's head count and demand come from the
    # customers retained, also in periods when nobody was throttled.
    cu = model.demand_days.customers
    np.testing.assert_array_equal(on.timeseries["customers_active"],
                                  cu.active(0, model.clock.days).sum(axis=1))
    assert (cu.retained[1:] <= cu.retained[:-1]).all()
    off = run_replication(CapacityModel, load(None, [*sets, "customers.reactions=[]"])[0], 3, 0)
    assert on.kpis["customers_lost_to_competitors"] > 0
    assert on.kpis["demand_lost_share"] > 0
    assert (on.kpis["revenue_per_demand_usd_per_mtok"]
            < off.kpis["revenue_per_demand_usd_per_mtok"])
    # Before customers react (reactions_from) both runs are the same: until the first
    # day that demand is lost, to customers who leave or prospects who do not join.
    lost = (on.timeseries["customers_lost"] > 0) | (on.timeseries["demand_lost_tps"] > 0)
    start = int(np.argmax(lost))
    np.testing.assert_array_equal(on.timeseries["demand_tps"][:start - 30],
                                  off.timeseries["demand_tps"][:start - 30])


def test_reaction_parameters_come_from_their_own_stream():
    sc = load(None, ["scenario.end=2027-04-01"])[0]
    a = CapacityModel(sc)
    a.build(Streams(5, 0))
    b = CapacityModel(load(None, ["scenario.end=2027-04-01",
                                  "customers.retry_share=0.9"])[0])
    b.build(Streams(5, 0))
    ra, rb = a.demand_days.customers.reaction, b.demand_days.customers.reaction
    assert isinstance(ra, Reaction) and isinstance(rb, Reaction)
    assert rb.retry_share == 0.9 and ra.churn_per_year == rb.churn_per_year
    np.testing.assert_array_equal(a.demand_days.total, b.demand_days.total)


def test_monthly_throttled_share_is_the_mean_over_months_of_throttled_head_counts():
    from capsim.models.customers import kpis

    rng = np.random.default_rng(4)
    dates = np.arange("2026-01-20", "2026-06-03", dtype="datetime64[D]")
    days, groups = dates.size, 7
    active = rng.integers(0, 50, (days, groups)).astype(float)
    active[40:75] = 0.0  # a month with nobody active does not count
    hit = rng.random((days, groups)) < 0.05
    got = kpis(dates, np.where(hit, 3.0, 0.0), hit, active, np.zeros(days), np.ones(days),
               np.ones(days), np.ones(days))["enterprise_throttled_monthly_share"]
    month = dates.astype("datetime64[M]")
    want = []
    for m in np.unique(month):
        rows = month == m
        heads = active[rows].mean(axis=0)
        if heads.sum() > 0:
            want.append((heads * hit[rows].any(axis=0)).sum() / heads.sum())
    assert len(want) == 5 and got == pytest.approx(np.mean(want), rel=1e-12)
