"""Public record points a scenario's history is compared with: data files and their parser.

An observation file (TOML) lists `[[observation]]` entries, each a public figure with its
date, value, 90% range (or a relative tolerance), unit and source, and the simulated
daily series it is compared with and how that series is aggregated:

- ``value``: the series on the date;
- ``increase``: the series on the date minus the series on the day before ``from``
  (for running totals, e.g. chips shipped in a quarter);
- ``mean``: the mean of the series from ``from`` to the date;
- ``sum``: the sum of the daily series from ``from`` to the date (e.g. a year's spend);
- ``max``: the largest value of the series from ``from`` to the date (e.g. the busiest
  hour of a quarter).

``kind`` says what the figure is evidence of, so that a history is not read as stronger
than it is:

- ``independent``: a public figure that feeds no input of the scenario (a test);
- ``input-echo``: the same public figures as an input (it checks that the model gives
  its inputs back through its mechanics, not that the inputs are right);
- ``plan``: a stated plan the scenario's inputs were written to follow.

``data_date`` is when the source published the figure (the date of the data a reader can
find), ``date`` the day the figure is about.

``series`` is one series name or a list whose values are added (e.g. the chip states of a
generation). The file shipped for a scenario is ``<scenario name>.toml`` in this package.

Each entry is checked with the scenario's machinery (`entries.Entry`: no unknown keys, no
type coercion, finite numbers) and then against the run (its dates and series names).
Problems are reported together, one line each, naming the entry (by name, else by
position), the key with its line where the text shows it, and what is wrong; an unknown
key gets a "did you mean".
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from capsim.models import validation
from capsim.models.observations.entries import AGGREGATIONS, KINDS, Entry, Window, day
from capsim.models.scenario import ScenarioError
from capsim.models.scenario.errors import format_errors, line_prefix
from capsim.models.scenario.files import parse_toml
from pydantic import ValidationError

OBSERVATION_PACKAGE = "capsim.models.observations"
__all__ = ["AGGREGATIONS", "KINDS", "OBSERVATION_PACKAGE", "Observation", "ObservationError",
           "embedded", "parse", "read"]


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
    kind: str = "independent"
    data_date: dt.date | None = None

    def known_by(self, day: dt.date) -> bool:
        """True when the figure was public on `day`.

        It is about a day no later, and its data (``data_date``, else the day it is
        about) was published by then.
        """
        return self.date <= day and (self.data_date or self.date) <= day


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
        return str(p), validation.read_limited(p, "an observation file is a TOML file")
    except FileNotFoundError:
        raise ObservationError(str(p), ["file not found"]) from None
    except ValueError as exc:
        raise ObservationError(str(p), [str(exc)]) from None
    except OSError as exc:
        raise ObservationError(str(p), [f"cannot read: {exc.strerror or exc}"]) from None


def _entries(label: str, text: str) -> list[Any]:
    """The file's `[[observation]]` tables (as parsed, unchecked)."""
    try:
        data = parse_toml(label, text)
    except ScenarioError as exc:
        raise ObservationError(label, exc.problems) from None
    problems = []
    for key in data:
        if key != "observation":
            close = difflib.get_close_matches(key, ["observation"], n=1)
            problems.append(f"{line_prefix(text, (key,))}{key}: unknown key"
                            + (f"; did you mean {close[0]!r}?" if close else "")
                            + " (the file holds [[observation]] entries only)")
    entries = data.get("observation")
    if not isinstance(entries, list) or not entries:
        raise ObservationError(label, [*problems, "no [[observation]] entries"])
    if problems:
        raise ObservationError(label, problems)
    return entries


def _outside(e: dict, run: Window) -> bool:
    """Whether an entry is dated outside the run (its date, or its `from` when a date)."""
    date, frm = day(e.get("date")), day(e.get("from"))
    if not isinstance(date, dt.date):
        return False
    return run.outside(date) or (isinstance(frm, dt.date) and run.outside(frm))


def parse(label: str, text: str, series: list[str], start: dt.date, end: dt.date,
          drop_outside: bool = False) -> list[Observation]:
    """Parse and check an observation file against a run's series names and dates.

    With `drop_outside`, entries dated outside the run are left out instead of refused
    (a run cut short by `--set scenario.end=...` is scored on what it covers).

    Raises:
        ObservationError: one line per problem, naming the entry, the key (with its line
            where the text shows it) and what is wrong.
    """
    run = Window(frozenset(series), start, end)
    problems: list[str] = []
    out: list[Observation] = []
    seen: set[str] = set()
    for i, e in enumerate(_entries(label, text)):
        at = ("observation", i)
        if not isinstance(e, dict):
            problems.append(f"observation #{i + 1}: must be a table of keys (got {e!r:.80})")
            continue
        if drop_outside and _outside(e, run):
            continue
        name = e.get("name")
        where = f"observation {name!r}" if isinstance(name, str) and name else \
            f"observation #{i + 1}"
        try:
            entry = Entry.model_validate(e)
        except ValidationError as exc:
            problems += [f"{where}: {p}" for p in format_errors(exc, Entry, text, at)]
            continue
        bad = entry.problems(run)
        if entry.name in seen:
            bad.insert(0, ("name", "name: used by an earlier entry"))
        if bad:
            problems += [f"{where}: {line_prefix(text, (*at, key))}{problem}"
                         for key, problem in bad]
            continue
        seen.add(entry.name)
        low, high = entry.bounds()
        out.append(Observation(entry.name, entry.date, entry.value, low, high, entry.unit,
                               entry.source, tuple(entry.series), entry.aggregation,
                               entry.start, entry.note, entry.kind, entry.data_date))
    if problems:
        raise ObservationError(label, problems)
    return out
