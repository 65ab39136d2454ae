"""One line of meaning and a unit per KPI, for the report: read from the KPI registry.

The registry (`capsim.models.kpis`) is the one place where KPI names, units and
definitions live; a unit recorded in a run's own summary.json comes first, so a report of
a run made by an older capsim keeps that run's units.
"""

from __future__ import annotations

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


def unit_shown(unit: str) -> str:
    """A unit as tables show it: "share of tokens" as "% of tokens", a decimal year as "date"."""
    if unit.startswith("share of "):
        return "% of " + unit[len("share of "):]
    return "date" if unit == "decimal year" else unit
