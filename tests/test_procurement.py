"""Power-aware shipping (models.procurement): holds, power orders, early retirement, aging."""

from __future__ import annotations

import numpy as np
import pytest
from capsim.models.capacity import CapacityModel
from capsim.models.fleet import Fleet
from capsim.models.procurement import GateTerms, PowerGate
from capsim.models.scenario import load
from capsim.simcore.simulation import run_replication


def _fleet(kw=(1.0,), tps=(1.0,), life=1000.0):
    n = len(kw)
    return Fleet([f"g{i}" for i in range(n)], np.array(kw), np.array(tps), mtbf_hours=1e300,
                 repair_days=1, life_days=life, horizon_days=400,
                 rng=[np.random.default_rng(i) for i in range(n)])


class _Clock:
    def __init__(self, t: float) -> None:
        self.now = t

    def __setitem__(self, key: str, t: float) -> None:  # clock["t"] = hours
        self.now = t


class _Orders:
    """Buildings ordered (read live) and a recorder of power orders."""

    def __init__(self, ordered, order, max_mw_year) -> None:
        self.buildings = ordered
        self.build_lead_h = 24 * 365
        self.max_order_mw_year = max_mw_year
        self._order = order

    def order_power(self, mw: float, cloud: int) -> None:
        self._order(mw, cloud)


def _gate(f, now=0.0, planned=(), ordered=None, order=None, **kw):
    clock = _Clock(now)
    orders = None
    if order is not None or ordered is not None:
        orders = _Orders(ordered if ordered is not None else [],
                         order if order is not None else (lambda mw, c: None),
                         kw.pop("max_mw_year", 1e9))
    terms = GateTerms(arrival_h=24 * 30, lead_h=24 * 90, review_h=24 * 30,
                      swap_ratio=kw.pop("swap_ratio", 0.0))
    g = PowerGate(f, clock, list(planned), terms, orders, **kw)
    return g, clock


def test_ships_only_what_powered_space_will_take():
    f = _fleet()
    f.energize(0.1)  # 100 kW: 100 chips of 1 kW
    gate, _ = _gate(f)
    assert gate.allowed(0, 60) == 60
    f.ship(0, 60)
    assert gate.allowed(0, 60) == 40  # the 60 shipped still need their space
    assert gate.allowed(0, 10) == 0   # granted but not shipped counts too


def test_power_due_within_the_lead_counts_and_later_power_does_not():
    f = _fleet()
    soon, late = (24 * 100.0, 0.05, 0), (24 * 200.0, 0.05, 0)  # (hour, MW, cloud)
    gate, _ = _gate(f, planned=[soon, late])
    assert gate.allowed(0, 80) == 50  # arrival + lead = day 120: only the first building


def test_held_chips_get_buildings_ordered_once():
    f = _fleet()
    ordered: list[tuple[float, float, int]] = []
    calls = []

    def order(mw, cloud):
        calls.append(mw)
        ordered.append((24 * 365.0, mw, cloud))

    gate, clock = _gate(f, ordered=ordered, order=order)
    assert gate.allowed(0, 30) == 0
    assert calls == [pytest.approx(0.030)]
    clock["t"] = 24 * 30.0
    assert gate.allowed(0, 30) == 0
    assert len(calls) == 1  # the building ordered already covers them
    clock["t"] = 24 * 300.0  # the building is due within arrival + lead
    assert gate.allowed(0, 30) == 30


def test_orders_respect_the_yearly_cap():
    f = _fleet()
    calls = []
    gate, _ = _gate(f, order=lambda mw, c: calls.append(mw), max_mw_year=0.01)
    gate.allowed(0, 30)
    assert calls == [pytest.approx(0.01)]


def test_early_retirement_only_for_chips_far_better_per_watt():
    f = _fleet(kw=(1.0, 1.0), tps=(1.0, 5.0))
    f.energize(0.1)
    f.ship(0, 100)
    f.arrive(0, 100)
    f.step(0)
    assert f.installed[0] == 100
    strict, _ = _gate(f, swap_ratio=6.0)
    assert strict.allowed(1, 40) == 0 and f.installed[0] == 100  # only 5x better
    swapper, _ = _gate(f, swap_ratio=3.0)
    assert swapper.allowed(1, 40) == 40
    assert f.installed[0] == 60 and f.retired_early[0] == 40
    assert f.shipped[0] == f.installed[0] + f.retired[0] + f.waiting[0]


def test_retirements_by_then_free_space_for_shipping():
    f = _fleet(life=200.0)
    f.energize(0.1)
    f.ship(0, 100)
    f.arrive(0, 100)
    f.step(0)  # all installed on day 0: they retire on day 200
    gate, clock = _gate(f)
    assert gate.allowed(0, 50) == 0  # day 0 + 30 + 90 = day 120: still in service
    clock["t"] = 24 * 90.0  # day 90 + 30 + 90 = day 210: all retired by then
    assert gate.allowed(0, 50) == 50


@pytest.fixture(scope="module")
def pair():
    out = {}
    for policy in ("power_aware", "legacy"):
        sc = load(None, ["scenario.end=2030-04-01", f"procurement.shipping={policy}"])[0]
        out[policy] = [run_replication(CapacityModel, sc, 7, r) for r in range(2)]
    return out


def test_power_aware_strands_fewer_chips_than_legacy_on_the_same_seeds(pair):
    for aware, legacy in zip(pair["power_aware"], pair["legacy"], strict=True):
        assert aware.kpis["stranded_chip_months"] < legacy.kpis["stranded_chip_months"]
        assert legacy.kpis["held_chip_months"] == 0
        assert legacy.kpis["power_ordered_total_mw"] == 0
        assert not any(e.kind == "early_retirement" for e in legacy.events)
    ratio = (sum(r.kpis["stranded_chip_months"] for r in pair["power_aware"])
             / sum(r.kpis["stranded_chip_months"] for r in pair["legacy"]))
    assert ratio < 0.5


def test_power_aware_keeps_chips_conserved(pair):
    for r in pair["power_aware"]:
        s = r.timeseries
        states = sum(s[f"chips_{st}"] for st in
                     ("in_transit", "waiting", "installed", "failed", "retired"))
        np.testing.assert_array_equal(states, s["chips_shipped"])
        assert np.all(s["chips_held"] >= 0)
        assert np.all(np.diff(s["power_ordered_cum_mw"]) >= 0)


def test_history_ships_as_it_happened_whatever_the_policy(pair):
    # Before the evaluation window (the announcement) the power-aware policy holds nothing:
    # the history years replay the recorded output, so both policies ship the same chips
    # on the same seeds up to that day, and only then part ways.
    sc = load(None, ["scenario.end=2030-04-01"])[0]
    start = sc.procurement.power_aware_from
    assert start is not None
    day = (start - sc.scenario.start).days
    for aware, legacy in zip(pair["power_aware"], pair["legacy"], strict=True):
        a, b = aware.timeseries["chips_shipped"], legacy.timeseries["chips_shipped"]
        np.testing.assert_array_equal(a[:day], b[:day])
        assert not np.array_equal(a, b)


def test_held_chips_cost_their_chip_months_at_the_drawn_monthly_cost(pair):
    # The cost per chip-month is drawn once per replication from its own stream; a pinned
    # value gives cost = held_chip_months x that value exactly, and legacy shipping (no
    # chip held) costs nothing.
    for aware, legacy in zip(pair["power_aware"], pair["legacy"], strict=True):
        assert aware.kpis["held_chip_months"] > 0
        assert aware.kpis["held_chip_cost_usd"] > 0
        assert legacy.kpis["held_chip_cost_usd"] == 0
    pinned = ["scenario.end=2030-04-01", "finance.held_chip_usd_per_chip_month="
              "{value = 500, unit = 'USD per chip-month', source = 'test'}"]
    r = run_replication(CapacityModel, load(None, pinned)[0], 7, 0)
    assert r.kpis["held_chip_cost_usd"] == pytest.approx(500 * r.kpis["held_chip_months"],
                                                         rel=1e-12)
    # Only the cost moved: the same seeds hold the same chips whatever they cost.
    assert r.kpis["held_chip_months"] == pair["power_aware"][0].kpis["held_chip_months"]


def test_plan_spend_counts_the_held_chips():
    from capsim.models.decisions import Window, outcomes

    sc = load(None)[0]
    dates = np.arange("2026-04-01", "2026-06-01", dtype="datetime64[D]")
    base = {"spend_total_usd__aws": 10.0, "lost_revenue_total_usd": 1.0,
            "stranded_power_mw_months": 0.0, "unserved_fraction": 0.0,
            "unmet_demand_share": 0.0, "forgone_revenue_total_usd": 0.0,
            "ordered_total_mw": 0.0}
    ones = np.ones(dates.size)
    win = Window.default(sc)
    held = outcomes({**base, "held_chip_cost_usd": 2.5}, dates, ones, 0 * ones, win)
    none = outcomes({**base, "held_chip_cost_usd": float("nan")}, dates, ones, 0 * ones, win)
    assert held["spend_usd"] == 12.5 and held["spend_plus_lost_usd"] == 13.5
    assert none["spend_usd"] == 10.0
