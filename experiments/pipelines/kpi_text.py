"""One line of meaning and a unit per KPI, for the report: read from the KPI registry.

The registry (`capsim.models.kpis`) is the one place where KPI names, units and
definitions live; a unit recorded in a run's own summary.json comes first, so a report of
a run made by an older capsim keeps that run's units.
"""

from __future__ import annotations

from typing import Any

from capsim.models import kpis as registry


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
