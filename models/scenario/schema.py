"""The whole scenario: its [scenario] table (name, horizon) and the checks across sections.

Each section's own rules live with its model (`supply`, `datacenters`, `demand`, `market`,
`operations`); the rules here relate sections to each other: every generation and campus
names an enabled cloud, a chip fits in its pools' monthly allotment and its rack in a
building, dates are in order, each lever writes a key that exists.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any

from capsim.models.scenario.datacenters import Datacenters, Fleet
from capsim.models.scenario.demand import Demand, Surges
from capsim.models.scenario.market import Customers, Market, Tenant
from capsim.models.scenario.operations import Cloud, Finance, Lever, Procurement, Service
from capsim.models.scenario.params import Frozen
from capsim.models.scenario.planning import PlanTarget, ValueOfInformation
from capsim.models.scenario.supply import Supply
from capsim.simcore.units import DAYS_PER_YEAR
from pydantic import Field, model_validator

MAX_HORIZON_YEARS = 50
"""Longest horizon: beyond it no input of a capacity plan means anything."""


class Meta(Frozen):
    """Name, title and horizon."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    extends: str | None = Field(None, description="a scenario this one changes (merged on load)")
    observations: str | None = Field(
        None, description="the public record the history is scored against: an observation "
        "file path or the name of one shipped with the package (default: this scenario's name)")
    posterior: str | None = Field(
        None, description="a calibration's posterior.parquet (or its directory), or the "
        "name of a posterior shipped with capsim: each replication draws its uncertain "
        "inputs from it (see capsim.models.posterior); empty: the priors (capsim run --prior)")
    title: str = ""
    description: str = ""
    start: dt.date
    end: dt.date
    evaluation_start: dt.date | None = Field(
        None, description="first day of the window the future-facing KPIs cover (default: start)")
    evaluation_end: dt.date | None = Field(
        None, description="day after the window's last (default: end)")
    case_cloud: str = Field(
        "aws", description="the cloud of the case: its spend in the window is "
        "aws_spend_total_usd, and its occupied facility GW on milestone_date is the "
        "milestone KPI")
    milestone_date: dt.date = Field(
        dt.date(2026, 12, 31), description="the date of the milestone KPI "
        "trainium_gw_2026_12_31 (the announcement's nearly 1 GW by the end of 2026)")

    @model_validator(mode="after")
    def _horizon(self):
        if self.end <= self.start:
            raise ValueError(f"end (={self.end}) must be after start (={self.start})")
        if (self.end - self.start).days > MAX_HORIZON_YEARS * 366:
            raise ValueError(f"end (={self.end}): the horizon is at most {MAX_HORIZON_YEARS} "
                             f"years from start (={self.start})")
        lo = self.evaluation_start or self.start
        # A run cut short before its window (a calibration of the history years, a quick
        # test) is evaluated over the whole run (see models.outcomes.window_days); a window
        # that starts before the run or ends before it starts is a mistake.
        if lo < self.start:
            raise ValueError(f"evaluation_start (={lo}) must be on or after start "
                             f"(={self.start})")
        if self.evaluation_end is not None and self.evaluation_end <= lo:
            raise ValueError(f"evaluation_end (={self.evaluation_end}) must be after the "
                             f"evaluation window's start (={lo})")
        return self


class Scenario(Frozen):
    """A whole scenario."""

    scenario: Meta
    supply: Supply
    datacenters: Datacenters
    fleet: Fleet
    demand: Demand
    surges: Surges
    service: Service
    clouds: dict[str, Cloud]
    finance: Finance
    procurement: Procurement
    levers: dict[str, Lever] = Field(default_factory=dict)
    market: Market | None = None
    tenants: dict[str, Tenant] = Field(default_factory=dict)
    customers: Customers | None = None
    plan: PlanTarget | None = None
    value_of_information: ValueOfInformation | None = None

    def __repr__(self) -> str:
        m = self.scenario
        on = [n for n, c in self.clouds.items() if c.enabled]
        return (f"Scenario({m.name!r}, {m.start}..{m.end}, clouds on: {', '.join(on) or 'none'}, "
                f"{len(self.supply.generations)} chip generations, "
                f"{len(self.datacenters.campuses)} campuses)")

    __str__ = __repr__

    def _repr_html_(self) -> str:
        import html

        m = self.scenario
        rows = [("scenario", m.name), ("title", getattr(m, "title", "") or ""),
                ("from", m.start), ("to", m.end),
                ("clouds on", ", ".join(n for n, c in self.clouds.items() if c.enabled)),
                ("chip generations", ", ".join(self.supply.generations)),
                ("campuses", len(self.datacenters.campuses))]
        return "<table>" + "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>"
                                   for k, v in rows) + "</table>"

    @model_validator(mode="after")
    def _clouds(self):
        names = list(self.clouds)
        if not any(c.enabled for c in self.clouds.values()):
            raise ValueError("clouds: no cloud is enabled; enable at least one "
                             f"(clouds.<name>.enabled = true, one of {', '.join(names)})")
        for kind, items in (("supply.generations", self.supply.generations),
                            ("datacenters.campuses", self.datacenters.campuses)):
            for name, item in items.items():
                if item.cloud not in self.clouds:
                    close = difflib.get_close_matches(item.cloud, names, n=1)
                    raise ValueError(f"{kind}.{name}.cloud: no cloud {item.cloud!r} in [clouds]"
                                     + (f"; did you mean {close[0]!r}?" if close else ""))
        for cname, c in self.clouds.items():
            if not c.enabled:
                continue
            if not any(g.cloud == cname for g in self.supply.generations.values()):
                raise ValueError(f"clouds.{cname}: enabled but no supply.generations entry "
                                 "has this cloud")
            if not any(k.cloud == cname for k in self.datacenters.campuses.values()):
                raise ValueError(f"clouds.{cname}: enabled but no datacenters.campuses entry "
                                 "has this cloud")
        years = (self.scenario.end - self.scenario.start).days / DAYS_PER_YEAR
        for name, g in self.supply.generations.items():
            for pool, use in g.uses.items():
                if pool not in self.supply.pools:
                    raise ValueError(f"supply.generations.{name}.uses.{pool}: no pool "
                                     f"{pool!r} in supply.pools (has: "
                                     f"{', '.join(self.supply.pools) or 'none'})")
                if not self.clouds[g.cloud].enabled:
                    continue
                p = self.supply.pools[pool]
                # The smallest month any draw can give: a chip must fit in it.
                first = p.capacity_per_month.spec.support[0] * min(
                    1.0, p.growth_per_year.spec.support[0] ** years)
                month = p.share.spec.support[0] * min(first, p.max_per_month.spec.support[0])
                if use.spec.support[1] > month:
                    raise ValueError(
                        f"supply.generations.{name}.uses.{pool}: one chip can need "
                        f"{use.spec.support[1]:g} {p.unit}, more than the smallest monthly "
                        f"allotment supply.pools.{pool} can give ({month:g}); raise the pool's "
                        "share or capacity")
        for name, g in self.supply.generations.items():
            if self.clouds[g.cloud].enabled and g.batching is None:
                raise ValueError(f"supply.generations.{name}.batching: missing; every "
                                 "generation of an enabled cloud needs its replicas' batch "
                                 "curve (models/serving.py)")
        pc = self.procurement.cloud
        needs_orders = (self.procurement.policy == "forecast" or any(
            t.capacity_share.spec.support[1] > 0 for t in self.finance.tranches.values()))
        if needs_orders and (pc not in self.clouds or not self.clouds[pc].enabled):
            raise ValueError(f"procurement.cloud: capacity is ordered for {pc!r}, which is "
                             "not an enabled cloud")
        return self

    @model_validator(mode="after")
    def _dates(self):
        start = self.scenario.start
        last = start
        for i, period in enumerate(self.demand.growth_by_period):
            if period.until <= last:
                raise ValueError(f"demand.growth_by_period[{i}].until(={period.until}) must be "
                                 f"after {last} (the start or the previous period's end)")
            last = period.until
        for name, g in self.supply.generations.items():
            if g.installed_at_start.spec.support[1] > 0 and g.available > start:
                raise ValueError(f"supply.generations.{name}: installed_at_start > 0 but the "
                                 f"generation is available only from {g.available}, after the "
                                 f"start {start}: a chip cannot be installed before it exists")
            rack_mw = (g.chips_per_rack * g.chip_power_w.spec.support[1]
                       * self.fleet.server_overhead.spec.support[1]
                       * self.datacenters.pue.spec.support[1] / 1e6)
            for cname, campus in self.datacenters.campuses.items():
                if campus.cloud == g.cloud and rack_mw > campus.building_mw.spec.support[0]:
                    raise ValueError(
                        f"supply.generations.{name}.chips_per_rack: a rack of {g.chips_per_rack} "
                        f"chips can need {rack_mw:g} MW, more than the smallest building of "
                        f"datacenters.campuses.{cname} ({campus.building_mw.spec.support[0]:g} MW)")
            if g.production_end is not None and g.production_end <= self.scenario.start and \
                    g.installed_at_start.base <= 0:
                raise ValueError(f"supply.generations.{name}: ends before the start and has no "
                                 "installed base: it would contribute nothing")
        return self

    @model_validator(mode="after")
    def _tenant_clouds(self):
        for name, t in self.tenants.items():
            if t.cloud not in self.clouds:
                raise ValueError(f"tenants.{name}.cloud: no cloud {t.cloud!r} in [clouds]")
        if self.scenario.case_cloud not in self.clouds:
            raise ValueError(f"scenario.case_cloud: no cloud {self.scenario.case_cloud!r} in "
                             f"[clouds] (one of {', '.join(self.clouds)})")
        if self.market is not None and self.market.cost_cloud not in self.clouds:
            raise ValueError(f"market.cost_cloud: no cloud {self.market.cost_cloud!r} in [clouds]")
        return self

    @model_validator(mode="after")
    def _lever_keys(self):
        for name, lever in self.levers.items():
            node: Any = self
            for part in lever.key.split("."):
                node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
                if node is None or isinstance(node, Lever):
                    raise ValueError(f"levers.{name}.key: no scenario key {lever.key!r}")
        return self

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name
