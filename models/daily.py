"""The day of a replication: the fleet's daily step, and the service of every hour.

Demand and surges do not depend on the fleet, and one day's allocation depends on the
fleet only through that day's capacity. So the daily step (`DailyLoop`, a SimPy
component) moves the fleet, records its state and capacity, and fires investment
tranches; the 24 hours of every day are then served at once, as (days, 24) arrays
(`ServiceDays`). Tranches need the revenue of the days before them while the run goes
on: they are evaluated for exactly those days, and only when the revenue that full
service would earn could reach a pending milestone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from capsim.models import finance
from capsim.models.fleet import STATES, Fleet
from capsim.models.service import HourlyService, allocate, serving_capacity
from capsim.models.supply import ProductionLines
from capsim.simcore.clock import HOURS_PER_DAY, Clock

RUN_RATE_DAYS = 30
"""Days in the trailing mean of the revenue run-rate."""

FLEET_DAILY = ("investment_cum_usd", "ordered_cum_mw", "fp8_eflops",
               "chips_awaiting_components", "chips_held", "power_ordered_cum_mw")
"""Series the daily step records as one number per day (the fleet's and the orders')."""


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of each day and the `window - 1` days before it (fewer at the start)."""
    out = np.empty(x.size)
    head = min(window - 1, x.size)
    for d in range(head):
        out[d] = x[:d + 1].mean()
    if x.size >= window:
        out[window - 1:] = np.lib.stride_tricks.sliding_window_view(x, window).mean(axis=1)
    return out


@dataclass
class DemandDays:
    """Demand of every hour of the run, by tier (tokens/s), and active customers per day."""

    committed: np.ndarray    # (days, 24)
    on_demand: np.ndarray    # (days, 24)
    consumer: np.ndarray     # (days, 24)
    batch: np.ndarray        # (days,) mean rate over the day
    surge: np.ndarray        # (days,) largest surge multiplier of the day
    committed_customers: np.ndarray  # (days,)
    on_demand_customers: np.ndarray  # (days,)

    def __post_init__(self) -> None:
        self.interactive = self.committed + self.on_demand + self.consumer
        self.total = self.interactive + self.batch[:, None]


@dataclass
class ServiceTerms:
    """How capacity meets demand and what a token earns (one replication's draws)."""

    serving_share: float
    flex_share: float
    flex_target: float
    prices: np.ndarray        # $ per million tokens: committed, on-demand, consumer, batch
    price_decline: float      # price factor per year
    cloud_share: float        # share of Anthropic's revenue that runs on the modelled clouds


@dataclass
class ServedDays:
    """Service of a range of days: the hourly allocation and the money of each day."""

    capacity: np.ndarray      # (days, 24) serving capacity after the training loan
    hours: HourlyService      # the allocation, (days, 24) arrays
    revenue: np.ndarray       # (days,) $ earned
    lost_revenue: np.ndarray  # (days,) $ of unserved demand
    throttled: np.ndarray     # (days,) most customers in a throttled tier in any hour


def serve(demand: DemandDays, terms: ServiceTerms, total_tps: np.ndarray,
          d0: int = 0) -> ServedDays:
    """Serve days d0 .. d0 + len(total_tps) - 1, given each day's fleet capacity (tokens/s)."""
    d1 = d0 + total_tps.size
    c, o, n = demand.committed[d0:d1], demand.on_demand[d0:d1], demand.consumer[d0:d1]
    batch = demand.batch[d0:d1]
    cap = serving_capacity(total_tps[:, None], terms.serving_share, terms.flex_share,
                           demand.interactive[d0:d1], terms.flex_target)
    hs = allocate(cap, [c, o, n], batch)
    uns = hs.unserved_by_tier.sum(axis=2).T / 24.0                   # (days, tiers)
    want = np.stack([c.sum(axis=1), o.sum(axis=1), n.sum(axis=1), 24.0 * batch], axis=1) / 24.0
    price = terms.prices * finance.price_factor(np.arange(d0, d1), terms.price_decline)[:, None]
    per_day = finance.SECONDS_PER_DAY / 1e6
    revenue = ((want - uns) * price).sum(axis=1) * per_day
    lost = (uns * price).sum(axis=1) * per_day
    # Customers count as throttled in an hour when their tier is short.
    n_comm = demand.committed_customers[d0:d1, None]
    n_od = demand.on_demand_customers[d0:d1, None]
    throttled = (np.where(hs.short[0], n_comm, 0)
                 + np.where(hs.short[1] | hs.short[3], n_od, 0)).max(axis=1)
    return ServedDays(cap, hs, revenue, lost, throttled)


def revenue_bound(demand: DemandDays, terms: ServiceTerms) -> np.ndarray:
    """Run-rate ($/year) each day if every token of demand were served: an upper bound."""
    want = np.stack([demand.committed.sum(axis=1), demand.on_demand.sum(axis=1),
                     demand.consumer.sum(axis=1), 24.0 * demand.batch], axis=1) / 24.0
    days = np.arange(want.shape[0])
    price = terms.prices * finance.price_factor(days, terms.price_decline)[:, None]
    full = (want * price).sum(axis=1) * finance.SECONDS_PER_DAY / 1e6
    return (trailing_mean(full, RUN_RATE_DAYS) * finance.DAYS_PER_YEAR
            / max(terms.cloud_share, 1e-12))


class DailyLoop:
    """SimPy component: once a day (at midday) the fleet steps and the day is recorded.

    Args:
        clock: the run's clock.
        fleet: the chips and the powered space.
        lines: the production lines (chips due and not shipped, held chips).
        pools: the component pools' containers (their stock is recorded).
        demand: every hour's demand.
        terms: how capacity meets demand and what it earns.
        efficiency_per_year: tokens per chip-second gained per year by software.
        it_price: $ per facility kW-day of each cloud.
        fp8_per_chip: FP8 exaFLOPS per chip of each generation.
        tranches: investment tranches that fire at run-rate milestones.
        on_tranche: called with each tranche that fires.
        orders: () -> (MW of capacity ordered, MW of buildings ordered for held chips).
    """

    name = "tick"

    def __init__(self, clock: Clock, fleet: Fleet, lines: ProductionLines, pools: list,
                 demand: DemandDays, terms: ServiceTerms, efficiency_per_year: float,
                 it_price: np.ndarray, fp8_per_chip: np.ndarray, tranches: finance.Tranches,
                 on_tranche: Callable[[finance.Tranche], None],
                 orders: Callable[[], tuple[float, float]]) -> None:
        self.clock, self.fleet, self.lines, self.pools = clock, fleet, lines, pools
        self.demand, self.terms = demand, terms
        self.it_price, self.fp8_per_chip = it_price, fp8_per_chip
        self.tranches, self.on_tranche, self.orders = tranches, on_tranche, orders
        days, n_g, n_c = clock.days, fleet.kw.size, fleet.n_clouds
        self.efficiency = efficiency_per_year ** (np.arange(days) / 365.25)
        self.total_tps = np.zeros(days)      # healthy installed tokens/s, after efficiency
        self.by_gen = np.zeros((days, len(STATES) + 1, n_g))
        self.by_cloud = np.zeros((days, 4, n_c))
        self.daily = np.zeros((days, len(FLEET_DAILY)))
        self.pool_stock = np.zeros((days, len(pools)))
        self.run_rate = np.zeros(days)       # $/year as tranches saw it (0 where not needed)
        self._bound: np.ndarray | None = None
        self._revenue = np.zeros(days)
        self._served_to = 0                  # days before this one have exact revenue

    def start(self, sim) -> None:
        """Register the daily process."""
        sim.env.process(self._run(sim))

    def _pending_milestone(self) -> float:
        todo = [t.milestone_run_rate_usd for t in self.tranches.items if t.fired_day is None]
        return min(todo) if todo else np.inf

    def _check_tranches(self, day: int) -> None:
        """Fire the tranches whose milestone the run-rate reaches today."""
        milestone = self._pending_milestone()
        if not np.isfinite(milestone):
            return
        if self._bound is None:
            self._bound = revenue_bound(self.demand, self.terms)
        if self._bound[day] * (1 + 1e-9) < milestone:
            return  # even full service could not earn it today
        if self._served_to <= day:
            got = serve(self.demand, self.terms, self.total_tps[self._served_to:day + 1],
                        self._served_to)
            self._revenue[self._served_to:day + 1] = got.revenue
            self._served_to = day + 1
        lo = max(0, day - RUN_RATE_DAYS + 1)
        run_rate = (self._revenue[lo:day + 1].mean() * finance.DAYS_PER_YEAR
                    / max(self.terms.cloud_share, 1e-12))
        self.run_rate[day] = run_rate
        for tr in self.tranches.check(day, run_rate):
            self.on_tranche(tr)

    def _run(self, sim):
        env, f, lines = sim.env, self.fleet, self.lines
        n_c = f.n_clouds
        due = lines.due_planned_at((np.arange(self.clock.days) + 0.5) * HOURS_PER_DAY)
        yield env.timeout(HOURS_PER_DAY / 2)
        for day in range(self.clock.days):
            f.step(day)
            e_t = self.efficiency[day]
            self.total_tps[day] = f.capacity_tps() * e_t
            self._check_tranches(day)
            occ_kw = f.occupied_kw_by_cloud()
            healthy_tps = f.installed * f.tps
            awaiting = lines.awaiting_with(due[day])
            held = lines.held
            self.by_cloud[day] = (f.energized, occ_kw / 1000.0,
                                  np.bincount(f.cloud, healthy_tps, n_c) * e_t,
                                  occ_kw * self.it_price)
            self.by_gen[day] = (f.in_transit, f.waiting, f.installed, f.failed, f.retired,
                                healthy_tps * e_t)
            ordered_mw, power_mw = self.orders()
            self.daily[day] = (self.tranches.received_usd, ordered_mw,
                               f.installed @ self.fp8_per_chip,
                               awaiting[~held].sum(), awaiting[held].sum(), power_mw)
            for i, c in enumerate(self.pools):
                self.pool_stock[day, i] = c.level
            yield env.timeout(HOURS_PER_DAY)

    def served(self) -> ServedDays:
        """Service of every day of the finished run."""
        return serve(self.demand, self.terms, self.total_tps)
