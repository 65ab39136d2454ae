"""CapacityModel: wires supply, datacenters, fleet, demand, surges and service; defines KPIs.

One replication: chip shipments and building power-ons are SimPy processes at their own
times; a daily tick (at midday) steps the fleet, evaluates 24 hourly service slots and
records the day's metrics. KPI names follow docs/DESIGN.md.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from models import finance
from models.chips import shipments
from models.datacenters import power_on_times
from models.demand import DemandModel
from models.fleet import Fleet
from models.scenario import Scenario
from models.service import QueueSpec, allocate, latencies, serving_capacity, slo_met
from models.surges import SurgeProcess
from simcore.clock import HOURS_PER_DAY, Clock
from simcore.probes import DailySeries
from simcore.simulation import RunResult, Simulation
from simcore.streams import Streams

SERIES = [
    "demand_tps", "peak_demand_tps", "capacity_tps", "served_tps", "unserved_tps",
    "unserved_committed_tps", "unserved_on_demand_tps", "unserved_consumer_tps",
    "unserved_batch_tps", "peak_utilization", "slo_hours", "p50_latency_s", "p99_latency_s",
    "surge_multiplier",
    "energized_mw", "occupied_mw",
    "chips_delivered", "chips_waiting", "chips_installed", "chips_failed", "chips_retired",
    "customers_active", "customers_throttled",
]
"""Daily series: tokens/s are daily means unless named peak; MW are facility MW."""

KPIS = [
    "p_shortfall_any", "unserved_fraction", "slo_attainment", "first_adequate_date",
    "stranded_chip_months", "aws_spend_10y_usd", "customers_throttled_peak", "p99_latency_s",
]
MILESTONES = ["trainium_gw_2026_12_31"]
BINARY_KPIS = {"p_shortfall_any"}
DAYS_PER_MONTH = 365.25 / 12


class CapacityModel:
    """The AI-capacity model for one scenario (see simcore.simulation.Model)."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.clock = Clock.between(scenario.scenario.start, scenario.scenario.end)

    # -- build --------------------------------------------------------------------
    def build(self, streams: Streams) -> Simulation:
        """Draw this replication's parameters and create its processes."""
        sc, clock = self.sc, self.clock
        sim = Simulation(clock, streams)
        gens = list(sc.supply.generations)
        rng_fleet = streams.rng("fleet")
        pue = float(sc.datacenters.pue.sample(streams.rng("datacenters.pue")))
        overhead = float(sc.fleet.server_overhead.sample(rng_fleet))
        mtbf = float(sc.fleet.mtbf_hours.sample(rng_fleet))
        repair_h = float(sc.fleet.repair_hours.sample(rng_fleet))
        life_days = float(sc.fleet.useful_life_years.sample(rng_fleet)) * 365.25
        kw, tps = [], []
        for name, g in sc.supply.generations.items():
            rng = streams.rng(f"chips.{name}.spec")
            kw.append(float(g.chip_power_w.sample(rng)) * overhead * pue / 1000.0)
            tps.append(float(g.tokens_per_s.sample(rng)))
        self.pue = pue
        self.tco = float(sc.finance.tco_usd_per_mw_it_year.sample(streams.rng("finance")))
        self.fleet = Fleet(gens, np.array(kw), np.array(tps), mtbf,
                           int(np.ceil(repair_h / 24)), life_days, clock.days, rng_fleet,
                           np.array([g.chips_per_rack for g in sc.supply.generations.values()]))

        # Datacenters: energized buildings at the start, processes for the rest.
        self.power_ons: list[tuple[float, float, str]] = []
        for name, campus in sc.datacenters.campuses.items():
            mw, times = power_on_times(campus, clock, streams.rng(f"datacenters.{name}"),
                                       sc.datacenters.power_on_delay_days)
            self.fleet.energize(campus.energized_at_start * mw)
            self.power_ons += [(float(t), mw, name) for t in times]
        # Chips: the installed base at the start, then shipments.
        self.shipments: list[tuple[float, int, int]] = []
        for gi, (name, g) in enumerate(sc.supply.generations.items()):
            rng = streams.rng(f"chips.{name}")
            n0 = int(round(max(0.0, float(g.installed_at_start.sample(rng)))))
            if n0:
                spread = g.install_spread_years * 365.25
                self.fleet.install_existing(gi, n0, -rng.uniform(0, spread, n0) if spread else
                                            np.zeros(n0))
            for s in shipments(g, clock, rng, sc.supply.delivery_delay_days):
                self.shipments.append((s.t, gi, s.chips))
        # Installed base beyond the powered space at the start waits like any other chip.
        self._evict_over_capacity()

        self.demand = DemandModel(sc.demand, clock, streams.rng("demand"))
        launch_h = [clock.hours(d) for d in sc.surges.launches]
        self.surges = SurgeProcess(sc.surges, launch_h, streams.rng("surges.random"),
                                   streams.rng("surges.launch"))
        svc, svc_rng = sc.service, streams.rng("service")
        self.serving_share = float(np.clip(svc.serving_share.sample(svc_rng), 0, 1))
        self.flex_share = float(np.clip(svc.training_flex_share.sample(svc_rng), 0, 1))
        self.flex_target = float(svc.flex_target_utilization.sample(svc_rng))
        self.queue = QueueSpec(
            pools=max(1.0, float(svc.pools.sample(svc_rng))),
            slot_tps=float(svc.slot_tokens_per_s.sample(svc_rng)),
            tokens_per_request=float(svc.tokens_per_request.sample(svc_rng)),
            scv=max(0.0, float(svc.service_scv.sample(svc_rng))),
            slo_p99_wait_s=float(svc.slo_p99_wait_s.sample(svc_rng)))
        self.series = DailySeries(SERIES, clock.days)
        # Hourly serving capacity and utilization, for the queueing step in collect().
        self.h_cap = np.zeros((clock.days, 24))
        self.h_util = np.zeros((clock.days, 24))
        sim.add(self.surges)
        sim.add(_Process("supply", self._supply))
        sim.add(_Process("datacenters", self._datacenters))
        sim.add(_Process("tick", self._tick))
        return sim

    def _evict_over_capacity(self) -> None:
        f = self.fleet
        over_kw = ((f.installed + f.failed) * f.kw).sum() - f.energized_mw * 1000
        for g in f._order[::-1]:  # least efficient chips wait first
            if over_kw <= 0:
                break
            n = int(min(f.installed[g], np.ceil(over_kw / f.kw[g])))
            f.installed[g] -= n
            f.waiting[g] += n
            over_kw -= n * f.kw[g]

    # -- processes ----------------------------------------------------------------
    def _supply(self, sim: Simulation):
        for t, g, n in sorted(self.shipments):
            if t > sim.env.now:
                yield sim.env.timeout(t - sim.env.now)
            self.fleet.deliver(g, n)

    def _datacenters(self, sim: Simulation):
        for t, mw, name in sorted(self.power_ons):
            if t >= sim.clock.horizon:
                return
            if t > sim.env.now:
                yield sim.env.timeout(t - sim.env.now)
            self.fleet.energize(mw)
            sim.events.log(t, "power_on", f"{name} +{mw:.1f} MW")

    def _tick(self, sim: Simulation):
        env, f, dem, rec = sim.env, self.fleet, self.demand, self.series.record
        hours_of_day = np.arange(24) + 0.5
        eff = self.demand.efficiency_per_year
        yield env.timeout(HOURS_PER_DAY / 2)
        for day in range(self.clock.days):
            f.step(day)
            t0 = day * HOURS_PER_DAY
            surge_e, surge_c = self.surges.multiplier(t0 + hours_of_day)
            total = f.capacity_tps() * eff ** (day / 365.25)
            committed, on_demand, consumer, batch = dem.hourly(day, surge_e, surge_c)
            cap = serving_capacity(total, self.serving_share, self.flex_share,
                                   committed + on_demand + consumer, self.flex_target)
            hs = allocate(cap, [committed, on_demand, consumer], batch)
            util = hs.utilization
            self.h_cap[day] = cap
            self.h_util[day] = util
            n_comm, n_od = dem.active_customers(day)
            # Customers count as throttled in an hour when their tier is short.
            throttled = np.where(hs.short[0], n_comm, 0) + np.where(hs.short[1] | hs.short[3], n_od, 0)
            uns = hs.unserved_by_tier.mean(axis=1)
            rec(day,
                demand_tps=hs.demand.mean(), peak_demand_tps=hs.demand.max(),
                capacity_tps=cap.mean(), served_tps=hs.served.mean(), unserved_tps=uns.sum(),
                unserved_committed_tps=uns[0], unserved_on_demand_tps=uns[1],
                unserved_consumer_tps=uns[2], unserved_batch_tps=uns[3],
                peak_utilization=min(util.max(), 1e6),
                surge_multiplier=max(surge_e.max(), surge_c.max()),
                energized_mw=f.energized_mw, occupied_mw=f.occupied_mw,
                chips_delivered=f.delivered.sum(), chips_waiting=f.waiting.sum(),
                chips_installed=f.installed.sum(), chips_failed=f.failed.sum(),
                chips_retired=f.retired.sum(), customers_active=n_comm + n_od,
                customers_throttled=throttled.max())
            yield env.timeout(HOURS_PER_DAY)

    # -- results ------------------------------------------------------------------
    def collect(self, sim: Simulation) -> RunResult:
        """Daily series and KPIs of the finished replication."""
        s = self.series.as_dict()
        clock = self.clock
        # Service quality for every hour at once: one vectorized queueing evaluation.
        (wait, lat), (_, lat50) = latencies(self.h_cap, self.h_util, self.queue, (0.99, 0.5))
        ok = slo_met(self.h_util, wait, self.queue)
        s["slo_hours"][:] = ok.sum(axis=1)
        finite = np.where(np.isfinite(lat), lat, np.nan)
        s["p99_latency_s"][:] = _mean_finite(finite)
        s["p50_latency_s"][:] = _mean_finite(lat50)
        demand, unserved = s["demand_tps"], s["unserved_tps"]
        # Monthly shortfall: any unserved tokens in a calendar month.
        dates = clock.dates()
        month = dates.astype("datetime64[M]")
        months, idx = np.unique(month, return_inverse=True)
        m_dem = np.bincount(idx, weights=demand)
        m_uns = np.bincount(idx, weights=unserved)
        short = m_uns > 1e-9 * np.maximum(m_dem, 1e-300)
        if not short.any():
            first_ok = _decimal_year(months[0])
        elif short[-1]:
            first_ok = np.nan
        else:
            first_ok = _decimal_year(months[np.nonzero(short)[0][-1] + 1])
        milestone = clock.hours(dt.date(2026, 12, 31)) / HOURS_PER_DAY
        mday = int(milestone)
        gw_2026 = s["occupied_mw"][mday] / 1000 if 0 <= mday < clock.days else np.nan
        ten_years = min(clock.days, int(round(10 * 365.25)))
        kpis = {
            "p_shortfall_any": float(short.any()),
            # Clipped against rounding: the ratio of two sums of the same hours.
            "unserved_fraction": float(np.clip(unserved.sum() / demand.sum(), 0, 1))
            if demand.sum() > 0 else 0.0,
            "slo_attainment": float(s["slo_hours"].sum() / (24 * clock.days)),
            "first_adequate_date": first_ok,
            "stranded_chip_months": float(s["chips_waiting"].sum() / DAYS_PER_MONTH),
            "aws_spend_10y_usd": finance.capacity_spend_usd(s["energized_mw"][:ten_years],
                                                            self.pue, self.tco),
            "customers_throttled_peak": float(s["customers_throttled"].max()),
            # Mean over the hours that are not overloaded (overload counts against the SLO).
            "p99_latency_s": float(np.nanmean(finite)) if np.isfinite(finite).any() else np.nan,
            "trainium_gw_2026_12_31": gw_2026,
        }
        return RunResult(sim.streams.replication, s, kpis, sim.events.rows)


def _mean_finite(x: np.ndarray) -> np.ndarray:
    """Per day (row), the mean of the hours that are not overloaded; NaN when none is."""
    ok = np.isfinite(x)
    n = ok.sum(axis=1)
    total = np.where(ok, x, 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _decimal_year(month: np.datetime64) -> float:
    d = month.astype("datetime64[D]").astype(object)
    return d.year + (d.timetuple().tm_yday - 1) / (366 if d.year % 4 == 0 else 365)


class _Process:
    """A named component that runs one generator function."""

    def __init__(self, name: str, fn) -> None:
        self.name = name
        self._fn = fn

    def start(self, sim: Simulation) -> None:
        sim.env.process(self._fn(sim))
