"""The vectorized day: every hour at once gives what one day at a time gives."""

from __future__ import annotations

import numpy as np
from capsim.models import surges
from capsim.models.capacity import CapacityModel
from capsim.models.days import serve, trailing_mean
from capsim.models.demand import DemandModel
from capsim.models.service import allocate, serving_capacity
from capsim.models.surges import Surge, SurgeProcess
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import Simulation, run_replication
from capsim.simcore.streams import Streams


def test_allocating_many_days_at_once_equals_one_day_at_a_time():
    rng = np.random.default_rng(5)
    days = 40
    cap = rng.uniform(0, 30, (days, 24))
    cap[3] = 0.0                                   # a day without capacity
    tiers = [rng.uniform(0, 12, (days, 24)) for _ in range(3)]
    batch = rng.uniform(0, 8, days)
    batch[7] = 0.0                                 # a day without batch
    many = allocate(cap, tiers, batch)
    for d in range(days):
        one = allocate(cap[d], [t[d] for t in tiers], float(batch[d]))
        np.testing.assert_array_equal(many.served[d], one.served)
        np.testing.assert_array_equal(many.unserved_by_tier[:, d], one.unserved_by_tier)
        np.testing.assert_array_equal(many.short[:, d], one.short)
        np.testing.assert_array_equal(many.demand[d], one.demand)
    # Conservation per day: served + unserved = demand, served <= capacity each hour.
    day_demand = sum(t.sum(axis=1) for t in tiers) + 24 * batch
    got = many.served.sum(axis=1) + many.unserved_by_tier.sum(axis=(0, 2))
    np.testing.assert_allclose(got, day_demand, rtol=1e-12)
    assert (many.served <= cap + 1e-9).all()


def test_trailing_mean_is_the_mean_of_the_window():
    x = np.random.default_rng(1).uniform(0, 1e9, 200)
    got = trailing_mean(x, 30)
    for d in (0, 5, 28, 29, 30, 199):
        assert np.isclose(got[d], x[max(0, d - 29):d + 1].mean(), rtol=1e-14)
    assert np.allclose(trailing_mean(x[:10], 30), [x[:d + 1].mean() for d in range(10)])


def _surges(default_scenario, days=900):
    sc = default_scenario
    clock = Clock.between(sc.scenario.start, sc.scenario.start.replace(year=sc.scenario.start.year
                                                                        + 2))
    streams = Streams(11, 0)
    sim = Simulation(clock, streams)
    drawn = surges.draw(sc.surges, [clock.hours(d) for d in sc.surges.launches], clock.horizon,
                        streams)
    sp = SurgeProcess(drawn.schedule)
    sim.add(sp)
    sim.run()
    return sp, clock, sim


def test_surge_multipliers_follow_each_surge_shape(default_scenario):
    sp, clock, sim = _surges(default_scenario)
    days = clock.days
    ent, con = sp.multipliers(days)
    assert sp.schedule, "the default scenario has surges within two years"
    assert sim.events.count("surge.launch") + sim.events.count("surge.random") == len(sp.schedule)
    # Direct sum over the surges, hour by hour, with the same counting rule.
    hours = np.arange(days * 24) + 0.5
    day = np.arange(days * 24) // 24
    e, c = np.ones(days * 24), np.ones(days * 24)
    for u in sp.schedule:
        on = (u.t0 <= day * 24 + 12) & ~np.array([u.over(d * 24 + 0.5) for d in day])
        bump = np.where(on, u.magnitude * u.shape(hours), 0.0)
        if u.target != "consumer":
            e += bump
        if u.target != "enterprise":
            c += bump
    np.testing.assert_allclose(ent.ravel(), e, rtol=1e-12)
    np.testing.assert_allclose(con.ravel(), c, rtol=1e-12)
    assert (ent >= 1).all() and (con >= 1).all()


def test_surge_schedule_is_reproducible_and_inside_the_horizon(default_scenario):
    a, clock, _ = _surges(default_scenario)
    b, _, _ = _surges(default_scenario)
    assert [(u.t0, u.magnitude) for u in a.schedule] == [(u.t0, u.magnitude) for u in b.schedule]
    assert all(0 <= u.t0 < clock.horizon for u in a.schedule)
    assert [u.t0 for u in a.schedule] == sorted(u.t0 for u in a.schedule)
    assert Surge(0.0, 1.0, 24.0, 24.0, "random").shape(np.array([-1.0]))[0] == 0.0


def test_a_process_waiting_on_a_surge_wakes_at_its_start(default_scenario):
    sp, clock, _ = _surges(default_scenario)
    schedule = sp.schedule
    sim = Simulation(clock, Streams(11, 0))
    sp = SurgeProcess(schedule)
    woke: list[tuple[float, Surge]] = []
    active_after: list[int] = []

    def watcher():
        for _ in range(3):
            u = yield sp.next_surge()
            woke.append((sim.env.now, u))
            active_after.append(len(sp.active))

    sim.add(sp)
    sim.env.process(watcher())  # started before the surge process: waits on its event
    sim.run()
    assert [u for _, u in woke] == list(schedule[:3])
    for now, u in woke:
        assert abs(now - u.t0) < 1e-6  # woken at the surge's start (float timeouts)
    assert all(n >= 1 for n in active_after)
    # Every surge logged once, at its start; each one ends once it has decayed.
    logged = [e.hour for e in sim.events.rows if e.kind.startswith("surge.")]
    assert logged == [u.t0 for u in schedule]
    assert all(u.over(clock.horizon) or u in sp.active for u in schedule)


def test_demand_of_all_days_equals_demand_day_by_day(default_scenario):
    sc = default_scenario
    clock = Clock.between(sc.scenario.start, sc.scenario.start.replace(year=sc.scenario.start.year
                                                                        + 1))
    dm = DemandModel.draw(sc.demand, clock, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    se = 1 + rng.uniform(0, 1, (clock.days, 24))
    scn = 1 + rng.uniform(0, 1, (clock.days, 24))
    allc, allo, alln, allb = dm.hourly_all(se, scn)
    nc, no = dm.active_all()
    for d in (0, 1, 100, clock.days - 1):
        c, o, n, b = dm.hourly(d, se[d], scn[d])
        np.testing.assert_allclose(allc[d], c, rtol=1e-12)
        np.testing.assert_allclose(allo[d], o, rtol=1e-12)
        np.testing.assert_allclose(alln[d], n, rtol=1e-12)
        assert np.isclose(allb[d], b, rtol=1e-12)
        assert (nc[d], no[d]) == dm.active_customers(d)


def test_served_days_keep_money_and_tokens_consistent(short_scenario):
    model = CapacityModel(short_scenario)
    res = run_replication(CapacityModel, short_scenario, 4, 0)
    s = res.timeseries
    # Revenue plus lost revenue is the value of all demand at the day's prices.
    sim = model.build(Streams(4, 0))
    sim.run()
    got = serve(model.demand_days, model.terms, model.ledger.record.total_tps())
    np.testing.assert_allclose(got.revenue, s["revenue_daily_usd"], rtol=1e-12)
    full = serve(model.demand_days, model.terms, np.full(model.clock.days, 1e30))
    np.testing.assert_allclose(got.revenue + got.lost_revenue, full.revenue, rtol=1e-9)
    assert (full.lost_revenue == 0).all()
    none = serve(model.demand_days, model.terms, np.zeros(model.clock.days))
    assert (none.revenue == 0).all()
    # Capacity includes the training loan only as far as serving needs it.
    cap = serving_capacity(model.ledger.record.total_tps()[:, None], model.terms.serving_share,
                           model.terms.flex_share, model.demand_days.interactive,
                           model.terms.flex_target)
    np.testing.assert_array_equal(cap, got.capacity)
    assert (got.throttled <= s["customers_active"]).all()
