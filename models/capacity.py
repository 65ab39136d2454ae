"""CapacityModel: wires supply, datacenters, fleet, orders, demand, surges and service.

One replication: production lines drawing on component pools, chip arrivals after
integration, building power-ons and capacity orders (`models.orders`) are SimPy processes
at their own times; surges and demand are drawn for every hour when the replication
starts; the daily step (`models.daily`, at midday) moves the fleet, records it and fires
investment tranches; after the run, every hour is served at once and `models.results`
turns the record into the daily series and the KPIs. Clouds that a scenario switches off
take no part (and draw nothing). KPI names follow the project's DESIGN.md.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from capsim.models import customers, finance, market, results, serving, tenants
from capsim.models.chips import shipments
from capsim.models.daily import (
    DailyLoop,
    DemandDays,
    ServiceTerms,
)
from capsim.models.datacenters import power_on_times
from capsim.models.demand import DemandModel
from capsim.models.fleet import STATES, Fleet
from capsim.models.orders import Orders
from capsim.models.posterior import posterior_draws
from capsim.models.procurement import PowerGate
from capsim.models.results import (  # noqa: F401  (the names other modules import from here)
    BINARY_KPIS,
    CLOUD_KPIS,
    HIGHER_IS_BETTER,
    KPIS,
    MILESTONE_CLOUD,
    MILESTONES,
    SERIES,
)
from capsim.models.scenario import Scenario
from capsim.models.supply import ComponentPools, ProductionLines
from capsim.models.surges import SurgeProcess
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import RunResult, Simulation
from capsim.simcore.streams import Streams
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY


def series_names(scenario: Scenario) -> list[str]:
    """Every daily series a run of `scenario` records (the fixed ones, then per group)."""
    gens = [n for n, g in scenario.supply.generations.items() if scenario.clouds[g.cloud].enabled]
    clouds = [n for n, c in scenario.clouds.items() if c.enabled]
    return (SERIES + [f"chips_{st}__{g}" for g in gens for st in STATES]
            + [f"compute_tps__{g}" for g in gens]
            + [f"pool_stock__{p}" for p in scenario.supply.pools]
            + [f"{m}__{c}" for c in clouds
               for m in ("energized_mw", "occupied_mw", "compute_tps", "spend_daily_usd")])


class CapacityModel:
    """The AI-capacity model for one scenario (see simcore.simulation.Model)."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
        # With a posterior, each replication draws its inputs from it (own named stream).
        self._draws = posterior_draws(scenario)

    # -- build --------------------------------------------------------------------
    def build(self, streams: Streams) -> Simulation:
        """Draw this replication's parameters and create its processes."""
        if self._draws is not None:
            self.sc = self._draws.scenario(streams.rng("posterior"))
        sc, clock = self.sc, self.clock
        sim = Simulation(clock, streams)
        self.clouds = [n for n, c in sc.clouds.items() if c.enabled]
        cloud_ix = {n: i for i, n in enumerate(self.clouds)}
        gens = {n: g for n, g in sc.supply.generations.items() if g.cloud in cloud_ix}
        self.gen_names = list(gens)
        rng_fleet = streams.rng("fleet")
        pue = float(sc.datacenters.pue.sample(streams.rng("datacenters.pue")))
        overhead = float(sc.fleet.server_overhead.sample(rng_fleet))
        mtbf = float(sc.fleet.mtbf_hours.sample(rng_fleet))
        repair_h = float(sc.fleet.repair_hours.sample(rng_fleet))
        life_days = float(sc.fleet.useful_life_years.sample(rng_fleet)) * DAYS_PER_YEAR
        integration_d = float(sc.fleet.integration_days.sample(streams.rng("fleet.integration")))
        kw, tps, fp8, uses = [], [], [], []
        # Replicas' batch curves (models/serving.py): the operating batch scales tokens_per_s.
        curves = serving.draw_curves(gens, streams)
        for name, g, curve in zip(gens, gens.values(), curves, strict=True):
            rng = streams.rng(f"chips.{name}.spec")
            kw.append(float(g.chip_power_w.sample(rng)) * overhead * pue / 1000.0)
            tps.append(float(g.tokens_per_s.sample(rng)) * curve.throughput_factor)
            fp8.append(float(g.fp8_tflops.sample(rng)) if g.fp8_tflops is not None else 0.0)
            uses.append({p: float(u.sample(rng)) for p, u in g.uses.items()})
        self.fp8_eflops_per_chip = np.array(fp8) / 1e6
        self.pue = pue
        fail_rngs = [streams.rng(f"fleet.failures.{name}") for name in self.gen_names]
        self.fleet = Fleet(self.gen_names, np.array(kw), np.array(tps), mtbf,
                           int(np.ceil(repair_h / HOURS_PER_DAY)), life_days, clock.days, fail_rngs,
                           np.array([g.chips_per_rack for g in gens.values()]),
                           np.array([cloud_ix[g.cloud] for g in gens.values()]), len(self.clouds))
        self.gen_cloud = self.fleet.cloud

        # Datacenters: energized buildings at the start, processes for the rest.
        self.power_ons: list[tuple[float, float, int, str]] = []
        for name, campus in sc.datacenters.campuses.items():
            if campus.cloud not in cloud_ix:
                continue
            c = cloud_ix[campus.cloud]
            mw, times = power_on_times(campus, clock, streams.rng(f"datacenters.{name}"),
                                       sc.datacenters.power_on_delay_days)
            self.fleet.energize(campus.energized_at_start * mw, c)
            self.power_ons += [(float(t), mw, c, name) for t in times]
        # -- tenants (models.tenants): other tenants take part of the new power.
        rivals = [tenants.draw(n, t, cloud_ix[t.cloud], clock.hours, streams.rng(f"tenants.{n}"))
                  for n, t in sc.tenants.items() if t.enabled and t.cloud in cloud_ix]
        self.power_ons, self.tenant_takes = tenants.carve(self.power_ons, rivals)
        # -- end tenants
        # Chips: the installed base at the start, then planned batches per production line.
        self.pools = ComponentPools(sim.env, sc.supply.pools,
                                    lambda p: streams.rng(f"supply.pools.{p}"), clock.horizon)
        self.lines = ProductionLines(
            sim.env, self.pools, uses,
            self.fleet.ship, self.fleet.arrive, integration_d * HOURS_PER_DAY)
        self.shipments: list[tuple[float, int, int]] = []  # planned (hour, generation, chips)
        self.installed_base = 0
        for gi, (name, g) in enumerate(gens.items()):
            rng = streams.rng(f"chips.{name}")
            n0 = int(round(max(0.0, float(g.installed_at_start.sample(rng)))))
            self.installed_base += n0
            if n0:
                # Install dates from their own stream: the installed base's size does not
                # move the draws of the share, slip and ramp below.
                spread = g.install_spread_years * DAYS_PER_YEAR
                ages = streams.rng(f"chips.{name}.install").uniform(0, spread, n0) if spread \
                    else np.zeros(n0)
                self.fleet.install_existing(gi, n0, -ages)
            batches = [(s.t, s.chips)
                       for s in shipments(g, clock, rng, sc.supply.delivery_delay_days)]
            self.shipments += [(t, gi, n) for t, n in batches]
            self.lines.start_line(gi, batches)
        # Installed base beyond the powered space at the start waits like any other chip.
        self.fleet.evict_over_capacity()

        self.demand = DemandModel(sc.demand, clock, streams.rng("demand"),
                                  customers.size_classes(sc))
        launch_h = [clock.hours(d) for d in sc.surges.launches]
        self.surges = SurgeProcess(sc.surges, launch_h, streams.rng("surges.random"),
                                   streams.rng("surges.launch"))
        svc, svc_rng = sc.service, streams.rng("service")
        self.serving_share = float(np.clip(svc.serving_share.sample(svc_rng), 0, 1))
        self.flex_share = float(np.clip(svc.training_flex_share.sample(svc_rng), 0, 1))
        self.flex_target = float(svc.flex_target_utilization.sample(svc_rng))
        self.replicas = serving.ReplicaSpec(
            curves, pools=max(1.0, float(svc.pools.sample(svc_rng))),
            tokens_per_request=float(svc.tokens_per_request.sample(svc_rng)),
            output_share=float(svc.output_share.sample(svc_rng)),
            scv=max(0.0, float(svc.service_scv.sample(svc_rng))),
            slo_p99_wait_s=float(svc.slo_p99_wait_s.sample(svc_rng)))
        self._build_finance(streams)
        # -- market (models.market): price from cost per token, price response, ceiling.
        self.market: market.MarketPath | None = None
        if sc.market is not None and sc.market.enabled:
            f, mk = self.fleet, sc.market
            ci = self.clouds.index(mk.cost_cloud) if mk.cost_cloud in self.clouds else 0
            sh = np.array(self.shipments, float).reshape(-1, 3)
            self.market = market.for_replication(
                mk, int(clock.hours(mk.start) // HOURS_PER_DAY), streams.rng("market"),
                self.demand, price_decline=self.price_decline, ship_day=sh[:, 0] / HOURS_PER_DAY,
                ship_gen=sh[:, 1], ship_chips=sh[:, 2],
                base_chips=(f.in_transit + f.waiting + f.installed + f.failed).astype(float),
                it_kw=f.kw / pue, tps=f.tps, life_days=life_days,
                usd_per_mw_it_year=float(self.cloud_price[ci]), serving_share=self.serving_share)
            self.demand.ent_growth = self.demand.ent_growth * self.market.volume_factor
            self.demand.con_growth = self.demand.con_growth * self.market.volume_factor
        # -- end market
        self.orders = Orders(sc, clock, streams, self.fleet, self.lines, self.clouds,
                             self.gen_names)
        self.orders.forecast_gap = self._forecast_gap_mw
        orders = self.orders
        self.gate: PowerGate | None = None
        if sc.procurement.shipping == "power_aware":
            pr = sc.procurement
            self.gate = PowerGate(
                self.fleet, lambda: sim.env.now, [(t, m, c) for t, m, c, _ in self.power_ons],
                orders.buildings, integration_d * HOURS_PER_DAY,
                pr.power_lead_days * HOURS_PER_DAY, pr.hold_review_days * HOURS_PER_DAY,
                orders.build_lead_h,
                lambda mw, c: orders.buildings_for(sim, mw, c, "held chips"),
                orders.max_order_mw_year, lambda: self.lines.awaiting,
                pr.early_retirement_ratio,
                lambda gen, text, n: sim.events.log(sim.env.now, "early_retirement", text,
                                                    subject=gen, amount=n, unit="chips"),
                clock.hours(pr.power_aware_from or sc.scenario.start))
            self.lines.gate = self.gate
        sim.add(_Process("datacenters", self._datacenters))
        self.loop = self._build_loop(sim)
        sim.add(self.loop)
        sim.add(orders)
        return sim

    def _build_loop(self, sim: Simulation) -> DailyLoop:
        """The daily step, with every hour's demand and the terms of service and money.

        Surges are drawn first: they depend on nothing else in the model.
        """
        days, dem = self.clock.days, self.demand
        self.surges.start(sim)
        ent, con = self.surges.multipliers(days)
        committed, on_demand, consumer, batch = dem.hourly_all(ent, con)
        n_comm, n_od = dem.active_all()
        cust = customers.for_replication(self.sc, self.clock, dem, ent, sim.streams)
        self.demand_days = DemandDays(committed, on_demand, consumer, batch,
                                      np.maximum(ent.max(axis=1), con.max(axis=1)), n_comm, n_od,
                                      cust, dem, ent, con)
        self.h_demand = self.demand_days.total
        prices = np.array([dem.price_usd_per_mtok, dem.price_usd_per_mtok,
                           dem.consumer_price_usd_per_mtok,
                           dem.price_usd_per_mtok * (1 - dem.batch_discount)])
        self.terms = ServiceTerms(self.serving_share, self.flex_share, self.flex_target, prices,
                                  self.price_decline, dem.cloud_share,
                                  None if self.market is None else self.market.price_factor)
        it_price = self.cloud_price / self.pue / 1000.0 / DAYS_PER_YEAR  # $ per kW-day

        def tranche(tr: finance.Tranche) -> None:
            sim.events.log(sim.env.now, "tranche", f"{tr.name}: ${tr.amount_usd / 1e9:.2f}B",
                           subject=tr.name, amount=tr.amount_usd, unit="USD")
            self.orders.capacity(sim, tr.amount_usd * tr.capacity_share / self.capex_per_mw,
                                 f"tranche {tr.name}")

        return DailyLoop(self.clock, self.fleet, self.lines, list(self.pools.containers.values()),
                         self.demand_days, self.terms, dem.efficiency_per_year, it_price,
                         self.fp8_eflops_per_chip, self.tranches, tranche,
                         lambda: (self.orders.ordered_mw, self.orders.power_ordered_mw))

    def _build_finance(self, streams: Streams) -> None:
        sc = self.sc
        rng = streams.rng("finance.prices")
        self.price_decline = float(sc.demand.price_decline_per_year.sample(rng))
        self.cloud_price = np.zeros(len(self.clouds))
        self.commitments: list[tuple[float, dt.date, float]] = []
        for i, name in enumerate(self.clouds):
            c = sc.clouds[name]
            rng = streams.rng(f"clouds.{name}")
            self.cloud_price[i] = float(c.price_usd_per_mw_it_year.sample(rng))
            self.commitments.append((float(c.commitment_usd.sample(rng)), c.commitment_start,
                                     c.commitment_years))
        rng = streams.rng("finance.tranches")
        self.capex_per_mw = float(sc.finance.capex_usd_per_mw.sample(rng))
        items = []
        for name, t in sc.finance.tranches.items():
            items.append(finance.Tranche(name, float(t.amount_usd.sample(rng)),
                                         float(t.milestone_run_rate_usd.sample(rng)),
                                         float(np.clip(t.capacity_share.sample(rng), 0, 1))))
        self.tranches = finance.Tranches(items)
        share = sc.finance.spend_share_of_revenue  # what revenue can carry (own stream)
        self.spend_share = (None if share is None
                            else float(share.sample(streams.rng("finance.means"))))

    # -- processes ----------------------------------------------------------------
    def _datacenters(self, sim: Simulation):
        for t, mw, c, name in sorted(self.power_ons):
            if t >= sim.clock.horizon:
                return
            if t > sim.env.now:
                yield sim.env.timeout(t - sim.env.now)
            self.fleet.energize(mw, c)
            sim.events.log(t, "power_on", f"{name} +{mw:.1f} MW", subject=name, amount=mw,
                           unit="MW facility")

    def _forecast_gap_mw(self, now_h: float, day: int, ahead: int, g: int | None) -> float:
        """Facility MW of generation g still to order for the forecast peak at day `ahead`.

        Facility MW of generation g that the forecast peak at day `ahead` needs beyond
        what chips and buildings already in the pipeline give by then.
        """
        if g is None:
            return 0.0
        f, dem = self.fleet, self.demand
        lo = max(0, day - 28)
        peak = float(self.h_demand[lo:day].max()) if day > lo else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            trend = dem.ent_growth[ahead] / dem.ent_growth[day]
        want = peak * trend * self.orders.headroom
        if not want > 0:  # no demand (0 x an undefined trend included): nothing to order
            return 0.0
        # Chips: shipped and not retired; chips due from the lines (planned batches whose
        # time has come, and orders, not yet shipped); planned batches due by then.
        chips = (f.in_transit + f.waiting + f.installed + f.failed
                 + self.lines.backlog).astype(float)
        until = ahead * HOURS_PER_DAY
        for t, gi, n in self.shipments:
            if now_h < t <= until:
                chips[gi] += n
        # Power: energized, plus planned and ordered buildings powering on by then.
        mw = f.energized.copy()
        for t, m, c, _ in self.power_ons:
            if now_h < t <= until:
                mw[c] += m
        for t, m, c in self.orders.buildings:
            if now_h < t <= until:
                mw[c] += m
        tps = 0.0
        free = mw * 1000.0
        for gi in f._order:  # best tokens per MW first, as placement does
            c = f.cloud[gi]
            n = min(chips[gi], max(0.0, free[c]) / f.kw[gi])
            free[c] -= n * f.kw[gi]
            tps += n * f.tps[gi]
        eff = self.demand.efficiency_per_year ** (ahead / DAYS_PER_YEAR)
        serve = self.serving_share + self.flex_share * (1 - self.serving_share)
        have = tps * eff * serve
        if want <= have:
            return 0.0
        per_mw = f.tps[g] / f.kw[g] * 1000.0 * eff * serve
        return (want - have) / per_mw

    # -- results ------------------------------------------------------------------
    def collect(self, sim: Simulation) -> RunResult:
        """Daily series and KPIs of the finished replication (see `capsim.models.results`)."""
        return results.collect(self, sim)


class _Process:
    """A named component that runs one generator function."""

    def __init__(self, name: str, fn) -> None:
        self.name = name
        self._fn = fn

    def start(self, sim: Simulation) -> None:
        sim.env.process(self._fn(sim))
