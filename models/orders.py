"""Capacity orders placed during a run: chips with their buildings, and buildings alone.

Three things order capacity: investment tranches (a share of each tranche buys chips and
buildings), the forecast procurement policy (``procurement.policy = "forecast"``: every
review, order what the forecast peak demand at the lead-time horizon needs beyond the
capacity already in the pipeline), and power-aware shipping (buildings for chips it
holds, see `capsim.models.procurement`). `Orders` owns what was ordered, places the orders
and, under the forecast policy, runs the review process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from capsim.models.finance import Tranche
from capsim.models.fleet import Fleet
from capsim.models.outcomes import stress_start_h
from capsim.models.scenario import Scenario
from capsim.models.supply import ProductionLines
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import Simulation
from capsim.simcore.streams import Streams
from capsim.simcore.units import HOURS_PER_DAY, HOURS_PER_YEAR


@dataclass(frozen=True)
class OrdersDraw:
    """One replication's ordering: lead times, headroom, the most MW a year."""

    order_lead_h: float
    build_lead_h: float
    headroom: float
    max_order_mw_year: float

    @classmethod
    def draw(cls, pr, streams: Streams) -> OrdersDraw:
        """From the stream "procurement", in field order."""
        rng = streams.rng("procurement")
        order_lead = max(0.0, float(pr.order_lead_time_days.sample(rng))) * HOURS_PER_DAY
        build_lead = max(0.0, float(pr.build_lead_time_days.sample(rng))) * HOURS_PER_DAY
        return cls(order_lead, build_lead, float(pr.headroom.sample(rng)),
                   float(pr.max_order_mw_per_year.sample(rng)))


class Orders:
    """Component: capacity orders and the forecast procurement policy.

    Args:
        sc: the scenario (procurement settings, generations).
        clock: the run's clock.
        drawn: the replication's lead times and limits (`OrdersDraw`).
        fleet: the fleet that receives chips and buildings.
        lines: the production lines that build ordered chips.
        clouds: names of the enabled clouds, in fleet order.
        gen_names: names of the generations, in fleet order.
        capex_per_mw: $ per facility MW that a tranche's capacity share buys.
    """

    name = "procurement"

    def __init__(self, sc: Scenario, clock: Clock, drawn: OrdersDraw, fleet: Fleet,
                 lines: ProductionLines, clouds: list[str], gen_names: list[str],
                 capex_per_mw: float = float("nan")) -> None:
        self.sc, self.clock, self.fleet, self.lines = sc, clock, fleet, lines
        self.clouds, self.gen_names = clouds, gen_names
        pr = sc.procurement
        self.order_lead_h, self.build_lead_h = drawn.order_lead_h, drawn.build_lead_h
        self.headroom, self.max_order_mw_year = drawn.headroom, drawn.max_order_mw_year
        self.capex_per_mw = capex_per_mw
        self.order_cloud = clouds.index(pr.cloud) if pr.cloud in clouds else None
        self.ordered_mw = 0.0        # facility MW of chips ordered with their buildings
        self.ordered_chips = 0
        self.power_ordered_mw = 0.0  # buildings ordered for held chips (power-aware)
        self._forecast: list[tuple[float, float]] = []  # (hour, MW) of forecast-policy orders
        # Ordered buildings not yet powered on: (power-on hour, MW, cloud), any source.
        self.buildings: list[tuple[float, float, int]] = []
        self.forecast_gap: Callable[[float, int, int, int | None], float] | None = None

    def start(self, sim: Simulation) -> None:
        """Under the forecast policy, start the review process."""
        self.sim = sim
        if self.sc.procurement.policy == "forecast":
            if self.forecast_gap is None:
                raise ValueError("the forecast policy needs forecast_gap set before the run")
            sim.env.process(self._review(sim))

    def generation(self, now_h: float) -> int | None:
        """The newest generation of the ordering cloud that is available now."""
        if self.order_cloud is None:
            return None
        today = self.clock.date(now_h)
        gens = self.sc.supply.generations
        best = None
        for gi, name in enumerate(self.gen_names):
            g = gens[name]
            if self.fleet.cloud[gi] == self.order_cloud and g.available <= today:
                if best is None or g.available >= gens[self.gen_names[best]].available:
                    best = gi
        return best

    def fund(self, tranche: Tranche) -> None:
        """A tranche fired: its capacity share buys chips and buildings (at `capex_per_mw`)."""
        sim, tr = self.sim, tranche
        sim.events.log(sim.env.now, "tranche", f"{tr.name}: ${tr.amount_usd / 1e9:.2f}B",
                       subject=tr.name, amount=tr.amount_usd, unit="USD")
        self.capacity(sim, tr.amount_usd * tr.capacity_share / self.capex_per_mw,
                      f"tranche {tr.name}")

    def order_power(self, mw: float, cloud: int) -> None:
        """Buildings for chips that power-aware shipping holds (during the run)."""
        self.buildings_for(self.sim, mw, cloud, "held chips")

    def buildings_for(self, sim: Simulation, mw: float, cloud: int, why: str) -> None:
        """Order `mw` facility MW of buildings for `cloud`; they power on after the lead."""
        f = self.fleet
        done = sim.env.timeout(self.build_lead_h)
        done.callbacks.append(lambda _e: f.energize(mw, cloud))
        self.buildings.append((sim.env.now + self.build_lead_h, mw, cloud))
        self.power_ordered_mw += mw
        sim.events.log(sim.env.now, "power_order", f"{why}: {mw:.1f} MW of buildings",
                       subject=self.clouds[cloud], amount=mw, unit="MW facility")

    def capacity(self, sim: Simulation, mw: float, why: str) -> float:
        """Order `mw` facility MW of chips and buildings.

        Whole racks of the newest chips (through the supply lead time and the component
        pools) and buildings of that size (after the build lead time). Returns the MW
        ordered (0 when nothing can be ordered).
        """
        g = self.generation(sim.env.now)
        if g is None or not mw > 0:  # nothing, or an undefined amount: no order
            return 0.0
        f = self.fleet
        racks = int(mw * 1000.0 // (f.kw[g] * f.rack[g]))
        if racks <= 0:
            return 0.0
        chips = racks * int(f.rack[g])
        mw_ordered = chips * f.kw[g] / 1000.0
        self.lines.order(g, chips, self.order_lead_h)
        cloud = int(f.cloud[g])
        done = sim.env.timeout(self.build_lead_h)
        done.callbacks.append(lambda _e: f.energize(mw_ordered, cloud))
        self.buildings.append((sim.env.now + self.build_lead_h, mw_ordered, cloud))
        self.ordered_mw += mw_ordered
        self.ordered_chips += chips
        sim.events.log(sim.env.now, "order", f"{why}: {chips} {self.gen_names[g]} chips and "
                       f"{mw_ordered:.1f} MW of buildings", subject=self.gen_names[g],
                       amount=mw_ordered, unit="MW facility")
        return mw_ordered

    def _review(self, sim: Simulation):
        """The forecast policy's reviews, every `procurement.review_every_days`.

        The first comes after the first daily step of the evaluation window (the
        announcement): the history before it orders nothing, so that it stays the same
        under every stress (a review looks ahead at the demand trend).
        """
        env, clock = sim.env, self.clock
        assert self.forecast_gap is not None
        every_h = self.sc.procurement.review_every_days * HOURS_PER_DAY
        lead_h = max(self.order_lead_h, self.build_lead_h)
        yield env.timeout(stress_start_h(self.sc, clock) + HOURS_PER_DAY)
        while True:
            day = int(env.now // HOURS_PER_DAY)
            ahead = min(clock.days - 1, day + max(1, int(np.ceil(lead_h / HOURS_PER_DAY))))
            if ahead > day:
                g = self.generation(env.now)
                mw = self.forecast_gap(env.now, day, ahead, g)
                recent = sum(m for t, m in self._forecast
                             if t > env.now - HOURS_PER_YEAR)
                mw = min(mw, max(0.0, self.max_order_mw_year - recent))
                got = self.capacity(sim, mw, "forecast shortfall")
                if got > 0:
                    self._forecast.append((env.now, got))
            yield env.timeout(every_h)
