"""The index of a run's plots: each figure's file stem, question group and caption.

`figures` draws them and the report shows them in this order, grouped by question. The
captions here say what each plot shows, true of any run; when a run's plots are drawn,
each also gets a caption computed from its data (DIR/plots/captions.json), which the
report shows instead. The date helpers the drawing modules share live here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Figure:
    """A plot of a run: its file stem, the question group and what to look for."""

    name: str
    group: str
    caption: str


GROUPS = {
    "history": "History: the model against the public record",
    "supply": "Supply: do chips arrive and get installed?",
    "power": "Power: is there powered space for the chips?",
    "service": "Demand and service: is demand served, and how well?",
    "money": "Money: spend, commitments and revenue",
    "spread": "Spread across replications",
}
"""Question groups of the report, in order."""

FIGURES = (
    Figure("history", "history",
           "Each observation on its own scale (run / observed, 1 = the observation): the grey "
           "box is the observed range, the bar the run's 90% band and the dot its median, "
           "coloured by kind; only independent observations test the model."),
    Figure("fan_chart", "service",
           "Top, log scale: demand and serving capacity with and without training's loan, "
           "medians with bands, weekly; weeks where median demand is above median capacity "
           "are shaded, and the gap between the two capacity lines is what training lends. "
           "Bottom, linear: headroom at the peak hour of the demand the market would bring, "
           "with bands; below zero, capacity falls short."),
    Figure("shortfall_probability", "service",
           "The share of replications in which a calendar month had demand that capacity "
           "did not fully serve, with its 95% interval."),
    Figure("slo_breach_probability", "service",
           "The share of replications in which fewer hours than the SLO target met it, "
           "by month; breaches cluster at surges and launches."),
    Figure("slo_heatmap", "service",
           "Mean share of hours meeting the SLO by year and calendar month; darker cells "
           "are the months to watch."),
    Figure("capacity_by_generation", "supply",
           "Top: installed compute against demand on a log axis; bottom: each generation's "
           "share, so the early years are as readable as the late ones."),
    Figure("capacity_by_cloud", "supply",
           "Installed compute per cloud (training and serving), median and bands."),
    Figure("chips_by_state", "supply",
           "Mean chips in each state, stacked; up to the dotted line the stack equals the "
           "mean of chips shipped, and above it are the chips the power-aware policy holds "
           "at the supplier (due, not built). A thick waiting band means chips wait for "
           "power."),
    Figure("stranded_chips", "power",
           "Chips delivered and integrated but with no powered space yet; the peak is "
           "the power shortfall in chips."),
    Figure("power", "power",
           "Energized facility MW against MW occupied by chips: a gap between the lines is "
           "empty powered space, no gap means power binds."),
    Figure("spend_vs_commitment", "money",
           "Cumulative spend against each commitment over its window; crossing the dashed "
           "level means the commitment is met."),
    Figure("revenue", "money",
           "Anthropic-wide run-rate as the modelled clouds imply it (AWS-implied when AWS "
           "is the one modelled cloud), revenue earned on the modelled clouds, and revenue "
           "lost to unserved tokens, each on its own scale."),
    Figure("customers", "service",
           "Enterprise customers active and throttled in the worst hour of each day, "
           "customers lost to competitors so far, and the share of demand that left with "
           "lost customers and consumers; flat zero lines mean nobody reacted."),
    Figure("kpi_ecdf", "spread",
           "The headline KPIs' distributions across replications (probabilities are in the "
           "table): read a percentile off the vertical axis; steep means certain, flat means "
           "uncertain."),
)


CAPTIONS = "captions.json"
"""The file beside a run's plots with each plot's caption computed from its data."""


def plot_files(made: list) -> list[str]:
    """The names a run's manifest lists for its plots folder: the plots and the captions."""
    return sorted({p.name for p in made} | {CAPTIONS})


def short_threshold(scenario: Any) -> float:
    """Unserved share of a month's demand above which the month is short.

    `service.short_month_threshold` where the scenario has it; else any unserved demand
    (above a relative 1e-9, below which the difference is rounding).
    """
    thr = getattr(scenario.service, "short_month_threshold", None)
    return max(float(thr or 0.0), 1e-9)


def month(d) -> str:
    """A date (or datetime64) as YYYY-MM."""
    return str(np.datetime64(d, "M"))


def first_majority(dates: np.ndarray, share: np.ndarray, level: float = 0.5) -> str | None:
    """The first date at which `share` reaches `level`, as YYYY-MM, or None."""
    hit = np.nonzero(np.asarray(share) >= level)[0]
    return month(dates[hit[0]]) if hit.size else None


OTHER_PLOTS = ("observations", "parameters", "pareto", "groups_convergence", "groups_by_year")
"""Plots of a calibration, a plan and grouped sensitivity (fixed names)."""
PER_KPI = ("tornado", "discovery", "sobol", "morris", "prcc", "lhs")
"""Plots of sweeps and sensitivity designs, one per KPI: `<prefix>_<kpi>.png`."""


def own_plot(name: str) -> bool:
    """True for a file name in plots/ that capsim writes (its figures' names, png or svg).

    What `--force` may replace in a run directory whose manifest lists no plots: any
    other file there is the user's. The captions file beside the plots is capsim's too.
    """
    from capsim.models import kpis as registry

    if name == CAPTIONS:
        return True
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in ("png", "svg"):
        return False
    if stem in {f.name for f in FIGURES} or stem in OTHER_PLOTS:
        return True
    prefix, _, kpi = stem.partition("_")
    return prefix in PER_KPI and kpi in {**registry.KPIS, **registry.CLOUD_KPIS}
