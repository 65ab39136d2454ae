"""Results of one replication: the daily series and the KPIs, from what the run recorded.

`collect` turns a finished `CapacityModel` (its daily loop's record, the served hours,
the orders and the money) into a `RunResult`: the named daily series and the KPIs whose
names, units and meanings are in the registry (`capsim.models.kpis`). The future-facing
KPIs cover the scenario's evaluation window only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
from capsim.models import customers, finance, kpis, market, outcomes, serving, tenants
from capsim.models.days import RUN_RATE_DAYS, trailing_mean
from capsim.models.fleet import STATES
from capsim.simcore.simulation import RunResult, Simulation
from capsim.simcore.units import DAYS_PER_MONTH, DAYS_PER_YEAR, HOURS_PER_DAY

if TYPE_CHECKING:
    from capsim.models.capacity import CapacityModel

SERIES = list(kpis.SERIES)
"""Daily series (names, units and meanings in `capsim.models.kpis`). Per generation, cloud
and pool, `series_names()` adds chips_<state>__<generation>, compute_tps__<generation>,
pool_stock__<pool>, and energized_mw__<cloud>, occupied_mw__<cloud>, compute_tps__<cloud>,
spend_daily_usd__<cloud>."""

KPIS = kpis.kpi_names()
MILESTONES = kpis.milestone_names()
CLOUD_KPIS = {n: m.unit for n, m in kpis.CLOUD_KPIS.items()}
"""Per enabled cloud, as kpis columns <name>__<cloud>."""
BINARY_KPIS = {n for n, m in kpis.KPIS.items() if m.binary}
HIGHER_IS_BETTER = kpis.higher_is_better()
"""KPIs where a higher value is the good outcome (for the others, lower is better)."""
MILESTONE_CLOUD = "aws"
"""The cloud whose occupied MW is the Trainium milestone and whose spend is aws_spend_total_usd."""



def collect(cm: CapacityModel, sim: Simulation) -> RunResult:
    """Daily series and KPIs of the finished replication of `cm`."""
    clock, loop = cm.clock, cm.ledger.record
    served = cm.ledger.served()
    hs, dd = served.hours, cm.demand_days
    by_cloud, by_gen = loop.by_cloud(), loop.by_generation()
    total = loop.total_tps()
    own_cap = total * cm.serving_share
    reservation = total - own_cap
    h_cap, h_util = served.capacity, hs.utilization
    s = {n: np.full(clock.days, np.nan) for n in SERIES}
    uns = hs.unserved_by_tier.mean(axis=2).T
    s["demand_tps"][:] = hs.demand.mean(axis=1)
    s["peak_demand_tps"][:] = hs.demand.max(axis=1)
    s["capacity_tps"][:] = h_cap.mean(axis=1)
    s["served_tps"][:] = hs.served.mean(axis=1)
    s["unserved_tps"][:] = uns.sum(axis=1)
    for i, tier in enumerate(("committed", "on_demand", "consumer", "batch")):
        s[f"unserved_{tier}_tps"][:] = uns[:, i]
    s["peak_utilization"][:] = np.minimum(h_util.max(axis=1), 1e6)
    s["energized_mw"][:] = by_cloud[:, 0].sum(axis=1)
    s["occupied_mw"][:] = by_cloud[:, 1].sum(axis=1)
    s["spend_daily_usd"][:] = by_cloud[:, 3].sum(axis=1)
    s["revenue_daily_usd"][:] = served.revenue
    s["lost_revenue_daily_usd"][:] = served.lost_revenue
    s["run_rate_usd"][:] = (trailing_mean(served.revenue, RUN_RATE_DAYS)
                            * DAYS_PER_YEAR / max(cm.terms.cloud_share, 1e-12))
    s["surge_multiplier"][:] = dd.surge
    s["customers_active"][:] = dd.committed_customers + dd.on_demand_customers
    s["customers_throttled"][:] = served.throttled
    th, cu = served.throttling, dd.customers
    assert th is not None
    s["customers_committed"][:] = dd.committed_customers
    s["customers_throttled_committed"][:] = th.by_tier[:, 0]
    s["customers_throttled_on_demand"][:] = th.by_tier[:, 1]
    s["customer_hours_throttled"][:] = th.group_hours.sum(axis=1)
    s["customers_lost"][:] = np.cumsum(cu.lost)
    s["demand_potential_tps"][:] = dd.potential
    s["capacity_own_tps"][:] = own_cap
    s["loan_tps"][:] = np.maximum(s["capacity_tps"] - own_cap, 0.0)
    chips = by_gen[:, :len(STATES)].sum(axis=2)
    for i, st in enumerate(STATES):
        s[f"chips_{st}"][:] = chips[:, i]
    s["chips_shipped"][:] = chips.sum(axis=1)
    for name, x in loop.fleet_daily().items():
        s[name][:] = x
    for si, st in enumerate(STATES + ("compute_tps",)):
        for gi, g in enumerate(cm.gen_names):
            name = f"compute_tps__{g}" if st == "compute_tps" else f"chips_{st}__{g}"
            s[name] = by_gen[:, si, gi].astype(np.float32)
    for i, name in enumerate(cm.pools.containers):
        s[f"pool_stock__{name}"] = loop.pool_stock[:, i]
    for mi, m in enumerate(("energized_mw", "occupied_mw", "compute_tps", "spend_daily_usd")):
        for ci, c in enumerate(cm.clouds):
            s[f"{m}__{c}"] = by_cloud[:, mi, ci].copy()
    # Service quality for every hour at once (models/serving.py): replicas' batch
    # curves, TTFT and end-to-end latency from the distribution of wait + prefill or
    # service. Overloaded hours count at the cap, so congestion never lowers a figure.
    lat = serving.latencies(h_cap, h_util, by_gen[:, len(STATES)],
                            cm.replicas, cm.sc.service.latency_cap_s)
    s["slo_hours"][:] = lat.slo_ok.sum(axis=1)
    s["p99_latency_s"][:] = lat.e2e_p99.mean(axis=1)
    s["p50_latency_s"][:] = lat.e2e_p50.mean(axis=1)
    s["ttft_p99_s"][:] = lat.ttft_p99.mean(axis=1)
    s["ttft_p50_s"][:] = lat.ttft_p50.mean(axis=1)
    # The future-facing KPIs cover the evaluation window [w0, w1) only.
    w0, w1 = outcomes.window_days(cm.sc, clock)
    win = slice(w0, w1)
    demand, unserved = s["demand_tps"][win], s["unserved_tps"][win]
    mday = int(clock.hours(dt.date(2026, 12, 31)) / HOURS_PER_DAY)
    aws = cm.clouds.index(MILESTONE_CLOUD) if MILESTONE_CLOUD in cm.clouds else None
    gw_2026 = (float(by_cloud[mday, 1, aws]) / 1000
               if aws is not None and 0 <= mday < clock.days else np.nan)
    aws_spend = float(by_cloud[win, 3, aws].sum()) if aws is not None else 0.0
    gap = sum((finance.commitment_gap_usd(by_cloud[:, 3, ci], clock.start,
                                          *cm.commitments[ci])
               for ci in range(len(cm.clouds))), 0.0)
    loan, deficit = outcomes.loan_shares(s["capacity_tps"][win], own_cap[win],
                                         reservation[win])

    def gained(name: str) -> float:  # a running total's growth over the window
        x = s[name]
        return float(x[w1 - 1] - (x[w0 - 1] if w0 > 0 else 0.0))

    kp = {
        **outcomes.shortfall(clock.dates()[win], demand, unserved,
                             cm.sc.service.short_month_threshold),
        # Clipped against rounding: the ratio of two sums of the same hours.
        "unserved_fraction": float(np.clip(unserved.sum() / demand.sum(), 0, 1))
        if demand.sum() > 0 else 0.0,
        "slo_attainment": float(s["slo_hours"][win].sum() / (24 * (w1 - w0))),
        "stranded_chip_months": float(s["chips_waiting"][win].sum() / DAYS_PER_MONTH),
        "component_delay_chip_months": float(
            s["chips_awaiting_components"][win].sum() / DAYS_PER_MONTH),
        "stranded_power_mw_months": float(np.maximum(
            s["energized_mw"][win] - s["occupied_mw"][win], 0).sum() / DAYS_PER_MONTH),
        "loan_share": loan,
        "training_deficit_share": deficit,
        "aws_spend_total_usd": aws_spend,
        "commitment_gap_usd": float(gap),
        "revenue_total_usd": float(s["revenue_daily_usd"][win].sum()),
        "lost_revenue_total_usd": float(s["lost_revenue_daily_usd"][win].sum()),
        "investment_total_usd": gained("investment_cum_usd"),
        "ordered_total_mw": gained("ordered_cum_mw"),
        "compute_mean_tps": float(by_cloud[win, 2].sum(axis=1).mean()),
        "power_ordered_total_mw": gained("power_ordered_cum_mw"),
        "held_chip_months": float(s["chips_held"][win].sum() / DAYS_PER_MONTH),
        "customers_throttled_peak": int(s["customers_throttled"][win].max()),
        "customers_throttled_committed_peak": int(s["customers_throttled_committed"][win].max()),
        "customers_throttled_on_demand_peak": int(s["customers_throttled_on_demand"][win].max()),
        **customers.kpis(clock.dates()[win], th.group_hours[win], th.group_any[win],
                         cu.active(w0, w1), cu.lost[win], s["demand_tps"][win],
                         dd.potential[win], s["revenue_daily_usd"][win]),
        "p99_latency_s": float(lat.e2e_p99[win].mean()),
        "ttft_p99_s": float(lat.ttft_p99[win].mean()),
        "overloaded_hour_share": float((h_util[win] >= 1.0).mean()),
        "trainium_gw_2026_12_31": gw_2026,
    }
    # -- means: spend against what revenue and investment can pay (models.finance)
    if cm.spend_share is not None:
        _, spend_y, means_y = finance.affordability(
            clock.dates()[win], s["spend_daily_usd"][win], s["revenue_daily_usd"][win],
            np.diff(s["investment_cum_usd"], prepend=0.0)[win], cm.spend_share)
        kp["p_spend_breach"] = float((spend_y > means_y).any())
        kp["spend_breach_usd"] = float(np.maximum(spend_y - means_y, 0).sum())
    else:
        kp["p_spend_breach"] = kp["spend_breach_usd"] = float("nan")
    kp["tenant_power_mw_end"] = sum(tenants.held_mw(x, clock.horizon)
                                    for x in cm.tenant_takes.values())
    # -- market: revenue per MW-year of occupied IT capacity (models.market)
    s["occupied_it_mw"][:] = s["occupied_mw"] / cm.pue
    kp |= market.revenue_per_mw_kpis(clock.dates(), s["revenue_daily_usd"],
                                     s["occupied_it_mw"], win)
    # By cloud (columns <metric>__<cloud>; summary.json groups them under "by_cloud").
    for ci, c in enumerate(cm.clouds):
        kp[f"energized_mw_end__{c}"] = float(by_cloud[-1, 0, ci])
        kp[f"compute_tps_end__{c}"] = float(by_cloud[-1, 2, ci])
        kp[f"spend_total_usd__{c}"] = float(by_cloud[win, 3, ci].sum())
    kp = {k: kp[k] for k in [*KPIS, *MILESTONES] if k in kp} | {
        k: v for k, v in kp.items() if k not in kpis.KPIS}
    return RunResult(sim.streams.replication, s, kp, sim.events.rows)
