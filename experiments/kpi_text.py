"""One line of meaning per KPI, for the report and the docs.

Where the model has a KPI registry (`capsim.models.kpis.lookup`, DESIGN.md), its unit and
definition win; these tables are the fallback for a tree without one, and can go once
every KPI is in the registry. Units in summary.json (the run's own record) come first.
"""

from __future__ import annotations

import importlib
from typing import Any

DEFINITIONS = {
    "p_shortfall_any": "probability that some month of the horizon has demand that capacity "
                       "does not fully serve (Wilson interval)",
    "unserved_fraction": "demand-weighted share of tokens not served over the horizon",
    "slo_attainment": "share of hours meeting the SLO: not overloaded and p99 queueing wait "
                      "within target",
    "first_adequate_date": "first month from which capacity covers demand to the end; "
                           "replications that never get there are counted apart",
    "stranded_chip_months": "chips delivered but waiting for powered space, summed over months",
    "stranded_power_mw_months": "energized facility MW not occupied by chips, summed over months",
    "component_delay_chip_months": "chips due from production lines that wait for CoWoS or HBM, "
                                   "summed over months",
    "aws_spend_10y_usd": "what AWS bills over the first ten years: IT MW in service x price per "
                         "MW-year",
    "commitment_gap_usd": "commitments minus spend inside their windows (positive: spend falls "
                          "short of the commitment)",
    "revenue_usd": "served tokens at the scenario's falling prices, over the horizon",
    "lost_revenue_usd": "unserved tokens at the same prices, over the horizon",
    "investment_usd": "investment tranches released (milestones met)",
    "ordered_mw": "facility MW of capacity ordered during the run (tranches, forecast policy)",
    "customers_throttled_peak": "most enterprise customers throttled in any one hour",
    "p99_latency_s": "mean over hours that are not overloaded of the hourly p99 latency "
                     "(queueing wait + service)",
    "trainium_gw_2026_12_31": "Trainium (AWS) facility GW energized and populated on 2026-12-31",
    # Service KPIs of the evaluation window (issue 14), shown when a run has them.
    "short_month_share": "share of the months of the evaluation window that are short",
    "first_short_month": "first short month of the evaluation window",
    "longest_short_spell_months": "longest run of consecutive short months",
    "training_deficit_share": "training's shortfall as a share of the compute reserved for it",
    "loan_share": "share of serving capacity that training lends",
}

UNITS = {
    "short_month_share": "share of months",
    "first_short_month": "decimal year",
    "longest_short_spell_months": "months",
    "training_deficit_share": "share of training compute",
    "loan_share": "share of serving capacity",
}
"""Units of KPIs that experiments/runs.py's KPI_UNITS does not list (yet)."""

CLOUD_DEFINITIONS = {
    "energized_mw_end": "facility MW energized on the last day",
    "compute_tps_end": "installed compute (training and serving) on the last day",
    "spend_usd": "spend billed by the cloud over the horizon",
}


def _registry(name: str) -> Any:
    """The model's KPI registry entry (capsim.models.kpis.lookup), where there is one."""
    try:
        registry = importlib.import_module("capsim.models.kpis")
    except ImportError:
        return None
    lookup = getattr(registry, "lookup", None)
    return lookup(name, "kpis") if lookup is not None else None


def definition(name: str) -> str:
    """The one-line definition of a KPI: the model's registry first, then the tables here."""
    text = getattr(_registry(name), "definition", None)
    if isinstance(text, str) and text:
        return text
    return DEFINITIONS.get(name, CLOUD_DEFINITIONS.get(name, ""))


def unit(name: str, entry: dict | None = None) -> str:
    """A KPI's unit: the run's own record first, then the registry, then the tables here."""
    if entry and entry.get("unit"):
        return str(entry["unit"])
    known = getattr(_registry(name), "unit", None)
    if isinstance(known, str) and known:
        return known
    from capsim.experiments.runs import KPI_UNITS

    return KPI_UNITS.get(name) or UNITS.get(name, "")
