"""The fan chart's headroom panel: where serving capacity falls short of peak demand.

Headroom on a day is serving capacity (with training's loan) over the peak hour of the
demand the market would bring, minus one: below zero, the busiest hour asks for more than
capacity can serve. Daily means hide the shortfall, because it happens at the peak hours
and because customers who were throttled leave: the demand after their reactions fits the
capacity that drove them away. So the peak hour is that of the demand the market would
bring, taken as the day's peak hour of demand scaled by the day's demand the market would
bring over its demand (the customers who left are taken to have the same hourly profile).
"""

from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np
from capsim.simcore import plots

TOP = 1.0
"""Where the panel's axis is cut: headroom above +100% (capacity over twice the peak hour)
is plenty, whatever its size (early years and replications of low demand reach 100x)."""

NEED = ("capacity_tps", "peak_demand_tps", "demand_tps")
"""Series the panel reads (with demand_potential_tps where the run has it)."""


class Weekly(Protocol):
    """A run's daily series read as (replications x periods) arrays (`figures._Weekly`)."""

    columns: set[str]
    dates: np.ndarray

    def daily(self, col: str) -> np.ndarray:
        """(replications x days) of `col`."""
        ...

    def weekly(self, x: str | np.ndarray) -> np.ndarray:
        """A column or a daily matrix averaged over blocks of days."""
        ...


def peak_headroom(capacity: np.ndarray, peak_demand: np.ndarray, demand: np.ndarray,
                  potential: np.ndarray | None = None) -> np.ndarray:
    """Capacity / the peak hour of the demand the market would bring - 1, element-wise.

    Without `potential` the peak hour of demand itself; NaN where there is no demand.
    """
    capacity, peak = np.asarray(capacity, float), np.asarray(peak_demand, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if potential is not None:
            demand = np.asarray(demand, float)
            peak = peak * np.where(demand > 0, np.asarray(potential, float) / demand, 1.0)
        return np.where(peak > 0, capacity / peak - 1.0, np.nan)


def title(dates: np.ndarray, median: np.ndarray) -> str:
    """The finding of the panel: from when to when the median headroom is below zero."""
    below = np.asarray(median) < 0
    if not below.any():
        return ("Capacity stays above the peak hour of demand in the median replication "
                "(headroom above zero throughout)")
    idx = np.nonzero(below)[0]
    first, last = idx[0], idx[-1]
    span = float(below[first:last + 1].mean())
    a, b = (str(np.datetime64(dates[i], "M")) for i in (first, last))
    return (f"Capacity falls short of peak-hour demand in the median replication from {a} "
            f"to {b} ({span:.0%} of the weeks in between)")


def panel(w: Weekly) -> tuple[plots.Panel, str] | None:
    """The headroom panel of a run and its finding (None: the table lacks the series)."""
    if not set(NEED) <= w.columns:
        return None
    potential = w.daily("demand_potential_tps") if "demand_potential_tps" in w.columns else None
    daily = peak_headroom(w.daily("capacity_tps"), w.daily("peak_demand_tps"),
                          w.daily("demand_tps"), potential)
    weekly = w.weekly(daily)
    with warnings.catch_warnings():  # a week with no demand at all has no headroom
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(weekly, axis=0)
        low = float(np.nanmin(np.nanpercentile(weekly, 5, axis=0), initial=0.0))
    what = "the demand the market would bring" if potential is not None else "demand"
    p = plots.Panel(
        f"Headroom: serving capacity with training's loan / the peak hour of {what} - 1 "
        f"(axis cut at +{TOP:.0%})", {"headroom at the peak hour": weekly},
        ylabel="headroom (share of peak demand, weekly mean)", yfmt="share",
        colors=(plots.PALETTE[2],), shade="capacity short of peak demand (median)",
        ylim=(max(-1.0, min(low, 0.0) - 0.05), TOP))
    return p, title(w.dates, median)
