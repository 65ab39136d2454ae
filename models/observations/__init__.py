"""Public record points a scenario's history is compared with: data files and their parser.

An observation file (TOML) lists `[[observation]]` entries, each a public figure with its
date, value, 90% range (or a relative tolerance), unit and source, and the simulated
daily series it is compared with and how that series is aggregated:

- ``value``: the series on the date;
- ``increase``: the series on the date minus the series on the day before ``from``
  (for running totals, e.g. chips shipped in a quarter);
- ``mean``: the mean of the series from ``from`` to the date.

``series`` is one series name or a list whose values are added (e.g. the chip states of a
generation). The file shipped for a scenario is ``<scenario name>.toml`` in this package.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from capsim.models.scenario import ScenarioError

OBSERVATION_PACKAGE = "capsim.models.observations"
AGGREGATIONS = ("value", "increase", "mean")
_KEYS = {"name", "date", "from", "value", "low", "high", "tolerance", "unit", "source",
         "series", "aggregation", "note"}


class ObservationError(ScenarioError):
    """An observation file that cannot be used; `problems` has one line per problem."""


@dataclass(frozen=True)
class Observation:
    """One public record point and the simulated quantity it is compared with."""

    name: str
    date: dt.date
    value: float
    low: float
    high: float
    unit: str
    source: str
    series: tuple[str, ...]
    aggregation: str = "value"
    start: dt.date | None = None
    note: str = ""


def embedded(scenario_name: str) -> tuple[str, str] | None:
    """(label, text) of the observation file shipped for a scenario, or None."""
    res = resources.files(OBSERVATION_PACKAGE) / f"{scenario_name}.toml"
    if not res.is_file():
        return None
    return f"{scenario_name} observations (embedded)", res.read_text(encoding="utf-8")


def read(path: str | Path) -> tuple[str, str]:
    """(label, text) of an observation file on disk."""
    p = Path(path)
    try:
        return str(p), p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ObservationError(str(p), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ObservationError(str(p), [f"cannot read: {exc}"]) from None


def _date(v) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    return v if isinstance(v, dt.date) else None


def _number(v) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def parse(label: str, text: str, series: list[str], start: dt.date, end: dt.date,
          drop_outside: bool = False) -> list[Observation]:
    """Parse and check an observation file against a run's series names and dates.

    With `drop_outside`, entries dated outside the run are left out instead of refused
    (a run cut short by `--set scenario.end=...` is scored on what it covers).

    Raises:
        ObservationError: one line per problem, naming the entry and what is wrong.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ObservationError(label, [f"TOML syntax error: {exc}"]) from None
    entries = data.get("observation")
    if not isinstance(entries, list) or not entries:
        raise ObservationError(label, ["no [[observation]] entries"])
    known = set(series)
    problems: list[str] = []
    out: list[Observation] = []
    seen: set[str] = set()
    for i, e in enumerate(entries):
        name = e.get("name") if isinstance(e.get("name"), str) and e.get("name") else None
        where = f"observation {name!r}" if name else f"observation #{i + 1}"
        bad: list[str] = []
        if name is None:
            bad.append("name: required (a non-empty string)")
        elif name in seen:
            bad.append("name: used by an earlier entry")
        extra = sorted(set(e) - _KEYS)
        for k in extra:
            close = difflib.get_close_matches(k, sorted(_KEYS), n=1)
            bad.append(f"{k}: unknown key" + (f"; did you mean {close[0]!r}?" if close else ""))
        date = _date(e.get("date"))
        frm0 = _date(e.get("from"))
        if drop_outside and date is not None and not (
                start <= date <= end and (frm0 is None or start <= frm0 <= end)):
            continue
        if date is None:
            bad.append("date: required (a TOML date such as 2025-12-31)")
        elif not start <= date <= end:
            bad.append(f"date: {date} is outside the run ({start} .. {end})")
        agg = e.get("aggregation", "value")
        if agg not in AGGREGATIONS:
            bad.append(f"aggregation: {agg!r} is not one of {', '.join(AGGREGATIONS)}")
        frm = _date(e.get("from")) if "from" in e else None
        if agg in ("increase", "mean"):
            if frm is None:
                bad.append(f"from: required (a date) with aggregation {agg!r}")
            elif not start <= frm <= end:
                bad.append(f"from: {frm} is outside the run ({start} .. {end})")
            elif date is not None and frm > date:
                bad.append(f"from: {frm} is after date {date}")
        unit = e.get("unit")
        if not isinstance(unit, str) or not unit.strip():
            bad.append("unit: required (a non-empty string)")
        source = e.get("source")
        if not isinstance(source, str) or not source.strip():
            bad.append("source: required (the public document the value comes from)")
        value = _number(e.get("value"))
        if value is None:
            bad.append("value: required (a number)")
        names = e.get("series")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            bad.append("series: required (a series name or a list of them)")
            names = []
        for n in names:
            if n not in known:
                close = difflib.get_close_matches(n, sorted(known), n=1)
                bad.append(f"series: unknown series {n!r}"
                           + (f"; did you mean {close[0]!r}?" if close else ""))
        low, high = _number(e.get("low")), _number(e.get("high"))
        tol = _number(e.get("tolerance"))
        if "tolerance" in e and ("low" in e or "high" in e):
            bad.append("give a 90% range (low, high) or a tolerance, not both")
        elif "tolerance" in e:
            if tol is None or not 0 < tol < 1:
                bad.append(f"tolerance: must be a share in (0, 1), got {e.get('tolerance')!r}")
            elif value is not None:
                low, high = value * (1 - tol), value * (1 + tol)
        elif low is None or high is None:
            bad.append("low, high: a 90% range (both numbers) or a tolerance is required")
        elif value is not None and not low <= value <= high:
            bad.append(f"low, high: the range [{low:g}, {high:g}] excludes the value {value:g}")
        if bad:
            problems += [f"{where}: {b}" for b in bad]
            continue
        assert name and date and value is not None and low is not None and high is not None
        seen.add(name)
        out.append(Observation(name, date, value, low, high, str(unit), str(source),
                               tuple(names), agg, frm, str(e.get("note", ""))))
    if problems:
        raise ObservationError(label, problems)
    return out
