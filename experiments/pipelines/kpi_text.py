"""Words and numbers for KPIs and scenario keys, for tables and plots: from the registry.

A KPI's definition, unit and short label (`models.kpi_labels`), the headline KPIs, a
scenario key in words, and values in the tables' format (42%, 2026-08, $1.2B). A neutral
module: the answer, the report, the run's figures and the sweep's figures all read it,
and it reads nothing of theirs.

The registry (`capsim.models.kpis`) is the one place where KPI names, units and
definitions live; a unit recorded in a run's own summary.json comes first, so a report of
a run made by an older capsim keeps that run's units.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from capsim.models import kpis as registry
from capsim.models.kpi_labels import LABELS


def _entry(name: str) -> registry.Metric | None:
    return registry.lookup(name, "kpis") or registry.CLOUD_KPIS.get(name)


def definition(name: str) -> str:
    """The one-line definition of a KPI (empty for a name the registry does not know)."""
    m = _entry(name)
    return m.definition if m is not None else ""


def unit(name: str, entry: dict | None = None) -> str:
    """A KPI's unit: the run's own record first, then the registry."""
    if entry and entry.get("unit"):
        return str(entry["unit"])
    m = _entry(name)
    return m.unit if m is not None else ""


def implied(scenario: Any) -> str:
    """How a run's Anthropic-wide figures are implied ("AWS-implied" in an AWS-only run).

    "AWS-implied" when AWS is the one modelled cloud, else "implied by AWS, Google and
    Azure" (the enabled clouds, by the first word of their labels). Anthropic-wide figures
    (the run-rates, Anthropic-wide spend) are the modelled clouds' figures over their
    share of Claude demand, so they say no more than those clouds do.
    """
    names = [c.label.split()[0] for c in scenario.clouds.values() if c.enabled]
    if len(names) == 1:
        return f"{names[0]}-implied"
    if not names:
        return "implied by the modelled clouds"
    return f"implied by {', '.join(names[:-1])} and {names[-1]}"


def unit_shown(unit: str) -> str:
    """A unit as tables show it: "share of tokens" as "% of tokens", a decimal year as "date"."""
    if unit.startswith("share of "):
        return "% of " + unit[len("share of "):]
    return "date" if unit == "decimal year" else unit


def label(name: str) -> str:
    """A KPI's label for a plot (`models.kpi_labels`); a name it lacks, in words."""
    stem = name.partition("__")[0]
    return LABELS.get(name) or LABELS.get(stem) or name.replace("_", " ")


def key_label(key: str) -> str:
    """A scenario key in words: "demand.growth_multiplier" -> "growth multiplier (demand)"."""
    *section, last = key.split(".")
    words = last.replace("_", " ")
    return f"{words} ({'.'.join(section)})" if section else words


HEADLINE_KPIS = (
    "unmet_demand_share",  # the headline KPI, once the model reports it
    "forgone_revenue_total_usd",
    "p_shortfall_any",
    "first_short_month",
    "unserved_fraction",
    "demand_lost_share",
    "customers_lost_to_competitors",
    "enterprise_throttled_monthly_share",
    "slo_attainment",
    "aws_spend_total_usd",
    "held_chip_cost_usd",
    "trainium_gw_2026_12_31",
)
"""The KPIs `capsim run` prints by default, in order (names the run lacks are skipped, and
at most `HEADLINE_MAX` are shown); `capsim run --all` prints every KPI."""
HEADLINE_MAX = 12


def headline_names(summary: dict) -> list[str]:
    """The headline KPIs this run has, in `HEADLINE_KPIS` order, at most `HEADLINE_MAX`."""
    have = {**summary.get("kpis", {}), **summary.get("milestones", {})}
    return [n for n in HEADLINE_KPIS if n in have][:HEADLINE_MAX]


def format_value(v: float | None, unit: str = "") -> str:
    """A KPI value for people: dollars in billions, decimal years, thousands separators."""
    if v is None or v != v:
        return "-"
    if unit == "USD":
        # The sign before the dollar: a commitment gap can be negative (spend beyond it).
        return f"{'-' if v < 0 else ''}${abs(v) / 1e9:,.1f}B"
    if unit == "decimal year":
        return f"{v:.2f}"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:,.2f}"


def month_of(year: float | None) -> str:
    """A decimal year as YYYY-MM ('-' when missing)."""
    if year is None or not math.isfinite(year):
        return "-"
    y = int(math.floor(year))
    if not 1 <= y <= 9998:
        return f"{year:.2f}"
    day = (year - y) * (366 if y % 4 == 0 else 365)  # as simcore.clock.decimal_year
    d = dt.date(y, 1, 1) + dt.timedelta(days=min(int(round(day)), 364))
    return f"{d:%Y-%m}"


def pct(v: float | None) -> str:
    """A share as a percentage: whole percent from 10%, one decimal below."""
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v * 100:.0f}%" if abs(v) >= 0.1 or v == 0 else f"{v * 100:.1f}%"


def short_value(v: float | None, unit: str) -> str:
    """A value in a few characters: 42%, 2026-08, $255.3B, 6.32M, 0.0534."""
    if v is None or not math.isfinite(v):
        return "-"
    if unit == "probability" or unit.startswith("share"):
        return pct(v)
    if unit == "decimal year":
        return month_of(v)
    if unit == "USD":
        return format_value(v, unit)
    a = abs(v)
    if unit.startswith("USD ") and a >= 1e4:  # "USD per MW-year": $18.3M
        return ("-" if v < 0 else "") + "$" + short_value(a, "")
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")):
        if a >= scale:
            return f"{v / (scale if suffix != 'k' else 1e3):.3g}{suffix}"
    return f"{v:.3g}" if a < 1000 else f"{v:,.0f}"
