"""Enterprise customers in groups: who is throttled, and customers who react to service.

Groups. The population (`models.demand`) is cut into groups of segment (committed or
on-demand) x size class x region (time zone); the size classes are quantiles of customer
size within the segment (`size_class_quantiles`). A group's customers are alike: each
asks for the group's mean size times the region's hourly profile, growth and surges. So a
short tier is rationed group by group with exact head counts (`models.rationing`),
never customer by customer.

Throttled. A customer is throttled in an hour when less than `throttled_threshold` of
its tokens is served. A tier's count is a sum of whole groups of that tier, so it never
exceeds the tier's active customers. Consumers are one aggregate (no head count): their
hours count as throttled when the consumer tier's served share is below the threshold.

Reactions, each one switchable (`reactions`), from `reactions_from`:
- retry: a share of unserved interactive tokens retries later the same UTC day
  (`models.rationing.allocate_retrying`);
- churn: every `review_days` each customer of a group leaves for a competitor with
  probability 1 - exp(-k x the group's throttled share of customer-hours x the review
  period in years), on top of its natural churn; consumer demand shrinks by the same law
  with the consumer tier's throttled share of hours;
- arrivals: of the customers who would join a group in the next review period, a share
  (arrival loss x the group's throttled share) goes to competitors instead.

Customers who leave or never join are counted (customers lost to competitors) and take
their demand with them: each group keeps a retained share s of its baseline (the
population's head count and size), s drops by the lost customers over the group's
baseline head count, and the demand of later days is rebuilt from s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from capsim.models.demand import SIZE_CLASSES, DemandModel, Population, fine_group_days
from capsim.models.rationing import served_shares
from capsim.models.scenario import Customers as Section
from capsim.models.scenario import Scenario
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY, SECONDS_PER_DAY


@dataclass(frozen=True)
class Defaults:
    """Rationing of a scenario without a [customers] section (no reactions)."""

    size_class_quantiles: tuple[float, ...] = SIZE_CLASSES
    throttled_threshold: float = 0.95
    rationing: str = "max_min"


DEFAULTS = Defaults()


@dataclass
class Groups:
    """Customer groups (segment x size class x region) and their baseline per day."""

    committed: np.ndarray  # (G,) bool
    region: np.ndarray     # (G,) region index
    parent: np.ndarray     # (G,) row of the population's (region, segment) tables
    count: np.ndarray      # (G, days) active customers
    weight: np.ndarray     # (G, days) summed size of the active customers
    arrivals: np.ndarray   # (G, days) customers who join on the day (after the start)


def build_groups(pop: Population, n_regions: int, quantiles: list[float], days: int) -> Groups:
    """Cut the population into groups.

    Size classes are quantiles of size within each segment, among the customers present
    at the start (newcomers are drawn from the same sizes and take the same cut points):
    the population's own fine groups when it was drawn with these quantiles.
    """
    k = len(quantiles) + 1
    n_g = n_regions * 2 * k
    if (tuple(quantiles) == pop.size_classes and pop.fine_weight is not None
            and pop.fine_count is not None and pop.fine_arrivals is not None
            and pop.fine_weight.shape == (n_g, days)):
        weight, count, entered = pop.fine_weight, pop.fine_count, pop.fine_arrivals
    else:
        weight, count, entered = fine_group_days(pop.size, pop.region, pop.committed,
                                                 pop.arrive, pop.churn, pop.n_start,
                                                 quantiles, n_regions, days)
    par = np.arange(n_g) // k
    return Groups(par % 2 == 1, par // 2, par, count, weight, entered)


@dataclass(frozen=True)
class Reaction:
    """One replication's reaction parameters (see the module docstring)."""

    retry_share: float
    churn_per_year: float
    arrival_loss: float
    consumer_churn_per_year: float


@dataclass
class Throttling:
    """Who was throttled on a range of days."""

    by_tier: np.ndarray        # (days, 2) most committed / on-demand customers in an hour
    peak: np.ndarray           # (days,) most enterprise customers throttled in one hour
    group_hours: np.ndarray    # (days, G) customer-hours throttled per group
    group_any: np.ndarray      # (days, G) bool: the group was throttled in some hour
    consumer_hours: np.ndarray  # (days,) hours the consumer tier was throttled

    @classmethod
    def concat(cls, parts: list[Throttling]) -> Throttling:
        """Consecutive day ranges as one."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in fields(cls)))


class Customers:
    """The enterprise groups of one replication: rationing, and reactions when switched on.

    Args:
        groups: the customer groups.
        dem: the replication's demand model (profiles, growth, scale).
        surge_ent: (days, 24) enterprise surge multipliers.
        threshold: served share below which a customer-hour is throttled.
        rule: rationing inside a tier, ``max_min`` or ``proportional``.
        reaction: reaction parameters, or None when customers do not react.
        reactions: the reactions switched on.
        from_day: first day customers react.
        review_days: days between reviews.
        rng_for: review day -> its random generator (a named stream per review).
    """

    def __init__(self, groups: Groups, dem: DemandModel, surge_ent: np.ndarray,
                 threshold: float, rule: str, reaction: Reaction | None = None,
                 reactions: tuple[str, ...] = (), from_day: int = 0, review_days: int = 30,
                 rng_for: Callable[[int], np.random.Generator] | None = None) -> None:
        self.g, self.dem, self.surge_ent = groups, dem, surge_ent
        self.threshold, self.rule = threshold, rule
        self.reaction = reaction
        self.reactions = reactions if reaction is not None else ()
        self.reacting = bool({"churn", "arrivals"} & set(self.reactions))
        """Whether customers review their service (churn or arrivals switched on)."""
        self.from_day, self.review_days, self.rng_for = from_day, review_days, rng_for
        days = groups.count.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(groups.count > 0, groups.weight / np.maximum(groups.count, 1), 0.0)
        scale = dem.tps_per_weight * dem.ent_growth[:days] * dem.ent_day[:days]
        tier = np.where(groups.committed, 1.0, 1.0 - dem.batch_share)
        self.per_customer = size * scale[None, :] * tier[:, None]      # (G, days)
        self.profile = dem.ent_profile[groups.region]                   # (G, 24)
        self.retained = np.ones((days, groups.count.shape[0]))
        # A review changes every later day; rows past `_filled` are written when first
        # read (with the latest review's shares, `_last`), not at every review.
        self._filled, self._last = days, self.retained[0].copy()
        self._reviews = 0  # reviews that changed the retained shares
        self._active_key: tuple[int, int, int] | None = None
        self._active = np.zeros((0, groups.count.shape[0]))
        self.consumer_retained = np.ones(days)
        self.lost = np.zeros(days)           # customers lost to competitors, by day
        self.changed = False                 # some group lost customers: demand to rebuild
        self.tiers = [np.flatnonzero(groups.committed), np.flatnonzero(~groups.committed)]
        # Each tier's groups as columns, day (or hour) by row: a short hour's row is one
        # lookup, not a copy of the whole run's table.
        self._per_customer_t = [np.ascontiguousarray(self.per_customer[gs].T)
                                for gs in self.tiers]
        self._profile_t = [np.ascontiguousarray(self.profile[gs].T) for gs in self.tiers]
        par = groups.parent
        self._blocks = bool(par.size and par.size % (par.max() + 1) == 0 and np.array_equal(
            par, np.repeat(np.arange(par.max() + 1), par.size // (par.max() + 1))))

    @property
    def retry_share(self) -> float:
        """Share of unserved interactive tokens that retry (0 when retries are off)."""
        if self.reaction is None or "retry" not in self.reactions:
            return 0.0
        return self.reaction.retry_share

    def active(self, d0: int, d1: int) -> np.ndarray:
        """(days, G) active customers of each group on days d0 .. d1 - 1 (whole numbers).

        Read-only. A review period's head counts are asked for by the demand rebuilt for
        it, then by its review (who was throttled, who leaves): computed once until a
        review changes the retained shares.
        """
        key = (d0, d1, self._reviews)
        if self._active_key != key:
            self._active = np.rint(self._rows(d0, d1) * self.g.count[:, d0:d1].T)
            self._active.flags.writeable = False
            self._active_key = key
        return self._active

    def active_by_tier(self, d0: int, d1: int) -> tuple[np.ndarray, np.ndarray]:
        """(committed, on-demand) active customers per day, whole numbers."""
        a = self.active(d0, d1)
        return a[:, self.tiers[0]].sum(axis=1), a[:, self.tiers[1]].sum(axis=1)

    def throttling(self, d0: int, short: np.ndarray, fresh_share: np.ndarray) -> Throttling:
        """Who was throttled on days d0 .. d0 + len - 1.

        Args:
            d0: first day.
            short: (3, days, 24) whether each interactive tier missed tokens in the hour.
            fresh_share: (3, days, 24) share of each interactive tier's demand served.
        """
        days = short.shape[1]
        n_g = self.g.count.shape[0]
        active = self.active(d0, d0 + days)
        by_tier = np.zeros((days, 2))
        both = np.zeros(days * 24)
        hours = np.zeros((days, n_g))
        for t, gs in enumerate(self.tiers):
            rows = np.flatnonzero(short[t].ravel())
            if rows.size == 0 or gs.size == 0:
                continue
            day, hour = np.divmod(rows, 24)
            x = (self._per_customer_t[t][d0 + day] * self._profile_t[t][hour]
                 * self.surge_ent[d0 + day, hour][:, None])
            n = active[day][:, gs]
            cap = fresh_share[t].ravel()[rows] * (x * n).sum(axis=1)
            throttled = (served_shares(x, n, cap, self.rule) < self.threshold) & (n > 0)
            heads = np.where(throttled, n, 0.0)
            per_hour = np.zeros(days * 24)
            per_hour[rows] = heads.sum(axis=1)
            by_tier[:, t] = np.rint(per_hour.reshape(days, 24).max(axis=1))
            both += per_hour
            cells = day[:, None] * n_g + gs[None, :]
            hours += np.bincount(cells.ravel(), heads.ravel(), days * n_g).reshape(days, n_g)
        consumer = (fresh_share[2] < self.threshold).sum(axis=1).astype(float)
        return Throttling(by_tier, np.rint(both.reshape(days, 24).max(axis=1)), hours,
                          hours > 0, consumer)

    def review(self, a: int, b: int, group_hours: np.ndarray, consumer_hours: np.ndarray
               ) -> None:
        """Customers review days a .. b - 1 and some leave; later days keep fewer of them.

        Args:
            a: first reviewed day.
            b: the day after the last reviewed day.
            group_hours: (b - a, G) customer-hours throttled per group.
            consumer_hours: (b - a,) hours the consumer tier was throttled.
        """
        days = self.retained.shape[0]
        if b >= days or self.reaction is None:
            return
        r = self.reaction
        years = (b - a) / DAYS_PER_YEAR
        with np.errstate(divide="ignore", invalid="ignore"):
            active_hours = HOURS_PER_DAY * self.active(a, b).sum(axis=0)
            share = np.where(active_hours > 0, group_hours.sum(axis=0) / active_hours, 0.0)
        share = np.clip(share, 0.0, 1.0)
        con_share = float(np.clip(consumer_hours.sum() / (HOURS_PER_DAY * (b - a)), 0.0, 1.0))
        if share.max() <= 0 and con_share <= 0:
            return
        if self.rng_for is None:
            raise ValueError("customers who react need rng_for: a named stream per review")
        rng = self.rng_for(b)
        s = self._rows(b - 1, b)[0]
        leave = (1.0 - np.exp(-r.churn_per_year * share * years)
                 if "churn" in self.reactions else np.zeros_like(share))
        lose = (np.minimum(r.arrival_loss * share, 1.0)
                if "arrivals" in self.reactions else np.zeros_like(share))
        end = min(b + self.review_days, days)
        now = np.rint(s * self.g.count[:, b - 1]).astype(np.int64)
        joining = np.rint(s * self.g.arrivals[:, b:end].sum(axis=1)).astype(np.int64)
        lost = rng.binomial(now, leave) + rng.binomial(joining, lose)
        base = self.g.count[:, end - 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            s_new = np.where(base > 0, np.maximum(s - lost / np.maximum(base, 1.0), 0.0), s)
        self.retained[b:end] = s_new
        self._reviews += 1  # head counts computed before are out of date
        self._filled, self._last = end, s_new
        self.lost[b] += lost.sum()
        if "churn" in self.reactions:
            self.consumer_retained[b:] *= np.exp(
                -r.consumer_churn_per_year * con_share * years)
        self.changed = True

    def _rows(self, d0: int, d1: int) -> np.ndarray:
        """(days, G) retained shares of days d0 .. d1 - 1."""
        if d1 > self._filled:
            self.retained[self._filled:d1] = self._last
            self._filled = d1
        return self.retained[d0:d1]

    def weight(self, d0: int, d1: int) -> np.ndarray:
        """(population groups, days) summed size of the retained customers, d0 .. d1 - 1."""
        w = self._rows(d0, d1).T * self.g.weight[:, d0:d1]
        n_p = int(self.g.parent.max()) + 1
        if self._blocks:  # each population group's size classes are consecutive rows
            return w.reshape(n_p, w.shape[0] // n_p, d1 - d0).sum(axis=1)
        out = np.zeros((n_p, d1 - d0))
        np.add.at(out, self.g.parent, w)
        return out


def size_classes(sc: Scenario) -> tuple[float, ...]:
    """The quantiles of size that cut the scenario's tiers into size classes."""
    sec: Section | None = sc.customers
    return tuple((DEFAULTS if sec is None else sec).size_class_quantiles)


def for_replication(sc, clock, dem: DemandModel, surge_ent: np.ndarray, streams) -> Customers:
    """The customers of one replication from the scenario's [customers] section.

    Without the section: the section's default rationing and threshold, no reactions.
    Reaction parameters come from the ``customers`` stream (drawn even when reactions
    are off, so switching one off leaves every other draw alone); each review draws from
    its own stream ``customers.review.<day>``.
    """
    sec: Section | None = sc.customers
    days = clock.days
    defaults = DEFAULTS if sec is None else sec
    n_regions = len(sc.demand.enterprise.region_shares)
    groups = build_groups(dem.pop, n_regions, list(defaults.size_class_quantiles), days)
    if sec is None:
        return Customers(groups, dem, surge_ent, DEFAULTS.throttled_threshold,
                         DEFAULTS.rationing)
    rng = streams.rng("customers")
    reaction = Reaction(float(sec.retry_share.sample(rng)),
                        float(sec.churn_per_throttled_year.sample(rng)),
                        float(sec.arrival_loss_per_throttled.sample(rng)),
                        float(sec.consumer_churn_per_throttled_year.sample(rng)))
    start = sec.reactions_from or sc.scenario.start
    from_day = max(0, int(clock.hours(start) // HOURS_PER_DAY))
    return Customers(groups, dem, surge_ent, sec.throttled_threshold, sec.rationing, reaction,
                     tuple(sec.reactions), from_day, sec.review_days,
                     lambda b: streams.rng(f"customers.review.{b}"))


def kpis(dates: np.ndarray, group_hours: np.ndarray, group_any: np.ndarray,
         active: np.ndarray, lost: np.ndarray, demand_tps: np.ndarray,
         potential_tps: np.ndarray, revenue_usd: np.ndarray) -> dict[str, float]:
    """Customer KPIs of a window of days (arrays of the window's days).

    Args:
        dates: the days.
        group_hours: (days, G) customer-hours throttled per group.
        group_any: (days, G) whether a group was throttled in some hour of the day.
        active: (days, G) active customers per group.
        lost: (days,) customers lost to competitors on each day.
        demand_tps: (days,) daily mean demand after reactions.
        potential_tps: (days,) daily mean demand before customers reacted.
        revenue_usd: (days,) revenue.
    """
    hours = float(group_hours.sum())
    active_hours = HOURS_PER_DAY * float(active.sum())
    # A month's customers throttled at least once: the groups throttled in some hour of
    # the month (all alike inside a group), at the month's mean head count.
    month = np.asarray(dates).astype("datetime64[M]")
    shares = np.zeros(0)
    if month.size:
        # The days of a month are consecutive: each month's rows are one segment.
        first = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
        n_days = np.diff(np.r_[first, month.size])
        heads = np.add.reduceat(active, first, axis=0) / n_days[:, None]
        hit = np.logical_or.reduceat(group_any, first, axis=0)
        total = heads.sum(axis=1)
        ok = total > 0
        shares = (heads * hit).sum(axis=1)[ok] / total[ok]
    potential = float(potential_tps.sum())
    return {
        "customer_hours_throttled": hours,
        "customer_hours_throttled_share": (float(np.clip(hours / active_hours, 0, 1))
                                           if active_hours > 0 else 0.0),
        "enterprise_throttled_monthly_share": float(np.mean(shares)) if shares.size else 0.0,
        "customers_lost_to_competitors": float(lost.sum()),
        "demand_lost_share": (float(np.clip(1 - demand_tps.sum() / potential, 0, 1))
                              if potential > 0 else 0.0),
        "revenue_per_demand_usd_per_mtok": (float(revenue_usd.sum())
                                            / (potential * SECONDS_PER_DAY / 1e6)
                                            if potential > 0 else float("nan")),
    }
