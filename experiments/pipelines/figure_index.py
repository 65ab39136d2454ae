"""The index of a run's plots: each figure's file stem, question group and caption.

`figures` draws them and the report shows them in this order, grouped by question.
"""

from __future__ import annotations

from dataclasses import dataclass


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
           "Red shading: weeks where median demand is above median serving capacity "
           "without training's loan (or with it, when the run does not record the loan); "
           "the gap between the two capacity lines is what training lends."),
    Figure("shortfall_probability", "service",
           "The share of replications in which a calendar month had demand that capacity "
           "did not fully serve; look for when it passes 50%."),
    Figure("slo_breach_probability", "service",
           "The share of replications in which fewer hours than the SLO target met it, "
           "by month; breaches cluster at surges and launches."),
    Figure("slo_heatmap", "service",
           "Mean share of hours meeting the SLO by year and calendar month; red cells are "
           "the months to watch."),
    Figure("capacity_by_generation", "supply",
           "Top: installed compute against demand on a log axis; bottom: each generation's "
           "share, so the early years are as readable as the late ones."),
    Figure("capacity_by_cloud", "supply",
           "Installed compute per cloud (training and serving), median and bands."),
    Figure("chips_by_state", "supply",
           "Mean chips in each state, stacked; the stack equals the mean of chips shipped. "
           "A thick waiting band means chips wait for power."),
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
           "Anthropic-wide run-rate, revenue earned on the modelled clouds, and revenue "
           "lost to unserved tokens, each on its own scale."),
    Figure("customers", "service",
           "Enterprise customers active and throttled in the worst hour of each day, "
           "customers lost to competitors so far, and the share of demand that left with "
           "lost customers and consumers; flat zero lines mean nobody reacted."),
    Figure("kpi_ecdf", "spread",
           "Each KPI's distribution across replications: read a percentile off the "
           "vertical axis; steep means certain, flat means uncertain."),
)


OTHER_PLOTS = ("observations", "parameters", "pareto", "groups_convergence", "groups_by_year")
"""Plots of a calibration, a plan and grouped sensitivity (fixed names)."""
PER_KPI = ("tornado", "discovery", "sobol", "morris", "prcc", "lhs")
"""Plots of sweeps and sensitivity designs, one per KPI: `<prefix>_<kpi>.png`."""


def own_plot(name: str) -> bool:
    """True for a file name in plots/ that capsim writes (its figures' names, png or svg).

    What `--force` may replace in a run directory whose manifest lists no plots: any
    other file there is the user's.
    """
    from capsim.models import kpis as registry

    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in ("png", "svg"):
        return False
    if stem in {f.name for f in FIGURES} or stem in OTHER_PLOTS:
        return True
    prefix, _, kpi = stem.partition("_")
    return prefix in PER_KPI and kpi in {**registry.KPIS, **registry.CLOUD_KPIS}
