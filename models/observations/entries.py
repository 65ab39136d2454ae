"""The `[[observation]]` table as a pydantic model, and the rules that need the run.

`Entry` holds what one table may say, checked on its own with the scenario's machinery
(frozen, no unknown keys, no type coercion, finite numbers). `Entry.problems` adds the
rules across keys and those that need the run it is compared with (its dates, its series
names); each problem is a (key, message) pair, so the caller can give its line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from capsim.models import kpis
from capsim.models.scenario.params import Frozen
from pydantic import AfterValidator, BeforeValidator, Field

Aggregation = Literal["value", "increase", "mean", "sum", "max"]
"""How a series is read against a figure (see the package docstring)."""
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
SPANNING = ("increase", "mean", "sum", "max")
"""Aggregations over a span of days: they need `from`."""

_POWER = re.compile(r"\b[kMG]W\b")
_NAMED = re.compile(r"\b(facility|IT)\b")
"""A unit in watts must name the power it counts: facility or IT."""

Kind = Literal["independent", "input-echo", "plan"]
"""What an observation is evidence of (see the package docstring)."""
KINDS: tuple[str, ...] = get_args(Kind)


def day(v: Any) -> Any:
    """A TOML date-time read as its day; any other value unchanged."""
    return v.date() if isinstance(v, dt.datetime) else v


def _non_blank(s: str) -> str:
    if not s.strip():
        raise ValueError("must be a non-empty string")
    return s


def _share(x: float) -> float:
    if not 0 < x < 1:
        raise ValueError("must be a share in (0, 1)")
    return x


def _names(v: Any) -> Any:
    # One series is written as a string, several as a list: both are read as a list.
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list):
        raise ValueError("must be a series name or a list of them")
    return v


Day = Annotated[dt.date, BeforeValidator(day)]
Text = Annotated[str, AfterValidator(_non_blank)]


@dataclass(frozen=True)
class Window:
    """The run an observation file is checked against: its series and its days."""

    series: frozenset[str]
    start: dt.date
    end: dt.date

    def outside(self, d: dt.date) -> bool:
        """Whether day `d` is outside the run."""
        return not self.start <= d <= self.end

    def span(self) -> str:
        """The run's days, for messages."""
        return f"({self.start} .. {self.end})"


class Entry(Frozen):
    """One `[[observation]]` table as written (`from` is the field `start`)."""

    name: Annotated[str, Field(min_length=1)]
    date: Day
    start: Day | None = Field(
        None, alias="from", description="first day of the span (aggregation increase or mean)")
    value: float
    low: float | None = Field(None, description="5th percentile of the figure")
    high: float | None = Field(None, description="95th percentile of the figure")
    tolerance: Annotated[float, AfterValidator(_share)] | None = Field(
        None, description="instead of low and high: value times (1 -+ tolerance)")
    unit: Text
    source: Text = Field(description="the public document the value comes from")
    series: Annotated[list[str], BeforeValidator(_names), Field(min_length=1)]
    aggregation: Aggregation = "value"
    kind: Kind = Field(description="independent (feeds no input), input-echo (the same "
                       "figures as an input) or plan (a stated plan the scenario follows)")
    data_date: Day | None = Field(
        None, description="when the source published the figure (its data's date)")
    note: str = ""

    def bounds(self) -> tuple[float, float]:
        """The 90% range: (low, high) as given, or from the tolerance."""
        if self.tolerance is not None:
            return self.value * (1 - self.tolerance), self.value * (1 + self.tolerance)
        assert self.low is not None and self.high is not None
        return self.low, self.high

    def problems(self, run: Window) -> list[tuple[str, str]]:
        """What is wrong across keys or against the run: (key, message) pairs."""
        bad: list[tuple[str, str]] = []
        if run.outside(self.date):
            bad.append(("date", f"date: {self.date} is outside the run {run.span()}"))
        if self.aggregation in SPANNING:
            if self.start is None:
                bad.append(("from", "from: required (a date) with aggregation "
                                    f"{self.aggregation!r}"))
            elif run.outside(self.start):
                bad.append(("from", f"from: {self.start} is outside the run {run.span()}"))
            elif self.start > self.date:
                bad.append(("from", f"from: {self.start} is after date {self.date}"))
        for n in self.series:
            if n not in run.series:
                close = difflib.get_close_matches(n, sorted(run.series), n=1)
                bad.append(("series", f"series: unknown series {n!r}"
                            + (f"; did you mean {close[0]!r}?" if close else "")))
        return bad + self._power_problems() + self._range_problems()

    def _power_problems(self) -> list[tuple[str, str]]:
        """A power figure names facility or IT power, and its series count the same."""
        if not _POWER.search(self.unit):
            return []
        named = _NAMED.search(self.unit)
        if named is None:
            return [("unit", f"unit: {self.unit!r} is power: say whether it is facility or IT "
                             "power (e.g. 'MW facility', 'MW IT')")]
        for n in self.series:
            m = kpis.lookup(n)
            if m is None:
                continue
            other = _NAMED.search(m.unit)
            if other is not None and other.group(1) != named.group(1):
                return [("series", f"series: {n!r} counts {m.unit} (not {named.group(1)} "
                                   "power, as the unit says)")]
        return []

    def _range_problems(self) -> list[tuple[str, str]]:
        if self.tolerance is not None:
            if self.low is not None or self.high is not None:
                return [("tolerance", "give a 90% range (low, high) or a tolerance, not both")]
            return []
        if self.low is None or self.high is None:
            return [("low" if self.low is None else "high",
                     "low, high: a 90% range (both numbers) or a tolerance is required")]
        if not self.low <= self.value <= self.high:
            return [("low", f"low, high: the range [{self.low:g}, {self.high:g}] excludes the "
                            f"value {self.value:g}")]
        return []
