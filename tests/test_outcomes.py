"""Short months, their spells, the loan and the evaluation window (models.outcomes)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from capsim.models import outcomes
from capsim.models.scenario import ScenarioError, load
from capsim.simcore.clock import Clock, decimal_year


def _days(start: str, n: int) -> np.ndarray:
    return np.datetime64(start, "D") + np.arange(n)


def test_a_month_is_short_only_above_the_threshold():
    dates = _days("2027-01-01", 365)
    demand = np.full(365, 100.0)
    unserved = np.zeros(365)
    month = dates.astype("datetime64[M]").astype(int) % 12
    unserved[month == 2] = 0.5     # March: 0.5% unserved, below 1%
    unserved[month == 5] = 2.0     # June: 2%
    unserved[(month == 6) | (month == 7)] = 5.0   # July-August
    k = outcomes.shortfall(dates, demand, unserved, 0.01)
    assert k["p_shortfall_any"] == 1.0
    assert k["short_month_share"] == pytest.approx(3 / 12)
    assert k["longest_short_spell_months"] == 3
    assert k["first_short_month"] == pytest.approx(2027 + 151 / 365)  # 1 June
    assert k["first_adequate_date"] == pytest.approx(2027 + 243 / 365)  # 1 September
    # A stricter threshold counts March too; a looser one nothing.
    assert outcomes.shortfall(dates, demand, unserved, 0.001)["short_month_share"] == 4 / 12
    none = outcomes.shortfall(dates, demand, unserved, 0.06)
    assert none["p_shortfall_any"] == 0 and np.isnan(none["first_short_month"])
    assert none["first_adequate_date"] == pytest.approx(2027.0)


def test_more_unserved_never_makes_fewer_short_months():
    rng = np.random.default_rng(0)
    dates = _days("2026-04-01", 900)
    demand = rng.uniform(50, 150, 900)
    unserved = demand * rng.uniform(0, 0.03, 900)
    base = outcomes.shortfall(dates, demand, unserved, 0.01)
    worse = outcomes.shortfall(dates, demand, np.minimum(unserved * 1.5, demand), 0.01)
    for k in ("short_month_share", "longest_short_spell_months", "p_shortfall_any"):
        assert worse[k] >= base[k], k


def test_longest_run():
    assert outcomes.longest_run(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool)) == 3
    assert outcomes.longest_run(np.zeros(5, bool)) == 0


def test_loan_shares():
    own = np.full(10, 50.0)
    cap = own + np.r_[np.zeros(5), np.full(5, 10.0)]
    res = np.full(10, 50.0)
    loan, deficit = outcomes.loan_shares(cap, own, res)
    assert loan == pytest.approx(50 / cap.sum())
    assert deficit == pytest.approx(50 / 500)


def test_evaluation_window_from_the_scenario():
    sc = load(None, ["scenario.evaluation_start=2026-04-01",
                     "scenario.evaluation_end=2030-01-01"])[0]
    clock = Clock.between(sc.scenario.start, sc.scenario.end)
    w0, w1 = outcomes.window_days(sc, clock)
    assert clock.dates()[w0] == np.datetime64("2026-04-01")
    assert clock.dates()[w1 - 1] == np.datetime64("2029-12-31")
    with pytest.raises(ScenarioError):
        load(None, ["scenario.evaluation_start=2023-01-01"])  # before the start
    with pytest.raises(ScenarioError):
        load(None, ["scenario.evaluation_end=2026-04-01"])  # empty window


def test_kpis_cover_the_window_only():
    from capsim.models.capacity import CapacityModel
    from capsim.simcore.simulation import run_replication

    base = ["scenario.end=2028-04-01"]
    sc = load(None, base)[0]
    full_start = sc.scenario.start
    full = run_replication(CapacityModel, sc, 2, 0)
    late = run_replication(CapacityModel, load(
        None, [*base, "scenario.evaluation_start=2027-04-01"])[0], 2, 0)
    s = full.timeseries
    assert late.timeseries["demand_tps"] == pytest.approx(s["demand_tps"])  # same run
    half = slice((dt.date(2027, 4, 1) - full_start).days, None)
    assert late.kpis["unserved_fraction"] == pytest.approx(
        s["unserved_tps"][half].sum() / s["demand_tps"][half].sum())
    assert late.kpis["revenue_total_usd"] == pytest.approx(s["revenue_daily_usd"][half].sum())
    assert late.kpis["stranded_chip_months"] <= full.kpis["stranded_chip_months"]


def test_sustained_adequacy_needs_a_run_of_adequate_months():
    # 36 months from 2027: short in months 0-2, fine 3-8, short 9, fine 10-35 but one
    # short month at 30. first_adequate_date: after month 30; sustained: month 10.
    months = np.arange(np.datetime64("2027-01"), np.datetime64("2030-01"))
    dates = np.concatenate([np.arange(m.astype("datetime64[D]"),
                                      (m + 1).astype("datetime64[D]")) for m in months])
    month_of = dates.astype("datetime64[M]")
    idx = (month_of - months[0]).astype(int)
    short = np.isin(idx, [0, 1, 2, 9, 30])
    demand = np.ones(dates.size)
    unmet = np.where(short, 0.5, 0.0)
    k = outcomes.shortfall(dates, demand, unmet, 0.01, sustained_months=12)
    assert k["sustained_adequacy_date"] == pytest.approx(decimal_year(months[10]))
    assert k["first_adequate_date"] == pytest.approx(decimal_year(months[31]))
    assert k["p_never_sustained_adequate"] == 0.0
    # A 25-month run is needed and none is long enough (10-29 is 20 months, 31-35 is 5).
    never = outcomes.shortfall(dates, demand, unmet, 0.01, sustained_months=25)
    assert np.isnan(never["sustained_adequacy_date"])
    assert never["p_never_sustained_adequate"] == 1.0
    # Adequate throughout: sustained from the first month.
    fine = outcomes.shortfall(dates, demand, np.zeros(dates.size), 0.01)
    assert fine["sustained_adequacy_date"] == pytest.approx(decimal_year(months[0]))
    assert outcomes.first_sustained(np.array([True] * 11), 12) is None
