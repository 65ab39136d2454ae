"""CapacityModel: assembles one replication from its components, and nothing else.

Each component draws its frozen parameters from its own named streams (`draw`), is built
from those values (constructors never sample) and starts its own SimPy processes: the
component pools' suppliers and the production lines (chip deliveries), the datacenters
(power-on), the surges, the daily step and the orders. After the run every hour is served
at once and the components' records become the daily series and the KPIs
(`models.results`). Clouds that a scenario switches off take no part (and draw nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models import chips, customers, finance, market, reporters, serving, surges
from capsim.models.daily import DailyLoop
from capsim.models.datacenters import DatacenterDraw, Datacenters
from capsim.models.days import DemandDays, ServiceTerms
from capsim.models.demand import DemandModel
from capsim.models.fleet import STATES, Fleet, FleetDraw
from capsim.models.forecast import ForecastGap
from capsim.models.ledger import CustomerReviews, ServiceLedger, TrancheWatch
from capsim.models.orders import Orders, OrdersDraw
from capsim.models.outcomes import stress_start_h
from capsim.models.posterior import posterior_draws
from capsim.models.procurement import GateTerms, PowerGate
from capsim.models.record import FleetRecord
from capsim.models.results import (  # noqa: F401  (the names other modules import from here)
    BINARY_KPIS,
    CLOUD_KPIS,
    CLOUD_SERIES,
    HIGHER_IS_BETTER,
    KPIS,
    MILESTONES,
    SERIES,
)
from capsim.models.scenario import Generation, Scenario
from capsim.models.supply import ComponentPools, ProductionLines, draw_pools
from capsim.models.surges import SurgeProcess
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import RunResult, Simulation
from capsim.simcore.streams import Streams
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY


@dataclass(frozen=True)
class Layout:
    """The clouds a scenario switches on and their chip generations, in model order."""

    clouds: list[str]
    generations: dict[str, Generation]

    @classmethod
    def of(cls, sc: Scenario) -> Layout:
        """The enabled clouds, and the generations that go into them."""
        clouds = [n for n, c in sc.clouds.items() if c.enabled]
        return cls(clouds, {n: g for n, g in sc.supply.generations.items() if g.cloud in clouds})

    @property
    def gen_names(self) -> list[str]:
        """Generation names in model order."""
        return list(self.generations)


def series_names(scenario: Scenario) -> list[str]:
    """Every daily series a run of `scenario` records (the fixed ones, then per group)."""
    lay = Layout.of(scenario)
    return (SERIES + [f"chips_{st}__{g}" for g in lay.generations for st in STATES]
            + [f"compute_tps__{g}" for g in lay.generations]
            + [f"pool_stock__{p}" for p in scenario.supply.pools]
            + [f"{m}__{c}" for c in lay.clouds
               for m in CLOUD_SERIES]
            + [f"energized_it_mw__{n}" for n, campus in scenario.datacenters.campuses.items()
               if campus.cloud in lay.clouds])


class CapacityModel:
    """The AI-capacity model for one scenario (see simcore.simulation.Model)."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
        # With a posterior, each replication draws its inputs from it (own named stream).
        self._draws = posterior_draws(scenario)

    def build(self, streams: Streams) -> Simulation:
        """Draw this replication's components, wire them and add them to a Simulation."""
        if self._draws is not None:
            self.sc = self._draws.scenario(streams.rng("posterior"))
        sc, clock, sim = self.sc, self.clock, Simulation(self.clock, streams)
        lay = Layout.of(sc)
        self.clouds, self.gen_names = lay.clouds, lay.gen_names
        self._supply(sc, lay, sim)
        self._demand(sc, sim)
        self.orders = Orders(sc, clock, OrdersDraw.draw(sc.procurement, streams), self.fleet,
                             self.lines, self.clouds, self.gen_names, self.money.capex_per_mw)
        self.orders.forecast_gap = ForecastGap(
            self.fleet, self.lines, self.demand, self.demand_days.total, self.shipments,
            self.datacenters.planned, self.orders.buildings, self.orders.headroom, self.svc.usable)
        self.gate = self.lines.gate = (PowerGate(
            self.fleet, sim.env, self.datacenters.planned,
            GateTerms.of(sc, clock, self.integration_h), self.orders, self.lines, sim.events)
            if sc.procurement.shipping == "power_aware" else None)
        self.loop = self._daily()
        # Processes start in this order (it orders events at the same instant).
        for part in (self.pools, self.lines, self.datacenters, self.surges, self.loop,
                     self.orders):
            sim.add(part)
        return sim

    def _supply(self, sc: Scenario, lay: Layout, sim: Simulation) -> None:
        """Datacenters, the fleet and its installed base, the pools and production lines."""
        streams, clock = sim.streams, self.clock
        dc = DatacenterDraw.draw(sc, lay.clouds, clock, streams)
        fd = FleetDraw.draw(sc.fleet, streams)
        self.curves = serving.draw_curves(lay.generations, streams)
        spec = chips.draw_specs(lay.generations, [c.throughput_factor for c in self.curves],
                                fd.server_overhead, dc.pue, streams)
        self.pue, self.life_days, self.fp8_eflops_per_chip = dc.pue, fd.life_days, spec.fp8_eflops
        gens = lay.generations.values()
        self.fleet = Fleet(self.gen_names, spec.kw, spec.tps, fd.mtbf_hours,
                           int(np.ceil(fd.repair_hours / HOURS_PER_DAY)), fd.life_days,
                           clock.days, [streams.rng(f"fleet.failures.{n}") for n in lay.gen_names],
                           np.array([g.chips_per_rack for g in gens]),
                           np.array([lay.clouds.index(g.cloud) for g in gens]), len(lay.clouds))
        self.datacenters = Datacenters(dc, self.fleet)
        self.tenant_takes = dc.tenant_takes
        self.pools = ComponentPools(sim.env, draw_pools(sc.supply.pools, streams),
                                    {n: p.unit for n, p in sc.supply.pools.items()}, clock.horizon)
        self.integration_h = fd.integration_days * HOURS_PER_DAY
        self.lines = ProductionLines(sim.env, self.pools, list(spec.uses), self.fleet.ship,
                                     self.fleet.arrive, self.integration_h)
        dl = chips.draw_deliveries(lay.generations, clock, sc.supply.delivery_delay_days, streams,
                                   stress_start_h(sc, clock))
        for gi in range(len(lay.generations)):
            if dl.installed[gi]:
                self.fleet.install_existing(gi, dl.installed[gi], dl.install_days[gi])
            self.lines.plan(gi, dl.batches[gi])
        self.installed_base, self.shipments = sum(dl.installed), dl.planned()
        # Installed base beyond the powered space at the start waits like any other chip.
        self.fleet.evict_over_capacity()

    def _demand(self, sc: Scenario, sim: Simulation) -> None:
        """Demand and surges, the terms of service, the money and the market."""
        streams, clock = sim.streams, self.clock
        stress_h = stress_start_h(sc, clock)
        self.demand = DemandModel.draw(sc.demand, clock, streams.rng("demand"),
                                       customers.size_classes(sc),
                                       int(stress_h // HOURS_PER_DAY),
                                       streams.rng("demand.growth"))
        launch_h = [clock.hours(d) for d in sc.surges.launches]
        self.surges = SurgeProcess(surges.draw(sc.surges, launch_h, clock.horizon, streams,
                                               stress_h).schedule)
        self.svc = serving.ServiceDraw.draw(sc.service, self.curves, streams)
        self.serving_share, self.replicas = self.svc.serving_share, self.svc.replicas
        self.money = finance.FinanceDraw.draw(sc, self.clouds, streams)
        self.tranches = self.money.new_tranches()
        self.commitments, self.spend_share = self.money.commitments, self.money.spend_share
        self.market = market.for_model(sc, clock, streams, self.demand, self.fleet,
                                       self.shipments, self.money, self.clouds, self.pue,
                                       self.life_days, self.serving_share)
        if self.market is not None:
            self.demand.scale_volume(self.market.volume_factor)
        self.demand_days = DemandDays.drawn(sc, clock, self.demand, self.surges, streams)

    def _daily(self) -> DailyLoop:
        """The daily step: the fleet's record, the days' service, tranches and reviews."""
        dem, money = self.demand, self.money
        self.terms = ServiceTerms.of(self.svc, dem, money.price_decline, self.market)
        it_price = money.cloud_price / self.pue / 1000.0 / DAYS_PER_YEAR  # $ per kW-day
        self.ledger = ServiceLedger(self.clock.days, self.demand_days, self.terms, FleetRecord(
            self.clock.days, self.fleet, self.lines, list(self.pools.containers.values()),
            dem.efficiency_per_year, it_price, self.fp8_eflops_per_chip, self.orders))
        return DailyLoop(self.fleet, self.ledger.record,
                         TrancheWatch(self.ledger, self.tranches, self.orders),
                         CustomerReviews(self.ledger))

    def collect(self, sim: Simulation) -> RunResult:
        """Daily series and KPIs of the finished replication (see `capsim.models.reporters`)."""
        return reporters.collect(self, sim)
