"""The stress knobs act from the evaluation start (the announcement): history is unchanged.

For each knob, a stressed run and the unstressed run on the same seed and replication
agree on every daily series before ``[scenario] evaluation_start`` and differ after it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore.simulation import run_replication

BASE = ["scenario.end=2028-01-01"]
POLICIES = ("plan", "forecast")
"""Procurement policies: the forecast policy's reviews look ahead at the demand trend."""
KNOBS = {
    "demand.growth_multiplier": "1.5",
    "supply.delivery_delay_days": "180",
    "datacenters.power_on_delay_days": "365",
    "surges.intensity_multiplier": "3.0",
}
"""Every stress knob of the scenario (models/scenario/__init__.py), at a strong setting."""


@pytest.fixture(scope="module", params=POLICIES)
def unstressed(request):
    base = [*BASE, f"procurement.policy={request.param}"]
    sc = load(None, base)[0]
    return base, sc, {rep: run_replication(CapacityModel, sc, 11, rep) for rep in (0, 1)}


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_history_before_the_evaluation_start_is_unchanged(unstressed, knob):
    base_overrides, sc, runs = unstressed
    stressed_sc = load(None, [*base_overrides, f"{knob}={KNOBS[knob]}"])[0]
    w0 = (sc.scenario.evaluation_start - sc.scenario.start).days
    assert w0 > 365  # the runs start before the announcement
    moved_after = False
    for rep, base in runs.items():
        stressed = run_replication(CapacityModel, stressed_sc, 11, rep)
        assert set(stressed.timeseries) == set(base.timeseries)
        for name, x in base.timeseries.items():
            y = stressed.timeseries[name]
            np.testing.assert_array_equal(
                np.asarray(y)[:w0], np.asarray(x)[:w0],
                err_msg=f"{knob}: series {name} differs before the evaluation start")
        after = slice(w0, None)
        moved_after |= any(not np.array_equal(np.asarray(stressed.timeseries[n])[after],
                                              np.asarray(base.timeseries[n])[after])
                           for n in base.timeseries)
    assert moved_after, f"{knob} changes nothing after the evaluation start"


def test_the_stress_start_is_the_evaluation_start():
    from capsim.models.outcomes import stress_start_h
    from capsim.simcore.clock import Clock

    sc = load(None, BASE)[0]
    clock = Clock.between(sc.scenario.start, sc.scenario.end)
    assert stress_start_h(sc, clock) == clock.hours(sc.scenario.evaluation_start)
    assert sc.scenario.evaluation_start == dt.date(2026, 4, 1)


@pytest.mark.parametrize("replication", range(6))
def test_faster_growth_means_more_potential_demand_on_every_day_after_the_start(replication):
    # The shipped posterior's draws, whose growth shocks turn growth negative in some
    # months: the multiplier scales the expected growth, not the shocks, so the demand the
    # market would bring is never lower than unstressed, on any day.
    base = load(None, BASE)[0]
    more = load(None, [*BASE, "demand.growth_multiplier=1.3"])[0]
    a = run_replication(CapacityModel, base, 2026, replication).timeseries
    b = run_replication(CapacityModel, more, 2026, replication).timeseries
    w0 = (base.scenario.evaluation_start - base.scenario.start).days
    x, y = np.asarray(a["demand_potential_tps"]), np.asarray(b["demand_potential_tps"])
    np.testing.assert_array_equal(y[:w0], x[:w0])
    assert np.all(y[w0:] >= x[w0:]) and y[-1] > x[-1]
