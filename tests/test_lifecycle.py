"""One replication's lifecycle: components draw, are built, start their processes, report."""

from __future__ import annotations

import numpy as np
from capsim.models.capacity import CapacityModel
from capsim.simcore.streams import Streams


def _built(scenario, seed=7):
    model = CapacityModel(scenario)
    sim = model.build(Streams(seed, 0))
    return model, sim


def test_deliveries_power_on_and_surges_are_processes_of_the_lifecycle(short_scenario):
    model, sim = _built(short_scenario)
    names = [c.name for c in sim.components]
    assert names == ["supply.pools", "supply.lines", "datacenters", "surges", "tick",
                     "procurement"]
    # Nothing runs before the kernel starts the components.
    assert len(sim.env._queue) == 0  # noqa: SLF001 (SimPy's event queue)
    before = model.fleet.energized.copy()
    sim.run()
    ons = [e for e in sim.events.rows if e.kind == "power_on"]
    planned = sorted(t for t, _, _ in model.datacenters.planned if t < sim.clock.horizon)
    assert [e.hour for e in ons] == planned
    added = sum(e.amount for e in ons)
    # Power-ons during the run (and buildings ordered) energize the fleet.
    assert model.fleet.energized.sum() >= before.sum() + added - 1e-6
    assert model.fleet.shipped.sum() > model.installed_base  # the lines delivered chips
    surges = [e for e in sim.events.rows if e.kind.startswith("surge.")]
    assert [e.hour for e in surges] == [u.t0 for u in model.surges.schedule]


def test_components_are_built_from_values_drawn_from_their_own_streams(short_scenario):
    # The same seed draws the same components; another replication draws others.
    a, _ = _built(short_scenario, 7)
    b, _ = _built(short_scenario, 7)
    c = CapacityModel(short_scenario)
    c.build(Streams(7, 1))
    np.testing.assert_array_equal(a.fleet.kw, b.fleet.kw)
    np.testing.assert_array_equal(a.money.cloud_price, b.money.cloud_price)
    assert a.money.tranches == b.money.tranches and a.svc == b.svc
    assert a.datacenters.drawn == b.datacenters.drawn
    assert a.money.price_decline != c.money.price_decline
