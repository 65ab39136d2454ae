"""Unmet demand: unserved tokens plus demand lost to throttling, and what it forgoes."""

from __future__ import annotations

import numpy as np
import pytest
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore.simulation import run_replication

TIERS = ("committed", "on_demand", "consumer", "batch")


@pytest.fixture(scope="module")
def run():
    sc = load(None, ["scenario.end=2028-01-01"])[0]
    return sc, run_replication(CapacityModel, sc, 7, 0)


def test_unmet_is_unserved_plus_lost_by_tier(run):
    _, r = run
    s = r.timeseries
    np.testing.assert_allclose(s["unmet_tps"], s["unserved_tps"] + s["demand_lost_tps"],
                               rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(sum(s[f"unmet_{t}_tps"] for t in TIERS), s["unmet_tps"],
                               rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(s["demand_lost_tps"], s["demand_potential_tps"] - s["demand_tps"],
                               rtol=1e-6, atol=1e-3)
    assert (s["unmet_tps"] >= 0).all() and (s["unmet_tps"] <= s["demand_potential_tps"]
                                             * (1 + 1e-9)).all()


def test_unmet_share_and_forgone_revenue_hold_their_parts(run):
    sc, r = run
    k, s = r.kpis, r.timeseries
    w0 = (sc.scenario.evaluation_start - sc.scenario.start).days
    pot = s["demand_potential_tps"][w0:]
    assert k["unmet_demand_share"] == pytest.approx(s["unmet_tps"][w0:].sum() / pot.sum())
    # Its parts: unserved tokens (a share of demand) and demand lost (a share of potential).
    parts = (k["unserved_fraction"] * s["demand_tps"][w0:].sum() / pot.sum()
             + k["demand_lost_share"])
    assert k["unmet_demand_share"] == pytest.approx(parts, rel=1e-6, abs=1e-9)
    assert k["forgone_revenue_total_usd"] >= k["lost_revenue_total_usd"]
    assert k["forgone_revenue_total_usd"] == pytest.approx(
        s["forgone_revenue_daily_usd"][w0:].sum())
    # No unmet demand means nothing forgone, and demand lost means revenue forgone.
    if k["demand_lost_share"] > 0:
        assert k["forgone_revenue_total_usd"] > k["lost_revenue_total_usd"]


def test_short_months_count_unmet_demand(run):
    sc, r = run
    from capsim.models import outcomes

    s, w0 = r.timeseries, (sc.scenario.evaluation_start - sc.scenario.start).days
    dates = np.arange(np.datetime64(sc.scenario.start), np.datetime64(sc.scenario.end))[w0:]
    got = outcomes.shortfall(dates, s["demand_potential_tps"][w0:], s["unmet_tps"][w0:],
                             sc.service.short_month_threshold)
    assert got["short_month_share"] == pytest.approx(r.kpis["short_month_share"])
    assert got["p_shortfall_any"] == r.kpis["p_shortfall_any"]
