"""Chip supply as SimPy processes: component pools, production lines, orders, integration.

Shared components (CoWoS packaging, HBM stacks) are `simpy.Container` pools refilled
every mean month (30.44 days, from the start) by a supplier process: this scenario's
allotment of the industry's monthly output, growing by a yearly factor up to a ceiling.
Unused allotment can be stocked up to `stock_months` of it; beyond that it goes to other
buyers. Each production line (one per generation) takes its planned batches in time order,
draws every component the batch needs (waiting while a pool is short, first come first
served across lines), ships the chips, and the chips arrive as integrated racks after the
integration delay. So a line's output is its ramp, capped by the pools, and a short pool
delays shipments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import simpy
from capsim.models.scenario import Pool
from capsim.simcore.simulation import Simulation
from capsim.simcore.streams import Streams
from capsim.simcore.units import HOURS_PER_MONTH


@dataclass(frozen=True)
class PoolDraw:
    """One replication's pool: this scenario's allotment and its growth, cap and stock."""

    base: float      # units a month in the first month (this scenario's share)
    growth: float    # factor a year
    top: float       # most units a month (this scenario's share)
    stock: float     # months of allotment that can be stocked

    @classmethod
    def draw(cls, p: Pool, rng: np.random.Generator) -> PoolDraw:
        """Draws, in order: capacity, growth, ceiling, share, stock months."""
        base = float(p.capacity_per_month.sample(rng))
        growth = float(p.growth_per_year.sample(rng))
        top = float(p.max_per_month.sample(rng))
        share = float(np.clip(p.share.sample(rng), 0.0, 1.0))
        stock = max(1.0, float(p.stock_months.sample(rng)))
        return cls(base * share, growth, top * share, stock)


def draw_pools(pools: dict[str, Pool], streams: Streams) -> dict[str, PoolDraw]:
    """Each pool of the scenario from its stream ``supply.pools.<pool>``."""
    return {name: PoolDraw.draw(p, streams.rng(f"supply.pools.{name}"))
            for name, p in pools.items()}


class ComponentPools:
    """Component: the scenario's component pools, one `simpy.Container` each, and suppliers.

    Args:
        env: the SimPy environment.
        drawn: each pool's draw (`draw_pools`).
        units: each pool's unit (for messages).
        horizon_h: length of the run.
    """

    name = "supply.pools"

    def __init__(self, env: simpy.Environment, drawn: dict[str, PoolDraw],
                 units: dict[str, str], horizon_h: float) -> None:
        self.env = env
        self.containers: dict[str, simpy.Container] = {}
        self.supplied: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self._spec = drawn
        self._smallest: dict[str, float] = {}
        months = max(1, int(math.ceil(horizon_h / HOURS_PER_MONTH)))
        for name in drawn:
            first = self.allotment(name, 0)
            if first <= 0:
                raise ValueError(f"supply.pools.{name}: drew an allotment of {first:g} "
                                 f"{units.get(name, '')} a month; a pool needs a positive "
                                 "allotment")
            self.containers[name] = simpy.Container(env, init=first)
            self.supplied[name] = first
            self.used[name] = 0.0
            self._smallest[name] = min(first, self.allotment(name, months))

    def start(self, sim: Simulation) -> None:
        """Start each pool's supplier."""
        for name in self.containers:
            sim.env.process(self._supplier(name))

    def allotment(self, name: str, month: int) -> float:
        """This scenario's allotment of pool `name` in month `month` (0 = the first)."""
        d = self._spec[name]
        return min(d.base * d.growth ** (month / 12.0), d.top)

    def _supplier(self, name: str) -> Generator:
        c = self.containers[name]
        stock = self._spec[name].stock
        month = 0
        while True:
            yield self.env.timeout(HOURS_PER_MONTH)
            month += 1
            amount = self.allotment(name, month)
            put = min(amount, max(0.0, stock * amount - c.level))
            if put > 0:
                yield c.put(put)
                self.supplied[name] += put

    def chunk(self, uses: dict[str, float]) -> int:
        """The most chips one draw may take.

        The most chips one draw may take: no more than the smallest month's allotment of
        any pool allows, so that a draw can always be met (stock holds at least a month).

        Raises:
            ValueError: when one chip needs more of a pool than its smallest month holds
                (the scenario check refuses such pools before a run starts).
        """
        k = 1 << 62
        for p, u in uses.items():
            if u <= 0:
                continue
            n = int(self._smallest[p] / u)
            while n > 0 and n * u > self._smallest[p]:  # float rounding must not overdraw
                n -= 1
            if n < 1:
                raise ValueError(f"supply.pools.{p}: one chip needs {u:g}, more than the "
                                 f"smallest monthly allotment {self._smallest[p]:g}")
            k = min(k, n)
        return k

    def draw(self, uses: dict[str, float], chips: int) -> Generator:
        """Take the components of `chips` chips from every pool they use (may wait)."""
        for pool, per_chip in uses.items():
            amount = chips * per_chip
            if amount > 0:
                yield self.containers[pool].get(amount)
                self.used[pool] += amount


class Gate(Protocol):
    """A shipping policy: how many of `chips` chips of generation g may be built now."""

    review_h: float

    def allowed(self, g: int, chips: int) -> int:
        """Chips (0..chips) that may be built and shipped now."""
        ...


class ProductionLines:
    """Component: production lines of the chip generations, and orders placed during the run.

    Args:
        env: the SimPy environment.
        pools: the component pools (may hold no pools: supply is then the ramp alone).
        uses: per generation, units of each pool one chip consumes.
        ship: called as ship(generation, chips) when chips leave the supplier.
        arrive: called as arrive(generation, chips) when they are ready to install.
        integration_h: hours from shipment to arrival.
    """

    name = "supply.lines"

    def __init__(self, env: simpy.Environment, pools: ComponentPools,
                 uses: list[dict[str, float]], ship: Callable[[int, int], None],
                 arrive: Callable[[int, int], None], integration_h: float) -> None:
        self.env, self.pools, self.uses = env, pools, uses
        self._ship, self._arrive = ship, arrive
        self.integration_h = max(0.0, float(integration_h))
        self._chunk = [pools.chunk(u) for u in uses]
        n = len(uses)
        self._plan_t: list[np.ndarray] = [np.zeros(0)] * n   # planned batch hours, sorted
        self._plan_cum: list[np.ndarray] = [np.zeros(1, np.int64)] * n  # chips due by batch
        self._plan_shipped = np.zeros(n, np.int64)
        self._order_placed = np.zeros(n, np.int64)
        self._order_started = np.zeros(n, np.int64)
        self._order_shipped = np.zeros(n, np.int64)
        # Shipped less started, per generation: planned chips shipped + order chips shipped
        # - order chips started, so that chips awaiting are the planned chips due less this.
        self._net_shipped = np.zeros(n, np.int64)
        # Planned batches due by the last hour asked (time only moves on): per generation
        # the count of batch hours at or before it, and the chips they hold.
        self._due_hour = -np.inf
        self._due_count = [0] * n
        self._due_chips = np.zeros(n, np.int64)
        self._planned: dict[int, list[tuple[float, int]]] = {}
        self.gate: Gate | None = None
        self.held = np.zeros(n, bool)  # the line holds its due chips for lack of power

    def _due_planned(self) -> np.ndarray:
        """Planned chips whose batch time has come, per generation."""
        now = self.env.now
        if now != self._due_hour:
            for g, t in enumerate(self._plan_t):
                i = self._due_count[g]
                if i < t.size and t[i] <= now:
                    i = int(t.searchsorted(now, side="right"))
                    self._due_count[g] = i
                    self._due_chips[g] = self._plan_cum[g][i]
            self._due_hour = now
        return self._due_chips.copy()

    def due_planned_at(self, hours: np.ndarray) -> np.ndarray:
        """Planned chips due by each of `hours` (sorted), per generation: (len(hours), n)."""
        if not self._plan_t:
            return np.zeros((len(hours), 0), np.int64)
        return np.stack([cum[np.searchsorted(t, hours, side="right")]
                         for t, cum in zip(self._plan_t, self._plan_cum, strict=True)], axis=1)

    @property
    def net_shipped(self) -> np.ndarray:
        """Chips shipped less chips ordered and started, per generation (live array).

        Chips due and not yet shipped are the planned chips due less these.
        """
        return self._net_shipped

    @property
    def awaiting(self) -> np.ndarray:
        """Chips due and not yet shipped, per generation.

        Chips due (planned batches whose time has come, orders past their lead time) and
        not yet shipped, per generation: they wait for components or for the line.
        """
        return self._due_planned() - self._net_shipped

    @property
    def backlog(self) -> np.ndarray:
        """Chips due and not yet shipped, per generation, orders counted from placement.

        Chips due from the lines and not yet shipped, per generation, counting orders
        from the moment they are placed.
        """
        return (self._due_planned() - self._plan_shipped
                + self._order_placed - self._order_shipped)

    def plan(self, g: int, batches: list[tuple[float, int]] | tuple) -> None:
        """Generation g's planned batches (hour, chips), run in time order from the start."""
        batches = sorted(batches)
        self._plan_t[g] = np.array([t for t, _ in batches], float)
        cum = np.cumsum([n for _, n in batches], dtype=np.int64)
        self._plan_cum[g] = np.concatenate([np.zeros(1, np.int64), cum])
        self._due_hour, self._due_count[g], self._due_chips[g] = -np.inf, 0, 0
        self._planned[g] = batches

    def start(self, sim: Simulation) -> None:
        """Start each planned line, generation by generation."""
        for g in sorted(self._planned):
            sim.env.process(self._line(g, self._planned[g]))

    def order(self, g: int, chips: int, lead_h: float) -> None:
        """Extra chips of generation g ordered now; produced after the lead time."""
        self._order_placed[g] += chips
        self.env.process(self._order(g, chips, lead_h))

    def _line(self, g: int, batches: list[tuple[float, int]]) -> Generator:
        # A batch whose time comes while an earlier one still waits for components is
        # due (counted by `awaiting`) and starts as soon as the line is free.
        for t, n in batches:
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            yield from self._produce(g, n, self._plan_shipped)

    def _order(self, g: int, chips: int, lead_h: float) -> Generator:
        yield self.env.timeout(max(0.0, lead_h))
        self._order_started[g] += chips
        self._net_shipped[g] -= chips
        yield from self._produce(g, chips, self._order_shipped)

    def _produce(self, g: int, chips: int, shipped: np.ndarray) -> Generator:
        left = int(chips)
        while left > 0:
            k = min(left, self._chunk[g])
            if self.gate is not None:
                # A shipping policy may hold chips (not built yet: no components drawn)
                # until powered space is in sight; the line looks again after a while.
                k = self.gate.allowed(g, k)
                self.held[g] = k == 0
                if k == 0:
                    yield self.env.timeout(self.gate.review_h)
                    continue
            yield from self.pools.draw(self.uses[g], k)
            self._ship(g, k)
            shipped[g] += k
            self._net_shipped[g] += k
            if self.integration_h > 0:
                ev = self.env.timeout(self.integration_h)

                def arrived(_ev: simpy.Event, g: int = g, k: int = k) -> None:
                    self._arrive(g, k)

                ev.callbacks.append(arrived)
            else:
                self._arrive(g, k)
            left -= k
