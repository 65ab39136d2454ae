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

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from capsim.models import finance
from capsim.models.customers import Customers, Throttling
from capsim.models.demand import DemandModel
from capsim.models.fleet import STATES, Fleet
from capsim.models.rationing import allocate_retrying
from capsim.models.service import HourlyService, serving_capacity
from capsim.models.supply import ProductionLines
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import advance
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY, SECONDS_PER_DAY

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
    """Demand of every hour of the run, by tier (tokens/s), and active customers per day.

    Rows of days not served yet are rebuilt when customers leave (`rebuild`), and their
    active customers are counted after the run (`count_customers`); ``potential`` keeps
    the daily mean demand before any customer reacted.
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


THROTTLING_BLOCK_DAYS = 366
"""Days per block of the final pass over who was throttled (bounds its memory)."""


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
        self.efficiency = efficiency_per_year ** (np.arange(days) / DAYS_PER_YEAR)
        # What the daily step records: the fleet's state, powered MW per cloud, chips due
        # from the lines (and whether held), orders and investment. Everything else per day
        # (capacity, occupied MW, spend, FP8) follows from these after the run.
        self.chips = np.zeros((days, len(STATES), n_g), np.int64)
        self.energized = np.zeros((days, n_c))
        # Chips due from the lines and not shipped: planned chips due less the lines' net
        # shipments, which are what the day records (`awaiting` subtracts after the run).
        self._net_shipped = np.zeros((days, n_g), np.int64)
        self._due: np.ndarray | None = None
        self.held = np.zeros((days, n_g), bool)
        # Investment received, MW ordered, MW of power ordered, then each pool's stock, as
        # one tuple a day (`daily` and `pool_stock` are their columns).
        self._rows: list[tuple[float, ...]] = []
        self._table: np.ndarray | None = None
        self.n_pools = len(pools)
        self.run_rate = np.zeros(days)       # $/year as tranches saw it (0 where not needed)
        self._bound: list[float] | None = None
        self._milestone = np.inf             # the lowest milestone not reached yet
        self._received = tranches.received_usd  # investment received so far
        self._served_to = 0                  # days before this one are served
        self._full: np.ndarray | None = None  # each day's revenue at full service
        self._top_price = np.zeros(0)        # each day's highest price, $ per M tokens
        self._day_bound = np.zeros(days)     # each day's most revenue, days before _bound_to
        self._bound_to = 0
        self._who: list[tuple[int, Throttling]] = []  # reviews' throttling, by first day
        # Their service, written in place day range by day range (no copies to join).
        # Every day is served by the end of the run, and no day is read before it is
        # served: the arrays need no zeros.
        z = np.empty
        self._done = ServedDays(z((days, 24)), HourlyService(
            z((days, 24)), z((days, 24)), z((days, 24)), z((4, days, 24)),
            z((4, days, 24), bool), z((days, 24))), z(days), z(days), z((3, days, 24)))

    def start(self, sim) -> None:
        """Register the daily process."""
        sim.env.process(self._run(sim))

    def _pending_milestone(self) -> float:
        todo = [t.milestone_run_rate_usd for t in self.tranches.items if t.fired_day is None]
        return min(todo) if todo else np.inf

    def _check_tranches(self, day: int) -> None:
        """Fire the tranches whose milestone the run-rate reaches today."""
        if self._bound is None:
            self._bound = revenue_bound(self.demand, self.terms).tolist()
            self._milestone = self._pending_milestone()
        if self._bound[day] * (1 + 1e-9) < self._milestone:
            return  # even full service could not earn it today (or nothing is pending)
        lo = max(0, day - RUN_RATE_DAYS + 1)
        if self._below_milestone(lo, day):
            return
        self._serve_to(day + 1)
        run_rate = (self._done.revenue[lo:day + 1].mean() * DAYS_PER_YEAR
                    / max(self.terms.cloud_share, 1e-12))
        self.run_rate[day] = run_rate
        for tr in self.tranches.check(day, run_rate):
            self.on_tranche(tr)
        self._milestone = self._pending_milestone()
        self._received = self.tranches.received_usd

    def _below_milestone(self, lo: int, day: int) -> bool:
        """Whether the run-rate of days lo .. day stays below the milestone for sure.

        Days already served count exactly; a day not served yet earns at most its full
        demand's revenue, and at most what its serving capacity (all of the serving share
        and all that training can lend) earns at the day's highest price.
        """
        d0 = max(self._served_to, lo)
        if d0 > day:
            return False
        t = self.terms
        if self._full is None:
            self._full = full_revenue(self.demand, t)
            self._top_price = float(t.prices.max()) * t.price_factor(0, self.clock.days)
        # Each day's bound is computed once (a day's chips and prices do not change).
        a = max(self._bound_to, d0)
        if a <= day:
            most = t.serving_share + (1.0 - t.serving_share) * t.flex_share
            cap = (self.total_tps(a, day + 1) * most * self._top_price[a:day + 1]
                   * SECONDS_PER_DAY / 1e6)
            self._day_bound[a:day + 1] = np.minimum(self._full[a:day + 1], cap)
            self._bound_to = day + 1
        top = self._done.revenue[lo:d0].sum() + self._day_bound[d0:day + 1].sum()
        run_rate = (top / (day + 1 - lo) * DAYS_PER_YEAR
                    / max(t.cloud_share, 1e-12))
        return run_rate * (1 + 1e-9) < self._milestone

    def _serve_to(self, end: int) -> None:
        """Serve the days from the first not served up to `end` (exclusive)."""
        d0 = self._served_to
        if d0 >= end:
            return
        got = serve(self.demand, self.terms, self.total_tps(d0, end), d0, who=False)
        done, h, new = self._done, self._done.hours, got.hours
        assert h.retried is not None and new.retried is not None
        done.capacity[d0:end], done.revenue[d0:end] = got.capacity, got.revenue
        done.lost_revenue[d0:end], done.fresh[:, d0:end] = got.lost_revenue, got.fresh
        h.demand[d0:end], h.served[d0:end], h.retried[d0:end] = (new.demand, new.served,
                                                                 new.retried)
        h.unserved_by_tier[:, d0:end], h.short[:, d0:end] = new.unserved_by_tier, new.short
        self._served_to = end

    def _review(self, day: int) -> None:
        """At the end of a review period customers look back at their service."""
        cu = self.demand.customers
        end = day + 1
        if not cu.reacting or end <= cu.from_day or (end - cu.from_day) % cu.review_days:
            return
        a = end - cu.review_days
        # Nobody is throttled in a period where no interactive hour is short: then the
        # review changes nothing, and the days not served yet are served later, at one go.
        # Days served already say so themselves; for the others, demand against capacity.
        d0 = self._served_to
        short = d0 > a and bool(self._done.hours.short[:3, a:min(d0, end)].any())
        if not short and d0 < end:
            lo, dd, t = max(d0, a), self.demand, self.terms
            cap = serving_capacity(self.total_tps(lo, end)[:, None], t.serving_share,
                                   t.flex_share, dd.interactive[lo:end], t.flex_target)
            short = bool((dd.interactive[lo:end] > cap).any())
        if short:
            self._serve_to(end)
            d = self._done
            who = cu.throttling(a, d.hours.short[:3, a:end], d.fresh[:, a:end])
            cu.review(a, end, who.group_hours, who.consumer_hours)
            self._who.append((a, who))
        if cu.changed:  # the next period's demand, from the customers retained so far
            self.demand.rebuild(end, min(end + cu.review_days, self.clock.days))

    def _run(self, sim):
        env, f, lines = sim.env, self.fleet, self.lines
        self._due = lines.due_planned_at((np.arange(self.clock.days) + 0.5) * HOURS_PER_DAY)
        row, pools = self._rows.append, self.pools
        yield env.timeout(HOURS_PER_DAY / 2)
        # The days that end a review period, and each day's bound on the run-rate: most
        # days need neither a review nor a tranche check, and pay one lookup for each.
        cu, days = self.demand.customers, self.clock.days
        reviews = [False] * days
        if cu.reacting:
            for end in range(cu.from_day + cu.review_days, days + 1, cu.review_days):
                if end > 0:
                    reviews[end - 1] = True
        bound: list[float] = []
        # What the day records, bound once (the fleet's and the lines' arrays are
        # updated in place).
        step, orders, level = f.step, self.orders, operator.attrgetter("level")
        chips, state = self.chips, f.state
        energized, energized_now = self.energized, f.energized
        net_shipped, net_now = self._net_shipped, lines.net_shipped
        held, held_now = self.held, lines.held
        for day in range(days):
            step(day)
            chips[day] = state
            if not day:
                self._check_tranches(day)  # computes the bounds
                assert self._bound is not None
                bound = [b * (1 + 1e-9) for b in self._bound]
            elif bound[day] >= self._milestone:
                self._check_tranches(day)
            if reviews[day]:
                self._review(day)
            energized[day] = energized_now
            net_shipped[day] = net_now
            held[day] = held_now
            row((self._received, *orders(), *map(level, pools)))
            # The next day at once when nothing else happens before its step.
            if not advance(env, env.now + HOURS_PER_DAY):
                yield env.timeout(HOURS_PER_DAY)

    @property
    def awaiting(self) -> np.ndarray:
        """(days, generations) chips due from the lines and not yet shipped, each day."""
        if self._due is None:
            return np.zeros_like(self._net_shipped)
        return self._due - self._net_shipped

    def _recorded(self) -> np.ndarray:
        """(days, 3 + pools): the day's tuples as one table (after the run)."""
        if self._table is None or len(self._table) != len(self._rows):
            self._table = (np.array(self._rows, float) if self._rows
                           else np.zeros((0, 3 + self.n_pools)))
        return self._table

    @property
    def daily(self) -> np.ndarray:
        """(days, 3): investment received, MW ordered, MW of power ordered, cumulative."""
        return self._recorded()[:, :3]

    @property
    def pool_stock(self) -> np.ndarray:
        """(days, pools): each component pool's stock."""
        return self._recorded()[:, 3:]

    def total_tps(self, d0: int = 0, d1: int | None = None) -> np.ndarray:
        """Tokens/s of the healthy installed chips on days d0 .. d1 - 1, with efficiency."""
        installed = self.chips[d0:d1, STATES.index("installed")]
        return (installed * self.fleet.tps).sum(axis=1) * self.efficiency[d0:d1]

    def by_generation(self) -> np.ndarray:
        """(days, states + 1, generations): chips by state, then healthy tokens/s."""
        healthy = (self.chips[:, STATES.index("installed")] * self.fleet.tps
                   * self.efficiency[:, None])
        return np.concatenate([self.chips, healthy[:, None]], axis=1).astype(float)

    def by_cloud(self) -> np.ndarray:
        """(days, 4, clouds): energized MW, occupied MW, healthy tokens/s, spend $/day."""
        f = self.fleet
        one_hot = np.zeros((f.kw.size, f.n_clouds))
        one_hot[np.arange(f.kw.size), f.cloud] = 1.0
        installed = self.chips[:, STATES.index("installed")]
        failed = self.chips[:, STATES.index("failed")]
        occ_kw = ((installed + failed) * f.kw) @ one_hot
        tps = ((installed * f.tps) @ one_hot) * self.efficiency[:, None]
        return np.stack([self.energized, occ_kw / 1000.0, tps, occ_kw * self.it_price], axis=1)

    def fleet_daily(self) -> dict[str, np.ndarray]:
        """The one-number-a-day series of the fleet and the orders (see FLEET_DAILY)."""
        installed = self.chips[:, STATES.index("installed")]
        return {"investment_cum_usd": self.daily[:, 0], "ordered_cum_mw": self.daily[:, 1],
                "fp8_eflops": installed @ self.fp8_per_chip,
                "chips_awaiting_components": np.where(self.held, 0, self.awaiting).sum(axis=1),
                "chips_held": np.where(self.held, self.awaiting, 0).sum(axis=1),
                "power_ordered_cum_mw": self.daily[:, 2]}

    def served(self) -> ServedDays:
        """Service of every day of the finished run."""
        self._serve_to(self.clock.days)
        self.demand.count_customers()
        d = self._done
        d.hours.capacity = d.capacity
        d.throttling = self._throttling()
        return d

    def _throttling(self) -> Throttling:
        """Who was throttled on every day: the reviews' own findings, the rest computed.

        A review's days are served and their head counts fixed when it looks at them
        (reviews change only later days), so what it found is what a pass over the whole
        run would find. The other days are computed in blocks of at most a year, so that
        the (short hours, groups) arrays stay small.
        """
        cu, d, days = self.demand.customers, self._done, self.clock.days
        parts: list[Throttling] = []
        at = 0
        for a, who in [*self._who, (days, None)]:
            for lo in range(at, a, THROTTLING_BLOCK_DAYS):
                hi = min(lo + THROTTLING_BLOCK_DAYS, a)
                parts.append(cu.throttling(lo, d.hours.short[:3, lo:hi], d.fresh[:, lo:hi]))
            if who is not None:
                parts.append(who)
                at = a + who.peak.size
        return Throttling.concat(parts)
