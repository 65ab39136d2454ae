"""Datacenter campuses: buildings that power on, each adding facility MW.

A campus has buildings already energized at the start and new ones whose power-on time is
the later of (planned date + campus slip + i x interval) and the date its power path
(grid connection, transformers or on-site generation) is ready: requested + lead time.
All are shifted by the scenario's power-on-delay knob. Rival tenants of a cloud take part
of each new building's power (`models.tenants`); `Datacenters` powers on what is left.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
from capsim.models import tenants
from capsim.models.fleet import Fleet
from capsim.models.outcomes import stress_start_h
from capsim.models.scenario import Campus, Scenario
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import Simulation
from capsim.simcore.streams import Streams
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY

PowerOn = tuple[float, float, int, str]
"""(hour, facility MW, cloud index, campus) of a building that powers on."""


def power_on_times(campus: Campus, clock: Clock, rng: np.random.Generator,
                   delay_days: float = 0.0, delay_from_h: float = 0.0
                   ) -> tuple[float, np.ndarray]:
    """(MW per building, power-on hours of the new buildings) for one replication.

    Draws, in order: building MW, interval, campus slip, power-path lead time. The delay
    stress (`delay_days`) shifts the power-ons due from hour `delay_from_h` on (the
    evaluation start): those before it are the unstressed history.
    """
    mw = float(campus.building_mw.sample(rng))
    if mw <= 0:
        raise ValueError(f"building_mw drew {mw}: must be > 0")
    interval = max(0.0, float(campus.interval_days.sample(rng)))
    slip = max(0.0, float(campus.slip_days.sample(rng)))
    first = clock.hours(campus.first_power_on) + slip * HOURS_PER_DAY
    times = first + np.arange(campus.new_buildings) * interval * HOURS_PER_DAY
    if campus.power_path is not None:
        lead_years = max(0.0, float(campus.power_path.lead_time_years.sample(rng)))
        ready = (clock.hours(campus.power_path.requested)
                 + lead_years * DAYS_PER_YEAR * HOURS_PER_DAY)
        times = np.maximum(times, ready)
    if delay_days:
        times = np.where(times >= delay_from_h, times + delay_days * HOURS_PER_DAY, times)
    times = np.maximum(times, 0.0)
    return mw, times


@dataclass(frozen=True)
class DatacenterDraw:
    """One replication's datacenters.

    Attributes:
        pue: facility W per IT W.
        at_start: (facility MW, cloud) energized at the start, campus by campus.
        power_ons: Anthropic's buildings that power on later (tenants' takes removed).
        tenant_takes: per rival tenant, its takes as (hour, MW).
        campuses: the campuses' names, in the order of `at_start`.
    """

    pue: float
    at_start: tuple[tuple[float, int], ...]
    power_ons: tuple[PowerOn, ...]
    tenant_takes: dict[str, list[tuple[float, float]]]
    campuses: tuple[str, ...] = ()

    def energized_by_campus(self, days: int) -> dict[str, np.ndarray]:
        """Per campus, the facility MW of Anthropic's buildings energized at each midday.

        Buildings ordered during the run (capacity orders) are not any campus's.
        """
        out = {n: np.full(days, mw) for n, (mw, _) in zip(self.campuses, self.at_start,
                                                            strict=True)}
        for t, mw, _, name in self.power_ons:
            first = int(np.ceil((t - HOURS_PER_DAY / 2) / HOURS_PER_DAY))
            if first < days:
                out[name][max(first, 0):] += mw
        return out

    @classmethod
    def draw(cls, sc: Scenario, clouds: list[str], clock: Clock,
             streams: Streams) -> DatacenterDraw:
        """From "datacenters.pue", "datacenters.<campus>" and "tenants.<tenant>"."""
        cloud_ix = {n: i for i, n in enumerate(clouds)}
        pue = float(sc.datacenters.pue.sample(streams.rng("datacenters.pue")))
        at_start: list[tuple[float, int]] = []
        names: list[str] = []
        power_ons: list[PowerOn] = []
        for name, campus in sc.datacenters.campuses.items():
            if campus.cloud not in cloud_ix:
                continue
            c = cloud_ix[campus.cloud]
            mw, times = power_on_times(campus, clock, streams.rng(f"datacenters.{name}"),
                                       sc.datacenters.power_on_delay_days,
                                       stress_start_h(sc, clock))
            at_start.append((campus.energized_at_start * mw, c))
            names.append(name)
            power_ons += [(float(t), mw, c, name) for t in times]
        rivals = [tenants.draw(n, t, cloud_ix[t.cloud], clock.hours, streams.rng(f"tenants.{n}"))
                  for n, t in sc.tenants.items() if t.enabled and t.cloud in cloud_ix]
        kept, takes = tenants.carve(power_ons, rivals)
        return cls(pue, tuple(at_start), tuple(kept), takes, tuple(names))


class Datacenters:
    """Component: buildings power on in time order and energize the fleet's clouds.

    The buildings energized at the start are energized when the component is made (the
    installed base is placed into them before the run starts).
    """

    name = "datacenters"

    def __init__(self, drawn: DatacenterDraw, fleet: Fleet) -> None:
        self.drawn, self.fleet = drawn, fleet
        for mw, c in drawn.at_start:
            fleet.energize(mw, c)

    @property
    def planned(self) -> list[tuple[float, float, int]]:
        """(hour, MW, cloud) of the buildings that power on during the run."""
        return [(t, m, c) for t, m, c, _ in self.drawn.power_ons]

    def start(self, sim: Simulation) -> None:
        """Start the power-on process."""
        sim.env.process(self._run(sim))

    def _run(self, sim: Simulation) -> Generator:
        for t, mw, c, name in sorted(self.drawn.power_ons):
            if t >= sim.clock.horizon:
                return
            if t > sim.env.now:
                yield sim.env.timeout(t - sim.env.now)
            self.fleet.energize(mw, c)
            sim.events.log(t, "power_on", f"{name} +{mw:.1f} MW", subject=name, amount=mw,
                           unit="MW facility")

    def tenant_power_mw_end(self, horizon_h: float) -> float:
        """Facility MW the rival tenants hold at the horizon."""
        return sum(tenants.held_mw(x, horizon_h) for x in self.drawn.tenant_takes.values())
