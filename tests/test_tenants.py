"""models.tenants: the allocation rule conserves power; a rival never helps Anthropic."""

from __future__ import annotations

import numpy as np
import pytest
from capsim.models import tenants
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore.streams import Streams
from capsim.simcore.units import HOURS_PER_YEAR
from hypothesis import given, settings
from hypothesis import strategies as st

H = HOURS_PER_YEAR

power_ons = st.lists(st.tuples(st.floats(0, 10 * H), st.floats(0, 200), st.integers(0, 1),
                               st.just("campus")), max_size=40)
rivals = st.lists(st.builds(
    tenants.TenantDraw, name=st.sampled_from(["a", "b", "c"]), cloud=st.integers(0, 1),
    start_h=st.floats(0, 5 * H), base_mw=st.floats(0, 2000), expansion_from_h=st.floats(0, 8 * H),
    expansion_per_year=st.floats(0.5, 3.0), power_share=st.floats(0, 1)),
    max_size=3, unique_by=lambda d: d.name)


@settings(deadline=None)
@given(power_ons, rivals)
def test_allocation_conserves_power_and_respects_the_rule(pons, ts):
    out, taken = tenants.carve(pons, ts)
    assert len(out) == len(pons)
    for (t, mw, c, n), (t2, left, c2, n2) in zip(pons, out, strict=True):
        assert (t, c, n) == (t2, c2, n2)
        assert -1e-9 <= left <= mw + 1e-9
    total_taken = sum(m for x in taken.values() for _, m in x)
    np.testing.assert_allclose(sum(p[1] for p in pons) - sum(p[1] for p in out), total_taken,
                               atol=1e-6)
    for d in ts:
        held = 0.0
        for t, m in sorted(taken[d.name]):
            assert t >= d.start_h and m > 0
            held += m
            assert held <= d.target_mw(t) + 1e-6  # never beyond its contracted level
        # Each take is at most the tenant's share of that building.
        for t, m in taken[d.name]:
            assert any(abs(t - p[0]) == 0 and m <= p[1] * d.power_share + 1e-9 and
                       p[2] == d.cloud for p in pons)


def test_no_tenant_changes_nothing():
    pons = [(10.0, 50.0, 0, "x"), (5.0, 70.0, 0, "y")]
    out, taken = tenants.carve(pons, [])
    assert out == pons and taken == {}


def _kpis(sc, seed, rep):
    model = CapacityModel(sc)
    sim = model.build(Streams(seed, rep))
    sim.run()
    return model.collect(sim).kpis


@pytest.mark.parametrize("rep", [0, 1, 2])
def test_rival_never_lowers_anthropic_shortfall(rep):
    # With customers who react, a rival that throttles Anthropic can also drive customers
    # away and so lower the unserved share later; the service alone is monotone.
    sets = ["scenario.end=2030-04-01", "customers.reactions=[]"]
    off = load(None, [*sets, "tenants.openai.enabled=false"])[0]
    on = load(None, [*sets, "tenants.openai.enabled=true"])[0]
    a, b = _kpis(off, 2026, rep), _kpis(on, 2026, rep)
    assert a["tenant_power_mw_end"] == 0 and b["tenant_power_mw_end"] > 0
    assert b["unserved_fraction"] >= a["unserved_fraction"] - 1e-12
    assert b["short_month_share"] >= a["short_month_share"]
    assert b["p_shortfall_any"] >= a["p_shortfall_any"]
