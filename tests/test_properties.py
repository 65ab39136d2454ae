"""Property-based tests (hypothesis).

Property-based tests (hypothesis): random valid scenarios keep every invariant; random
invalid ones are refused with exit code 2 naming the key.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from capsim.experiments.cli import main
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore.streams import Streams
from conftest import PRIORS
from hypothesis import given
from hypothesis import strategies as st

# Example counts and seeds come from the profile (tests/conftest.py, HYPOTHESIS_PROFILE).

knobs = st.fixed_dictionaries({
    "scenario.end": st.dates(dt.date(2026, 6, 1), dt.date(2027, 12, 31)).map(str),
    "demand.growth_multiplier": st.floats(0.2, 3.0),
    "supply.delivery_delay_days": st.floats(0, 720),
    "datacenters.power_on_delay_days": st.floats(0, 720),
    "surges.intensity_multiplier": st.floats(0, 5),
    "demand.cloud_share": st.floats(0, 1),
    "service.serving_share": st.floats(0, 1),
    "service.training_flex_share": st.floats(0, 1),
    "datacenters.pue": st.floats(1.0, 1.6),
    "fleet.mtbf_hours": st.floats(500, 1e6),
    "fleet.integration_days": st.floats(0, 200),
    "supply.pools.cowos.share": st.floats(0.0005, 1),
    "supply.pools.hbm.share": st.floats(0.0005, 1),
    "procurement.policy": st.sampled_from(["plan", "forecast"]),
    "finance.tranches.initial.capacity_share": st.floats(0, 1),
    "clouds.google.enabled": st.sampled_from(["true", "false"]),
    "fleet.repair_hours": st.floats(0, 2000),
    "demand.enterprise.customers": st.integers(0, 200_000),
    "surges.rate_per_year": st.floats(0, 50),
    "customers.rationing": st.sampled_from(["max_min", "proportional"]),
    "customers.throttled_threshold": st.floats(0.05, 1.0),
    "customers.retry_share": st.floats(0, 1),
    "customers.churn_per_throttled_year": st.floats(0, 50),
    "customers.review_days": st.integers(1, 120),
    "customers.reactions_from": st.dates(dt.date(2024, 1, 1), dt.date(2027, 6, 1)).map(str),
})


def _override(d):
    return [f"{k}={v}" for k, v in d.items()]


@given(knobs, st.integers(0, 2**32 - 1))
def test_random_valid_scenarios_keep_every_invariant(d, seed):
    sc = load(None, _override(d))[0]
    model = CapacityModel(sc)
    sim = model.build(Streams(seed, 0))
    f = model.fleet
    step = f.step

    def checked(day):
        step(day)
        assert np.array_equal(f.shipped, f.in_transit + f.waiting + f.installed + f.failed
                              + f.retired)
        assert min(f.in_transit.min(), f.waiting.min(), f.installed.min(), f.failed.min(),
                   f.retired.min()) >= 0
        assert (f.occupied_kw_by_cloud() <= f.energized * 1000 + 1e-3).all()

    f.step = checked
    sim.run()
    r = model.collect(sim)
    s = r.timeseries
    for name, x in s.items():
        if not name.endswith("_s"):  # latencies (seconds) are undefined on days with no request
            assert np.all(np.isfinite(x)), name
    assert np.all(s["served_tps"] <= s["demand_tps"] * (1 + 1e-9) + 1e-9)
    assert np.all(s["served_tps"] <= s["capacity_tps"] * (1 + 1e-9) + 1e-9)
    np.testing.assert_allclose(s["served_tps"] + s["unserved_tps"], s["demand_tps"], rtol=1e-9,
                               atol=1e-9)
    # Customers: throttled never above active, per tier; lost customers only accumulate,
    # and demand never rises above the demand before customers reacted.
    on_demand = s["customers_active"] - s["customers_committed"]
    assert (s["customers_throttled_committed"] <= s["customers_committed"]).all()
    assert (s["customers_throttled_on_demand"] <= on_demand).all()
    assert (s["customers_throttled"] <= s["customers_active"]).all()
    assert (np.diff(s["customers_lost"]) >= 0).all()
    assert (s["demand_tps"] <= s["demand_potential_tps"] * (1 + 1e-9) + 1e-9).all()
    k = r.kpis
    for name in ("unserved_fraction", "slo_attainment", "p_shortfall_any",
                 "customer_hours_throttled_share", "enterprise_throttled_monthly_share",
                 "demand_lost_share"):
        assert 0.0 <= k[name] <= 1.0, name
    for name in ("stranded_chip_months", "stranded_power_mw_months", "aws_spend_total_usd",
                 "customers_throttled_peak", "revenue_total_usd", "lost_revenue_total_usd",
                 "ordered_total_mw", "investment_total_usd"):
        assert k[name] >= 0 and np.isfinite(k[name]), name
    # The pools and lines never create chips: shipped <= installed base + planned + ordered.
    planned = sum(c for t, g, c in model.shipments)
    assert f.shipped.sum() <= model.installed_base + planned + model.orders.ordered_chips
    assert (model.lines.backlog >= 0).all()
    for name in model.pools.containers:
        assert model.pools.used[name] <= model.pools.supplied[name] * (1 + 1e-12)


def _total_unserved(overrides, seed):
    from capsim.simcore.simulation import run_replication

    # Customers who react make demand depend on past service (more stress, more of them
    # leave, less demand later), so "never serves more" is a property of the service
    # alone: reactions off. tests/test_customers.py covers the reactions.
    sc = load(None, ["scenario.end=2027-04-01", "customers.reactions=[]", PRIORS,
                     *overrides])[0]
    r = run_replication(CapacityModel, sc, seed, 0)
    return r.timeseries["unserved_tps"].sum()


def _never_serves_more(key, value, factor, seed):
    # Same seed: the demand side scales up, every random draw stays the same.
    lo = _total_unserved([f"{key}={value}"], seed)
    hi = _total_unserved([f"{key}={value * factor}"], seed)
    assert hi >= lo * (1 - 1e-12)


@given(st.floats(0.5, 2.0), st.floats(1.01, 2.0), st.integers(0, 1000))
def test_more_demand_growth_never_serves_more_of_it(m, factor, seed):
    _never_serves_more("demand.growth_multiplier", m, factor, seed)


@given(st.floats(0.0, 2.0), st.floats(1.1, 4.0), st.integers(0, 1000))
def test_bigger_surges_never_serve_more(k, factor, seed):
    _never_serves_more("surges.intensity_multiplier", k, factor, seed)


SHARES = ["demand.cloud_share", "service.serving_share", "demand.enterprise_revenue_share",
          "supply.generations.trainium3.share", "demand.enterprise.batch_share",
          "surges.random_consumer_share"]
NONNEG = ["fleet.repair_hours", "datacenters.campuses.mississippi.slip_days",
          "surges.rate_per_year", "demand.enterprise.churn_per_year",
          "supply.generations.trainium4.slip_quarters", "datacenters.power_on_delay_days",
          "supply.delivery_delay_days", "surges.intensity_multiplier"]


@given(st.one_of(
    st.tuples(st.sampled_from(SHARES), st.one_of(st.floats(-10, -1e-6), st.floats(1.000001, 10)))
    .map(lambda t: (t[0], f"{t[1]!r}")),
    st.tuples(st.sampled_from(NONNEG), st.floats(-1e6, -1e-6)).map(lambda t: (t[0], f"{t[1]!r}")),
    st.tuples(st.sampled_from(SHARES + NONNEG), st.sampled_from(['"x"', "[1, 2]", "true"])),
))
def test_random_invalid_values_are_refused_with_exit_2(capsys, bad):
    key, value = bad
    assert main(["validate", "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err
