"""The forecast procurement policy's question: how many MW to order for the coming peak.

`ForecastGap` answers, at a review on `day`, how much facility MW of a generation the
forecast peak demand at day `ahead` needs beyond what the pipeline gives by then: the
recent peak grown by the demand trend and the orders' headroom, against the chips shipped
or due and the power energized or due, placed best tokens per MW first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models.demand import DemandModel
from capsim.models.fleet import Fleet
from capsim.models.supply import ProductionLines
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY

PEAK_DAYS = 28
"""Days back over which the forecast takes the recent peak of hourly demand."""


@dataclass
class ForecastGap:
    """The facility MW a forecast review orders (see the module docstring).

    Attributes:
        fleet: the chips and powered space now.
        lines: chips due from the lines and not shipped (`backlog`).
        demand: the demand model (its growth trend and software efficiency).
        hourly_demand: (days, 24) demand of every hour, read live (customers rebuild it).
        shipments: planned shipments as (hour, generation, chips).
        power_ons: planned buildings as (hour, MW, cloud).
        ordered: buildings ordered during the run as (hour, MW, cloud), read live.
        headroom: factor on the forecast peak.
        serve_share: share of the fleet that serving can use (its own share and the loan).
    """

    fleet: Fleet
    lines: ProductionLines
    demand: DemandModel
    hourly_demand: np.ndarray
    shipments: list[tuple[float, int, int]]
    power_ons: list[tuple[float, float, int]]
    ordered: list[tuple[float, float, int]]
    headroom: float
    serve_share: float

    def __call__(self, now_h: float, day: int, ahead: int, g: int | None) -> float:
        """Facility MW of generation g still to order for the forecast peak at day `ahead`."""
        if g is None:
            return 0.0
        f, dem = self.fleet, self.demand
        lo = max(0, day - PEAK_DAYS)
        peak = float(self.hourly_demand[lo:day].max()) if day > lo else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            trend = dem.ent_growth[ahead] / dem.ent_growth[day]
        want = peak * trend * self.headroom
        if not want > 0:  # no demand (0 x an undefined trend included): nothing to order
            return 0.0
        eff = dem.efficiency_per_year ** (ahead / DAYS_PER_YEAR)
        have = self._pipeline_tps(now_h, ahead * HOURS_PER_DAY) * eff * self.serve_share
        if want <= have:
            return 0.0
        per_mw = f.tps[g] / f.kw[g] * 1000.0 * eff * self.serve_share
        return (want - have) / per_mw

    def _pipeline_tps(self, now_h: float, until: float) -> float:
        """Tokens/s (before efficiency) of the chips that the power due by `until` takes."""
        f = self.fleet
        # Chips: shipped and not retired; chips due from the lines (planned batches whose
        # time has come, and orders, not yet shipped); planned batches due by then.
        chips = (f.in_transit + f.waiting + f.installed + f.failed
                 + self.lines.backlog).astype(float)
        for t, gi, n in self.shipments:
            if now_h < t <= until:
                chips[gi] += n
        # Power: energized, plus planned and ordered buildings powering on by then.
        mw = f.energized.copy()
        for t, m, c in self.power_ons:
            if now_h < t <= until:
                mw[c] += m
        for t, m, c in self.ordered:
            if now_h < t <= until:
                mw[c] += m
        tps = 0.0
        free = mw * 1000.0
        for gi in f.placement_order:  # best tokens per MW first, as placement does
            c = f.cloud[gi]
            n = min(chips[gi], max(0.0, free[c]) / f.kw[gi])
            free[c] -= n * f.kw[gi]
            tps += n * f.tps[gi]
        return tps
