"""The service of a replication's days, computed when someone needs it, and who needs it.

Demand and surges do not depend on the fleet, and one day's allocation depends on the
fleet only through that day's capacity. So the days are served lazily, range by range, by
`ServiceLedger`, as (days, 24) arrays, and at the end of the run whatever is left. Two
things need the service while the run goes on:

- `TrancheWatch`: investment tranches fire on the first day the revenue run-rate reaches
  their milestone. The days before a check are served only when the revenue that full
  service would earn could reach a pending milestone.
- `CustomerReviews`: at the end of each review period customers look back at their
  service, and some leave; the next period's demand is rebuilt from those retained.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from capsim.models import finance
from capsim.models.customers import Throttling
from capsim.models.days import (
    RUN_RATE_DAYS,
    DemandDays,
    ServedDays,
    ServiceTerms,
    full_revenue,
    revenue_bound,
    serve,
)
from capsim.models.record import FleetRecord
from capsim.models.service import HourlyService, serving_capacity
from capsim.simcore.units import DAYS_PER_YEAR, SECONDS_PER_DAY

THROTTLING_BLOCK_DAYS = 366
"""Days per block of the final pass over who was throttled (bounds its memory)."""


class ServiceLedger:
    """Every day's service, filled in range by range as it is needed.

    Args:
        days: length of the run.
        demand: every hour's demand.
        terms: how capacity meets demand and what it earns.
        record: the fleet's record (each day's capacity).
    """

    def __init__(self, days: int, demand: DemandDays, terms: ServiceTerms,
                 record: FleetRecord) -> None:
        self.days, self.demand, self.terms, self.record = days, demand, terms, record
        self.served_to = 0  # days before this one are served
        self._who: list[tuple[int, Throttling]] = []  # reviews' throttling, by first day
        # Their service, written in place day range by day range (no copies to join).
        # Every day is served by the end of the run, and no day is read before it is
        # served: the arrays need no zeros.
        z = np.empty
        self.done = ServedDays(z((days, 24)), HourlyService(
            z((days, 24)), z((days, 24)), z((days, 24)), z((4, days, 24)),
            z((4, days, 24), bool), z((days, 24))), z(days), z(days), z((3, days, 24)))

    def serve_to(self, end: int) -> None:
        """Serve the days from the first not served up to `end` (exclusive)."""
        d0 = self.served_to
        if d0 >= end:
            return
        got = serve(self.demand, self.terms, self.record.total_tps(d0, end), d0, who=False)
        done, h, new = self.done, self.done.hours, got.hours
        assert h.retried is not None and new.retried is not None
        done.capacity[d0:end], done.revenue[d0:end] = got.capacity, got.revenue
        done.lost_revenue[d0:end], done.fresh[:, d0:end] = got.lost_revenue, got.fresh
        h.demand[d0:end], h.served[d0:end], h.retried[d0:end] = (new.demand, new.served,
                                                                 new.retried)
        h.unserved_by_tier[:, d0:end], h.short[:, d0:end] = new.unserved_by_tier, new.short
        self.served_to = end

    def found(self, first_day: int, who: Throttling) -> None:
        """Keep what a review found of who was throttled from `first_day` on."""
        self._who.append((first_day, who))

    def served(self) -> ServedDays:
        """Service of every day of the finished run."""
        self.serve_to(self.days)
        self.demand.count_customers()
        d = self.done
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
        cu, d, days = self.demand.customers, self.done, self.days
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


class Funder(Protocol):
    """Who spends a tranche that fires (`models.orders.Orders`)."""

    def fund(self, tranche: finance.Tranche) -> None:
        """Spend the tranche's capacity share on capacity."""
        ...


class TrancheWatch:
    """Fires investment tranches: on the deal date, or at their milestone after it.

    A milestone tranche fires on the first day from the deal date on that the run-rate
    reaches its milestone.

    Args:
        ledger: the days' service (served up to a check when a check needs it).
        tranches: the replication's tranches.
        funder: spends each tranche that fires.
    """

    def __init__(self, ledger: ServiceLedger, tranches: finance.Tranches,
                 funder: Funder) -> None:
        self.ledger, self.tranches, self.funder = ledger, tranches, funder
        self.run_rate = np.zeros(ledger.days)  # $/year as tranches saw it (0 where not needed)
        self.received = tranches.received_usd  # investment received so far
        self._bound: list[float] | None = None
        self._milestone = np.inf             # the lowest milestone not reached yet
        self._full: np.ndarray | None = None  # each day's revenue at full service
        self._top_price = np.zeros(0)        # each day's highest price, $ per M tokens
        self._day_bound = np.zeros(ledger.days)  # each day's most revenue, days < _bound_to
        self._bound_to = 0

    def bounds(self) -> list[float]:
        """Each day's most run-rate (full service), with a margin for rounding."""
        if self._bound is None:
            self._bound = revenue_bound(self.ledger.demand, self.ledger.terms).tolist()
            self._milestone = self._pending_milestone()
        return [b * (1 + 1e-9) for b in self._bound]

    @property
    def milestone(self) -> float:
        """The lowest milestone not reached yet (inf: none pending)."""
        return self._milestone

    def _pending_milestone(self) -> float:
        todo = self.tranches.milestones()
        return min(todo) if todo else np.inf

    @property
    def deal_day(self) -> int:
        """The run's day of the deal date: tranches released on it fire that day."""
        return self.tranches.deal_day

    def check(self, day: int) -> None:
        """Fire today's tranches: those of the deal date, and those whose milestone is met.

        None fires before the deal date.
        """
        if self._bound is None:
            self.bounds()
        assert self._bound is not None
        for tr in self.tranches.at_deal(day):
            self.funder.fund(tr)
        self.received = self.tranches.received_usd
        if day < self.tranches.deal_day:
            return
        if self._bound[day] * (1 + 1e-9) < self._milestone:
            return  # even full service could not earn it today (or nothing is pending)
        lo = max(0, day - RUN_RATE_DAYS + 1)
        if self._below_milestone(lo, day):
            return
        led = self.ledger
        led.serve_to(day + 1)
        run_rate = (led.done.revenue[lo:day + 1].mean() * DAYS_PER_YEAR
                    / max(led.terms.cloud_share, 1e-12))
        self.run_rate[day] = run_rate
        for tr in self.tranches.check(day, run_rate):
            self.funder.fund(tr)
        self._milestone = self._pending_milestone()
        self.received = self.tranches.received_usd

    def _below_milestone(self, lo: int, day: int) -> bool:
        """Whether the run-rate of days lo .. day stays below the milestone for sure.

        Days already served count exactly; a day not served yet earns at most its full
        demand's revenue, and at most what its serving capacity (all of the serving share
        and all that training can lend) earns at the day's highest price.
        """
        led = self.ledger
        d0 = max(led.served_to, lo)
        if d0 > day:
            return False
        t = led.terms
        if self._full is None:
            self._full = full_revenue(led.demand, t)
            self._top_price = float(t.prices.max()) * t.price_factor(0, led.days)
        # Each day's bound is computed once (a day's chips and prices do not change).
        a = max(self._bound_to, d0)
        if a <= day:
            most = t.serving_share + (1.0 - t.serving_share) * t.flex_share
            cap = (led.record.total_tps(a, day + 1) * most * self._top_price[a:day + 1]
                   * SECONDS_PER_DAY / 1e6)
            self._day_bound[a:day + 1] = np.minimum(self._full[a:day + 1], cap)
            self._bound_to = day + 1
        top = led.done.revenue[lo:d0].sum() + self._day_bound[d0:day + 1].sum()
        run_rate = (top / (day + 1 - lo) * DAYS_PER_YEAR
                    / max(t.cloud_share, 1e-12))
        return run_rate * (1 + 1e-9) < self._milestone


class CustomerReviews:
    """At the end of each review period customers look back at their service."""

    def __init__(self, ledger: ServiceLedger) -> None:
        self.ledger = ledger

    def days(self) -> list[bool]:
        """For each day, whether a review period ends on it."""
        cu, days = self.ledger.demand.customers, self.ledger.days
        reviews = [False] * days
        if cu.reacting:
            for end in range(cu.from_day + cu.review_days, days + 1, cu.review_days):
                if end > 0:
                    reviews[end - 1] = True
        return reviews

    def review(self, day: int) -> None:
        """The review of the period that ends on `day` (after the day's step)."""
        led = self.ledger
        dd = led.demand
        cu = dd.customers
        end = day + 1
        if not cu.reacting or end <= cu.from_day or (end - cu.from_day) % cu.review_days:
            return
        a = end - cu.review_days
        # Nobody is throttled in a period where no interactive hour is short: then the
        # review changes nothing, and the days not served yet are served later, at one go.
        # Days served already say so themselves; for the others, demand against capacity.
        d0 = led.served_to
        short = d0 > a and bool(led.done.hours.short[:3, a:min(d0, end)].any())
        if not short and d0 < end:
            lo, t = max(d0, a), led.terms
            cap = serving_capacity(led.record.total_tps(lo, end)[:, None], t.serving_share,
                                   t.flex_share, dd.interactive[lo:end], t.flex_target)
            short = bool((dd.interactive[lo:end] > cap).any())
        if short:
            led.serve_to(end)
            d = led.done
            who = cu.throttling(a, d.hours.short[:3, a:end], d.fresh[:, a:end])
            cu.review(a, end, who.group_hours, who.consumer_hours)
            led.found(a, who)
        if cu.changed:  # the next period's demand, from the customers retained so far
            dd.rebuild(end, min(end + cu.review_days, led.days))
