"""The run's days: every hour's demand, the terms of service, and serving a range of days.

Demand and surges do not depend on the fleet, and one day's allocation depends on the
fleet only through that day's capacity, so a range of days is served at once, as
(days, 24) arrays (`serve`), given each day's capacity (`models.ledger` decides when).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models import customers, finance
from capsim.models.customers import Customers, Throttling
from capsim.models.demand import DemandModel
from capsim.models.rationing import allocate_retrying
from capsim.models.service import HourlyService, serving_capacity
from capsim.simcore.clock import Clock
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY, SECONDS_PER_DAY

RUN_RATE_DAYS = 30
"""Days in the trailing mean of the revenue run-rate."""

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
    """Demand of every hour of the run, by tier (tokens/s), and active customers per day.

    Rows of days not served yet are rebuilt when customers leave (`rebuild`), and their
    active customers are counted after the run (`count_customers`); ``potential`` keeps
    the daily mean demand before any customer reacted, and ``potential_by_tier`` the same
    by tier (committed, on-demand, consumer, batch).
    """

    committed: np.ndarray    # (days, 24)
    on_demand: np.ndarray    # (days, 24)
    consumer: np.ndarray     # (days, 24)
    batch: np.ndarray        # (days,) mean rate over the day
    surge: np.ndarray        # (days,) largest surge multiplier of the day
    committed_customers: np.ndarray  # (days,)
    on_demand_customers: np.ndarray  # (days,)
    customers: Customers
    model: DemandModel
    surge_ent: np.ndarray    # (days, 24)
    surge_con: np.ndarray    # (days, 24)

    def __post_init__(self) -> None:
        self._recount: list[list[int]] = []  # day ranges rebuilt, head counts not counted
        self.interactive = self.committed + self.on_demand + self.consumer
        self.total = self.interactive + self.batch[:, None]
        self.potential = self.total.mean(axis=1)
        self.potential_by_tier = self.by_tier()

    def by_tier(self) -> np.ndarray:
        """(days, 4) daily mean demand by tier: committed, on-demand, consumer, batch."""
        return np.stack([self.committed.mean(axis=1), self.on_demand.mean(axis=1),
                         self.consumer.mean(axis=1), self.batch.copy()], axis=1)

    @classmethod
    def drawn(cls, sc, clock: Clock, dem: DemandModel, surges, streams) -> DemandDays:
        """Every hour's demand under the surges, and the customers (their own streams)."""
        ent, con = surges.multipliers(clock.days)
        committed, on_demand, consumer, batch = dem.hourly_all(ent, con)
        n_comm, n_od = dem.active_all()
        cust = customers.for_replication(sc, clock, dem, ent, streams)
        return cls(committed, on_demand, consumer, batch,
                   np.maximum(ent.max(axis=1), con.max(axis=1)), n_comm, n_od, cust, dem, ent,
                   con)

    def rebuild(self, d0: int, d1: int) -> None:
        """Demand of days d0 .. d1 - 1 from the customers retained (models.customers)."""
        cu = self.customers
        c, o, n, b = self.model.hourly_range(d0, d1, self.surge_ent[d0:d1],
                                             self.surge_con[d0:d1], cu.weight(d0, d1))
        n = n * cu.consumer_retained[d0:d1, None]
        self.committed[d0:d1], self.on_demand[d0:d1], self.consumer[d0:d1] = c, o, n
        self.batch[d0:d1] = b
        self.interactive[d0:d1] = c + o + n
        self.total[d0:d1] = self.interactive[d0:d1] + b[:, None]
        # Their head counts are counted once, after the run (`count_customers`): the
        # days rebuilt follow one another, and a day's retained shares are fixed when
        # its demand is rebuilt.
        if self._recount and self._recount[-1][1] == d0:
            self._recount[-1][1] = d1
        else:
            self._recount.append([d0, d1])

    def count_customers(self) -> None:
        """Active customers per tier on the days rebuilt (after the run)."""
        for d0, d1 in self._recount:
            self.committed_customers[d0:d1], self.on_demand_customers[d0:d1] = \
                self.customers.active_by_tier(d0, d1)
        self._recount = []


@dataclass
class ServiceTerms:
    """How capacity meets demand and what a token earns (one replication's draws)."""

    serving_share: float
    flex_share: float
    flex_target: float
    prices: np.ndarray        # $ per million tokens: committed, on-demand, consumer, batch
    price_decline: float      # price factor per year
    cloud_share: float        # share of Anthropic's revenue that runs on the modelled clouds
    price_path: np.ndarray | None = None  # price factor per day (the market), else the decline

    @classmethod
    def of(cls, svc, dem: DemandModel, price_decline: float, market=None) -> ServiceTerms:
        """The terms of a replication: its service draw, demand prices and the market."""
        prices = np.array([dem.price_usd_per_mtok, dem.price_usd_per_mtok,
                           dem.consumer_price_usd_per_mtok,
                           dem.price_usd_per_mtok * (1 - dem.batch_discount)])
        return cls(svc.serving_share, svc.flex_share, svc.flex_target, prices, price_decline,
                   dem.cloud_share, None if market is None else market.price_factor)

    def price_factor(self, d0: int, d1: int) -> np.ndarray:
        """Price on days d0 .. d1 - 1 relative to the start."""
        if self.price_path is not None:
            return self.price_path[d0:d1]
        return np.asarray(finance.price_factor(np.arange(d0, d1), self.price_decline))


@dataclass
class ServedDays:
    """Service of a range of days: the hourly allocation and the money of each day."""

    capacity: np.ndarray      # (days, 24) serving capacity after the training loan
    hours: HourlyService      # the allocation, (days, 24) arrays
    revenue: np.ndarray       # (days,) $ earned
    lost_revenue: np.ndarray  # (days,) $ of demand given up
    fresh: np.ndarray         # (3, days, 24) share of each interactive tier's demand served
    throttling: Throttling | None = None  # who was throttled (models.customers)

    @property
    def throttled(self) -> np.ndarray:
        """(days,) most enterprise customers throttled in one hour of the day."""
        assert self.throttling is not None
        return self.throttling.peak


def serve(demand: DemandDays, terms: ServiceTerms, total_tps: np.ndarray,
          d0: int = 0, who: bool = True) -> ServedDays:
    """Serve days d0 .. d0 + len(total_tps) - 1, given each day's fleet capacity (tokens/s).

    Tiers by priority with same-day retries (models.rationing); with `who`, also who was
    throttled inside each tier (models.customers).
    """
    d1 = d0 + total_tps.size
    c, o, n = demand.committed[d0:d1], demand.on_demand[d0:d1], demand.consumer[d0:d1]
    batch = demand.batch[d0:d1]
    cap = serving_capacity(total_tps[:, None], terms.serving_share, terms.flex_share,
                           demand.interactive[d0:d1], terms.flex_target)
    cu = demand.customers
    # The share of unserved tokens that retry: from the day customers react (one number
    # when the whole range is on one side of that day).
    if d0 >= cu.from_day or d1 <= cu.from_day:
        retry: float | np.ndarray = cu.retry_share if d0 >= cu.from_day else 0.0
    else:
        retry = np.where(np.arange(d0, d1) >= cu.from_day, cu.retry_share, 0.0)[:, None]
    hs, fresh = allocate_retrying(cap, [c, o, n], batch, retry)
    assert hs.served_by_tier is not None
    uns = hs.unserved_by_tier.sum(axis=2).T / HOURS_PER_DAY                   # (days, tiers)
    got = hs.served_by_tier.sum(axis=2).T / HOURS_PER_DAY
    hs.served_by_tier = None  # the money is counted; the buffers need not keep it
    price = terms.prices * terms.price_factor(d0, d1)[:, None]
    per_day = SECONDS_PER_DAY / 1e6
    revenue = (got * price).sum(axis=1) * per_day
    lost = (uns * price).sum(axis=1) * per_day
    who_ = cu.throttling(d0, hs.short[:3], fresh) if who else None
    return ServedDays(cap, hs, revenue, lost, fresh, who_)


def full_revenue(demand: DemandDays, terms: ServiceTerms) -> np.ndarray:
    """Revenue ($) of each day if every token of demand were served."""
    want = np.stack([demand.committed.sum(axis=1), demand.on_demand.sum(axis=1),
                     demand.consumer.sum(axis=1), HOURS_PER_DAY * demand.batch],
                    axis=1) / HOURS_PER_DAY
    price = terms.prices * terms.price_factor(0, want.shape[0])[:, None]
    return (want * price).sum(axis=1) * SECONDS_PER_DAY / 1e6


def revenue_bound(demand: DemandDays, terms: ServiceTerms) -> np.ndarray:
    """Run-rate ($/year) each day if every token of demand were served: an upper bound."""
    return (trailing_mean(full_revenue(demand, terms), RUN_RATE_DAYS) * DAYS_PER_YEAR
            / max(terms.cloud_share, 1e-12))




def tier_prices(terms: ServiceTerms, days: int) -> np.ndarray:
    """(days, 4) $ per million tokens of each tier on each day (the day's price)."""
    return terms.prices * terms.price_factor(0, days)[:, None]
