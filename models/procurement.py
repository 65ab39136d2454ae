"""Power-aware shipping: chips are built and shipped only when powered space is in sight.

The default policy (``procurement.shipping = "power_aware"``) sits in front of every
production line and every order. Before a line builds a chunk of chips it asks
:meth:`PowerGate.allowed`: the chips may go when the cloud's powered space, as it will be
when they arrive and for ``procurement.power_lead_days`` more, can take them beside every
chip already shipped, waiting or granted and not yet shipped (less the chips that retire by
then). Otherwise the line holds them (no components drawn, so a held chip does not age)
and looks again every ``procurement.hold_review_days``. When it holds chips that no
building due within the build lead time can take, it orders buildings for them (facility
MW, at most ``procurement.max_order_mw_per_year`` in any trailing year), which power on
after ``procurement.build_lead_time_days``.

``procurement.shipping = "legacy"`` ships on schedule whatever the power, as capsim did
before: chips then wait, delivered, for powered space (and age while they wait).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from capsim.models.fleet import Fleet
from capsim.simcore.probes import EventLog
from capsim.simcore.units import HOURS_PER_DAY, HOURS_PER_YEAR


class Clocked(Protocol):
    """What tells the simulation time (a `simpy.Environment`)."""

    @property
    def now(self) -> float:
        """Hours since the start."""
        ...


class PowerOrders(Protocol):
    """Who orders buildings (`models.orders.Orders`)."""

    buildings: list[tuple[float, float, int]]
    build_lead_h: float
    max_order_mw_year: float

    def order_power(self, mw: float, cloud: int) -> None:
        """Order `mw` facility MW of buildings for `cloud` now."""
        ...


class Due(Protocol):
    """The production lines, as the gate sees them."""

    @property
    def awaiting(self) -> np.ndarray:
        """Chips due from the lines and not shipped, per generation."""
        ...


@dataclass(frozen=True)
class GateTerms:
    """How the power-aware policy looks ahead (hours) and when it swaps chips.

    Attributes:
        arrival_h: hours from shipment to arrival (integration).
        lead_h: how far past the arrival the policy looks for powered space.
        review_h: hours between looks at held chips.
        swap_ratio: retire installed chips early to make room for held chips that give at
            least this many times their tokens per facility watt (0: never).
        from_h: the hour from which the policy holds chips; before it every chip ships on
            schedule (the history years replay what was shipped).
    """

    arrival_h: float
    lead_h: float
    review_h: float
    swap_ratio: float = 0.0
    from_h: float = 0.0

    @classmethod
    def of(cls, sc, clock, arrival_h: float) -> GateTerms:
        """The scenario's procurement settings, in hours of `clock`."""
        pr = sc.procurement
        return cls(arrival_h, pr.power_lead_days * HOURS_PER_DAY,
                   pr.hold_review_days * HOURS_PER_DAY, pr.early_retirement_ratio,
                   clock.hours(pr.power_aware_from or sc.scenario.start))


class PowerGate:
    """The power-aware shipping policy (see the module docstring).

    Args:
        fleet: the fleet whose powered space the chips go into.
        env: what tells the simulation time.
        planned_power: (hour, MW, cloud) of buildings that power on later, known plans.
        terms: how the policy looks ahead.
        orders: who orders buildings for held chips, and the buildings ordered during the
            run (read live); None: the policy orders no power.
        due: the production lines: space is kept for the chips due from them of
            generations that give more tokens per watt than the one asking.
        events: where early retirements are logged.
    """

    def __init__(self, fleet: Fleet, env: Clocked, planned_power: list[tuple[float, float, int]],
                 terms: GateTerms, orders: PowerOrders | None = None, due: Due | None = None,
                 events: EventLog | None = None) -> None:
        self.fleet, self.env, self.due, self.events = fleet, env, due, events
        self.orders = orders
        self.from_h, self.swap_ratio = terms.from_h, terms.swap_ratio
        self.planned = sorted(planned_power)
        # The planned buildings as arrays: power-on hours, and MW per cloud summed up to
        # each of them, so that the MW due in a window is two lookups.
        n_c = fleet.n_clouds
        mw = np.zeros((len(self.planned) + 1, n_c))
        for i, (_, m, c) in enumerate(self.planned):
            mw[i + 1, c] = m
        self._plan_hours = [float(t) for t, _, _ in self.planned]
        self._plan_cum_c = np.cumsum(mw, axis=0).T.tolist()  # per cloud, as plain numbers
        self.ordered: list[tuple[float, float, int]] = orders.buildings if orders else []
        self.arrival_h, self.lead_h = max(0.0, terms.arrival_h), max(0.0, terms.lead_h)
        self.review_h = max(1.0, terms.review_h)
        self.build_lead_h = max(0.0, orders.build_lead_h) if orders else 0.0
        self.max_mw_year = max(0.0, orders.max_order_mw_year) if orders else 0.0
        self._base = fleet.shipped.copy()   # shipped before the run: the installed base
        self.granted = np.zeros_like(fleet.shipped)
        self._base_l, self._kw_l = self._base.tolist(), fleet.kw.tolist()
        self._gens_of = [[g for g in range(fleet.kw.size) if fleet.cloud[g] == c]
                         for c in range(fleet.n_clouds)]
        self.power_orders: list[tuple[float, float]] = []  # (hour, MW) this policy ordered
        self.held_events = 0
        # What depends only on the generations, asked for on every look: the generations of
        # the same cloud that give more tokens per watt than each (whose due chips it must
        # leave space for), and those at least swap_ratio times worse (it may retire them).
        per_w = fleet.tps / fleet.kw
        self._cloud = [int(c) for c in fleet.cloud]
        self._better = [[int(o) for o in np.flatnonzero((fleet.cloud == c) & (per_w > per_w[g]))]
                        for g, c in enumerate(self._cloud)]
        self._worse = [[int(o) for o in np.argsort(per_w, kind="stable")
                        if fleet.cloud[o] == c and per_w[o] * self.swap_ratio <= per_w[g]]
                       for g, c in enumerate(self._cloud)]

    def _power_mw_by(self, t: float, c: int) -> float:
        """Facility MW of cloud c energized by hour `t`: now, plus planned and ordered."""
        f, now = self.fleet, self.env.now
        lo, hi = bisect.bisect_right(self._plan_hours, now), bisect.bisect_right(
            self._plan_hours, t)
        mw = float(f.energized[c])
        if hi > lo:
            mw += self._plan_cum_c[c][hi] - self._plan_cum_c[c][lo]
        for th, m, oc in self.ordered:
            if oc == c and now < th <= t:
                mw += m
        return mw

    def _committed_kw(self, until_day: float, c: int) -> float:
        """Facility kW of cloud c's chips that will want space at `until_day`.

        Shipped and not retired (or retiring by then), plus chips granted and not shipped.
        """
        f = self.fleet
        # In transit, waiting, installed or failed: every chip shipped and not retired (the
        # fleet conserves chips exactly), plus those granted and not shipped yet (granted
        # beyond what shipped since the start), less those that retire by then. A handful
        # of generations: plain Python numbers, summed in generation order.
        gens = self._gens_of[c]
        shipped, granted, base = f.shipped.tolist(), self.granted.tolist(), self._base_l
        retired, ending = f.retired.tolist(), f.retiring_by(until_day).tolist()
        kw = 0.0
        for g in gens:
            chips = max(shipped[g], granted[g] + base[g]) - retired[g] - ending[g]
            kw += max(float(chips), 0.0) * self._kw_l[g]
        return kw

    def allowed(self, g: int, chips: int) -> int:
        """Chips (0..chips, whole racks unless all fit) of generation g that may ship now."""
        now = self.env.now
        if now < self.from_h:
            self.granted[g] += chips
            return chips
        f = self.fleet
        c = self._cloud[g]
        t = now + self.arrival_h + self.lead_h
        free_kw = (self._power_mw_by(t, c) * 1000.0
                   - self._committed_kw(t / HOURS_PER_DAY, c))
        better = self._better[g]
        if self.due is not None and better:
            # Powered space goes to the best tokens per watt first, as placement does.
            due = self.due.awaiting.tolist()
            kw = 0.0
            for o in better:
                kw += due[o] * self._kw_l[o]
            free_kw -= kw
        fit = int(max(0.0, free_kw) // f.kw[g])
        if fit < chips and self.swap_ratio > 0:
            free_kw += self._swap(g, (chips - fit) * f.kw[g])
            fit = int(max(0.0, free_kw) // f.kw[g])
        if fit < chips:
            rack = int(f.rack[g])
            fit = fit // rack * rack
            self.held_events += 1
            self._order_for(g, chips - fit)
        n = min(chips, fit)
        self.granted[g] += n
        return n

    def _swap(self, g: int, need_kw: float) -> float:
        """Retire chips far worse per watt than generation g's to free `need_kw` kW.

        The worst per watt go first; returns the facility kW freed.
        """
        f = self.fleet
        freed = 0.0
        for o in self._worse[g]:
            if freed >= need_kw:
                break
            if not f.installed[o]:
                continue  # nothing to retire (retire_early would retire none)
            n = f.retire_early(o, int(np.ceil((need_kw - freed) / f.kw[o])))
            freed += n * f.kw[o]
            if n and self.events is not None:
                per_w = f.tps / f.kw
                self.events.log(self.env.now, "early_retirement",
                                f"{n} chips retired early for {f.generations[g]} "
                                f"({per_w[g] / per_w[o]:.1f}x tokens per watt)",
                                subject=f.generations[o], amount=n, unit="chips")
        return freed

    def _order_for(self, g: int, held: int) -> None:
        """Order buildings for held chips that no building due within the build lead takes."""
        if self.orders is None or held <= 0:
            return
        f, now = self.fleet, self.env.now
        c = int(f.cloud[g])
        t = now + self.build_lead_h + self.arrival_h
        short_kw = (self._committed_kw(t / HOURS_PER_DAY, c) + held * f.kw[g]
                    - self._power_mw_by(t, c) * 1000.0)
        recent = sum(m for th, m in self.power_orders if th > now - HOURS_PER_YEAR)
        mw = min(short_kw / 1000.0, self.max_mw_year - recent)
        if mw > 0:
            self.orders.order_power(mw, c)
            self.power_orders.append((now, mw))
