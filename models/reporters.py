"""Each component's report of a finished replication: its daily series and its KPIs.

`collect` runs the reporters in order, component by component.

`REPORTERS` lists them in the order they run (a reporter may read the series of an
earlier one); what each reports is in the registry (`capsim.models.kpis.REPORTED_BY`).
`Replication` holds what several reporters read: the served days, the fleet's record by
cloud and by generation, and the evaluation window.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
from capsim.models import customers, finance, market, outcomes, reported, serving
from capsim.models.days import RUN_RATE_DAYS, ServedDays, tier_prices, trailing_mean
from capsim.models.fleet import STATES
from capsim.models.results import Report
from capsim.simcore.simulation import RunResult, Simulation
from capsim.simcore.units import DAYS_PER_MONTH, DAYS_PER_YEAR, HOURS_PER_DAY, SECONDS_PER_DAY

TIERS = ("committed", "on_demand", "consumer", "batch")
"""The demand tiers, in the order of the model's (days, 4) arrays."""


class Replication:
    """What the reporters of one finished replication share (computed once).

    `cm` is the assembled model (`models.capacity.CapacityModel`, not imported here: it
    imports this module): its components and draws.
    """

    def __init__(self, cm: Any) -> None:
        self.cm, self.clock, self.record = cm, cm.clock, cm.ledger.record
        self.served: ServedDays = cm.ledger.served()
        self.w0, self.w1 = outcomes.window_days(cm.sc, cm.clock)
        self.win = slice(self.w0, self.w1)

    @cached_property
    def by_cloud(self) -> np.ndarray:
        """(days, 4, clouds): energized MW, occupied MW, healthy tokens/s, spend $/day."""
        return self.record.by_cloud()

    @cached_property
    def by_gen(self) -> np.ndarray:
        """(days, states + 1, generations): chips by state, then healthy tokens/s."""
        return self.record.by_generation()

    @cached_property
    def fleet_daily(self) -> dict[str, np.ndarray]:
        """The fleet's and the orders' one-number-a-day series (read by four reporters)."""
        return self.record.fleet_daily()

    @cached_property
    def own_capacity(self) -> np.ndarray:
        """Serving capacity without the training loan (the serving share alone)."""
        return self.record.total_tps() * self.cm.serving_share

    @cached_property
    def lost_by_tier(self) -> np.ndarray:
        """(days, 4) demand lost to throttling by tier: the customers who left or never came.

        The demand the market would bring (before customers reacted) minus the demand
        after their reactions, daily means in tokens/s.
        """
        dd = self.cm.demand_days
        return np.maximum(dd.potential_by_tier - dd.by_tier(), 0.0)

    @cached_property
    def dates(self) -> np.ndarray:
        """The run's daily grid."""
        return self.clock.dates()

    def gained(self, s: Report, name: str) -> float:
        """A running total's growth over the window."""
        x = s.series(name)
        return float(x[self.w1 - 1] - (x[self.w0 - 1] if self.w0 > 0 else 0.0))

    def months(self, values: np.ndarray) -> float:
        """A daily quantity summed over the window, in months."""
        return float(values[self.win].sum() / DAYS_PER_MONTH)


def service(r: Replication, s: Report) -> None:
    """Demand, service and its quality; shortfall, loan and latency KPIs."""
    hs, cm, win = r.served.hours, r.cm, r.win
    total = r.record.total_tps()
    own_cap, reservation = r.own_capacity, total - r.own_capacity
    h_cap, h_util = r.served.capacity, hs.utilization
    uns = hs.unserved_by_tier.mean(axis=2).T
    s.put("demand_tps", hs.demand.mean(axis=1))
    s.put("peak_demand_tps", hs.demand.max(axis=1))
    s.put("capacity_tps", h_cap.mean(axis=1))
    s.put("served_tps", hs.served.mean(axis=1))
    s.put("unserved_tps", uns.sum(axis=1))
    for i, tier in enumerate(TIERS):
        s.put(f"unserved_{tier}_tps", uns[:, i])
    s.put("peak_utilization", np.minimum(h_util.max(axis=1), 1e6))
    s.put("demand_potential_tps", cm.demand_days.potential)
    s.put("capacity_own_tps", own_cap)
    s.put("loan_tps", np.maximum(s.series("capacity_tps") - own_cap, 0.0))
    # Service quality for every hour at once (models/serving.py): replicas with a batch
    # curve; latency quantiles over the requests served, the requests turned away apart.
    load = hs.demand if hs.retried is None else hs.demand + hs.retried
    lat = serving.latencies(load, h_cap, r.by_gen[:, len(STATES)], cm.replicas,
                            cm.sc.service.slo_request_share.base)
    s.put("slo_hours", lat.slo_hours)
    s.put("p99_latency_s", lat.quantile("e2e", 0.99))
    s.put("p50_latency_s", lat.quantile("e2e", 0.5))
    s.put("ttft_p99_s", lat.quantile("ttft", 0.99))
    s.put("ttft_p50_s", lat.quantile("ttft", 0.5))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, h_cap.mean(axis=1) / np.where(total > 0, total, 1.0), 0.0)
    s.put("serving_replicas", serving.serving_replicas(
        r.by_gen[:, STATES.index("installed")], np.minimum(share, 1.0), cm.curves))
    unmet(r, s, uns)
    demand, unserved = s.series("demand_tps")[win], s.series("unserved_tps")[win]
    # Clipped against rounding: the ratio of two sums of the same hours.
    s.kpi("unserved_fraction", float(np.clip(unserved.sum() / demand.sum(), 0, 1))
          if demand.sum() > 0 else 0.0)
    # Window figures weigh every day the same (models/serving.py, `typical_day`).
    s.kpi("slo_attainment", lat.slo_share(win))
    loan, deficit = outcomes.loan_shares(s.series("capacity_tps")[win], own_cap[win],
                                         reservation[win])
    s.kpi("loan_share", loan)
    s.kpi("training_deficit_share", deficit)
    s.kpi("p99_latency_s", lat.typical_day("e2e", 0.99, win))
    s.kpi("ttft_p99_s", lat.typical_day("ttft", 0.99, win))
    s.kpi("rejected_request_share", lat.rejected_share(win))
    s.kpi("overloaded_hour_share", float((h_util[win] >= 1.0).mean()))


def unmet(r: Replication, s: Report, unserved_by_tier: np.ndarray) -> None:
    """Unmet demand (unserved tokens plus demand lost to throttling) and the short months.

    Shares are of the demand the market would bring (`demand_potential_tps`); a month is
    short when its unmet demand exceeds `service.short_month_threshold` of it.
    """
    lost, win = r.lost_by_tier, r.win
    by_tier = unserved_by_tier + lost
    s.put("demand_lost_tps", lost.sum(axis=1))
    s.put("unmet_tps", by_tier.sum(axis=1))
    for i, tier in enumerate(TIERS):
        s.put(f"unmet_{tier}_tps", by_tier[:, i])
    potential, total = s.series("demand_potential_tps")[win], s.series("unmet_tps")[win]
    svc = r.cm.sc.service
    for k, v in outcomes.shortfall(r.dates[win], potential, total, svc.short_month_threshold,
                                   svc.sustained_adequacy_months).items():
        s.kpi(k, v)
    s.kpi("unmet_demand_share", float(np.clip(total.sum() / potential.sum(), 0, 1))
          if potential.sum() > 0 else 0.0)


def surges(r: Replication, s: Report) -> None:
    """The day's highest surge multiplier."""
    s.put("surge_multiplier", r.cm.demand_days.surge)


def fleet(r: Replication, s: Report) -> None:
    """Chips by state, occupied power and compute; the Trainium milestone."""
    cm, by_cloud, by_gen, win = r.cm, r.by_cloud, r.by_gen, r.win
    s.put("occupied_mw", by_cloud[:, 1].sum(axis=1))
    chips = by_gen[:, :len(STATES)].sum(axis=2)
    for i, st in enumerate(STATES):
        s.put(f"chips_{st}", chips[:, i])
    s.put("chips_shipped", chips.sum(axis=1))
    s.put("fp8_eflops", r.fleet_daily["fp8_eflops"])
    s.put("h100e", reported.h100e_equivalents(s.series("fp8_eflops")))
    h100e = reported.h100e_equivalents(r.record.fp8_by_cloud())
    for si, st in enumerate((*STATES, "compute_tps")):
        for gi, g in enumerate(cm.gen_names):
            name = f"compute_tps__{g}" if st == "compute_tps" else f"chips_{st}__{g}"
            s.put(name, by_gen[:, si, gi].astype(np.float32))
    for mi, m in ((1, "occupied_mw"), (2, "compute_tps")):
        for ci, c in enumerate(cm.clouds):
            s.put(f"{m}__{c}", by_cloud[:, mi, ci].copy())
    for ci, c in enumerate(cm.clouds):
        s.put(f"h100e__{c}", h100e[:, ci].copy())
    s.kpi("stranded_chip_months", r.months(s.series("chips_waiting")))
    s.kpi("compute_mean_tps", float(by_cloud[win, 2].sum(axis=1).mean()))
    meta = cm.sc.scenario
    mday = int(r.clock.hours(meta.milestone_date) / HOURS_PER_DAY)
    aws = cm.clouds.index(meta.case_cloud) if meta.case_cloud in cm.clouds else None
    s.kpi("trainium_gw_2026_12_31", float(by_cloud[mday, 1, aws]) / 1000
          if aws is not None and 0 <= mday < r.clock.days else np.nan)
    for ci, c in enumerate(cm.clouds):
        s.kpi(f"compute_tps_end__{c}", float(by_cloud[-1, 2, ci]))


def datacenters(r: Replication, s: Report) -> None:
    """Powered MW, and powered MW that no chip uses."""
    by_cloud = r.by_cloud
    s.put("energized_mw", by_cloud[:, 0].sum(axis=1))
    for ci, c in enumerate(r.cm.clouds):
        s.put(f"energized_mw__{c}", by_cloud[:, 0, ci].copy())
        s.kpi(f"energized_mw_end__{c}", float(by_cloud[-1, 0, ci]))
    for name, mw in r.cm.datacenters.drawn.energized_by_campus(r.clock.days).items():
        s.put(f"energized_it_mw__{name}", mw / r.cm.pue)
    s.kpi("stranded_power_mw_months", r.months(np.maximum(
        s.series("energized_mw") - s.series("occupied_mw"), 0)))


def supply(r: Replication, s: Report) -> None:
    """Chips the lines owe (waiting for components, or held), and the pools' stock."""
    daily = r.fleet_daily
    s.put("chips_awaiting_components", daily["chips_awaiting_components"])
    s.put("chips_held", daily["chips_held"])
    for i, name in enumerate(r.cm.pools.containers):
        s.put(f"pool_stock__{name}", r.record.pool_stock[:, i])
    s.kpi("component_delay_chip_months", r.months(s.series("chips_awaiting_components")))
    s.kpi("held_chip_months", r.months(s.series("chips_held")))


def orders(r: Replication, s: Report) -> None:
    """Capacity and buildings ordered during the run."""
    daily = r.fleet_daily
    s.put("ordered_cum_mw", daily["ordered_cum_mw"])
    s.put("power_ordered_cum_mw", daily["power_ordered_cum_mw"])
    s.kpi("ordered_total_mw", r.gained(s, "ordered_cum_mw"))
    s.kpi("power_ordered_total_mw", r.gained(s, "power_ordered_cum_mw"))


def money(r: Replication, s: Report) -> None:
    """Revenue, spend, commitments, investment, and spend against what revenue carries."""
    cm, by_cloud, win, clock = r.cm, r.by_cloud, r.win, r.clock
    s.put("spend_daily_usd", by_cloud[:, 3].sum(axis=1))
    s.put("revenue_daily_usd", r.served.revenue)
    s.put("lost_revenue_daily_usd", r.served.lost_revenue)
    # Demand lost to throttling, valued at each day's price of its tier.
    gone = (r.lost_by_tier * tier_prices(cm.terms, r.clock.days)).sum(axis=1)
    s.put("forgone_revenue_daily_usd", r.served.lost_revenue + gone * SECONDS_PER_DAY / 1e6)
    s.put("run_rate_usd", trailing_mean(r.served.revenue, RUN_RATE_DAYS) * DAYS_PER_YEAR
          / max(cm.terms.cloud_share, 1e-12))
    s.put("run_rate_reported_usd", reported.run_rate(
        r.served.revenue, subscription_revenue(r, s), cm.terms.cloud_share))
    s.put("spend_anthropic_daily_usd", s.series("spend_daily_usd")
          / max(cm.terms.cloud_share, 1e-12))
    s.put("investment_cum_usd", r.fleet_daily["investment_cum_usd"])
    for ci, c in enumerate(cm.clouds):
        s.put(f"spend_daily_usd__{c}", by_cloud[:, 3, ci].copy())
    case = cm.sc.scenario.case_cloud
    aws = cm.clouds.index(case) if case in cm.clouds else None
    s.kpi("aws_spend_total_usd", float(by_cloud[win, 3, aws].sum()) if aws is not None else 0.0)
    # Chips held at the supplier (the supply reporter's held_chip_months) at a monthly cost.
    held = cm.money.held_chip_usd
    s.kpi("held_chip_cost_usd", float("nan") if held is None
          else r.months(s.series("chips_held")) * held)
    gap = sum((finance.commitment_gap_usd(by_cloud[:, 3, ci], clock.start, *cm.commitments[ci])
               for ci in range(len(cm.clouds))), 0.0)
    s.kpi("commitment_gap_usd", float(gap))
    s.kpi("revenue_total_usd", float(s.series("revenue_daily_usd")[win].sum()))
    s.kpi("lost_revenue_total_usd", float(s.series("lost_revenue_daily_usd")[win].sum()))
    s.kpi("forgone_revenue_total_usd", float(s.series("forgone_revenue_daily_usd")[win].sum()))
    # Over the deal: no tranche comes before the deal date, so everything to the window's end.
    s.kpi("investment_total_usd", float(s.series("investment_cum_usd")[r.w1 - 1]))
    # Spend against what revenue and investment can pay (models.finance).
    if cm.spend_share is not None:
        _, spend_y, means_y = finance.affordability(
            r.dates[win], s.series("spend_daily_usd")[win], s.series("revenue_daily_usd")[win],
            np.diff(s.series("investment_cum_usd"), prepend=0.0)[win], cm.spend_share)
        s.kpi("p_spend_breach", float((spend_y > means_y).any()))
        s.kpi("spend_breach_usd", float(np.maximum(spend_y - means_y, 0).sum()))
    else:
        s.kpi("p_spend_breach", float("nan"))
        s.kpi("spend_breach_usd", float("nan"))
    for ci, c in enumerate(cm.clouds):
        s.kpi(f"spend_total_usd__{c}", float(by_cloud[win, 3, ci].sum()))


def subscription_revenue(r: Replication, s: Report) -> np.ndarray:
    """Each day's revenue from the consumer tier (subscriptions), $: served x its price."""
    terms = r.cm.terms
    served = np.maximum(r.cm.demand_days.consumer.mean(axis=1)
                        - s.series("unserved_consumer_tps"), 0.0)
    return reported.tier_revenue(served, terms.prices[2] * terms.price_factor(0, served.size))


def customer_report(r: Replication, s: Report) -> None:
    """Customers active, throttled and lost; the demand they took with them."""
    dd, th, win = r.cm.demand_days, r.served.throttling, r.win
    assert th is not None
    cu = dd.customers
    s.put("customers_active", dd.committed_customers + dd.on_demand_customers)
    s.put("customers_committed", dd.committed_customers)
    s.put("customers_throttled", r.served.throttled)
    s.put("customers_throttled_committed", th.by_tier[:, 0])
    s.put("customers_throttled_on_demand", th.by_tier[:, 1])
    s.put("customer_hours_throttled", th.group_hours.sum(axis=1))
    s.put("customers_lost", np.cumsum(cu.lost))
    s.kpi("customers_throttled_peak", int(s.series("customers_throttled")[win].max()))
    s.kpi("customers_throttled_committed_peak",
          int(s.series("customers_throttled_committed")[win].max()))
    s.kpi("customers_throttled_on_demand_peak",
          int(s.series("customers_throttled_on_demand")[win].max()))
    for k, v in customers.kpis(r.dates[win], th.group_hours[win], th.group_any[win],
                               cu.active(r.w0, r.w1), cu.lost[win],
                               s.series("demand_tps")[win], dd.potential[win],
                               s.series("revenue_daily_usd")[win]).items():
        s.kpi(k, v)


def market_report(r: Replication, s: Report) -> None:
    """Revenue per MW-year of occupied IT capacity (models.market)."""
    s.put("occupied_it_mw", s.series("occupied_mw") / r.cm.pue)
    for c in r.cm.clouds:
        s.put(f"occupied_it_mw__{c}", s.series(f"occupied_mw__{c}") / r.cm.pue)
    for k, v in market.revenue_per_mw_kpis(r.dates, s.series("revenue_daily_usd"),
                                           s.series("occupied_it_mw"), r.win).items():
        s.kpi(k, v)


def tenants(r: Replication, s: Report) -> None:
    """Power the rival tenants hold at the end."""
    s.kpi("tenant_power_mw_end", r.cm.datacenters.tenant_power_mw_end(r.clock.horizon))


REPORTERS: tuple[tuple[str, Callable[[Replication, Report], None]], ...] = (
    ("service", service), ("surges", surges), ("fleet", fleet),
    ("datacenters", datacenters), ("supply", supply), ("orders", orders),
    ("finance", money), ("customers", customer_report), ("market", market_report),
    ("tenants", tenants))
"""(component, reporter) in the order they run."""


def collect(cm: Any, sim: Simulation) -> RunResult:
    """Daily series and KPIs of the finished replication of `cm`, component by component."""
    rep = Replication(cm)
    out = Report(cm.clock.days, cm.gen_names, cm.clouds, list(cm.pools.containers),
                 cm.datacenters.drawn.campuses)
    for component, report in REPORTERS:
        out.component = component
        report(rep, out)
    return out.result(sim.streams.replication, sim.events.rows)
