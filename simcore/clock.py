"""Calendar dates <-> simulation hours.

Simulation time is a float number of hours since the scenario's start date (midnight UTC).
Supply events happen at any hour; demand and service are evaluated per day, so most
callers need the day index of a time and the dates of the daily grid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from capsim.simcore.units import HOURS_PER_DAY, SECONDS_PER_HOUR

SimTime = float
"""Hours since the start date."""



def decimal_year(d: dt.date | np.datetime64) -> float:
    """A date as a decimal year: 2026-04-01 -> 2026.2466 (day of year over its length)."""
    if isinstance(d, np.datetime64):
        d = dt.date.fromisoformat(str(d.astype("datetime64[D]")))
    return d.year + (d.timetuple().tm_yday - 1) / (366 if d.year % 4 == 0 else 365)


def parse_date(value: str | dt.date) -> dt.date:
    """Return a `datetime.date` from an ISO string (YYYY-MM-DD) or a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


@dataclass(frozen=True)
class Clock:
    """Maps calendar dates onto simulation hours for one run.

    Attributes:
        start: first day of the simulation (time 0.0 is its midnight).
        days: length of the horizon in whole days.
    """

    start: dt.date
    days: int

    @classmethod
    def between(cls, start: str | dt.date, end: str | dt.date) -> Clock:
        """A clock from `start` (inclusive) to `end` (exclusive)."""
        s, e = parse_date(start), parse_date(end)
        if e <= s:
            raise ValueError(f"end(={e}) must be after start(={s}).")
        return cls(s, (e - s).days)

    @property
    def horizon(self) -> SimTime:
        """The horizon in hours."""
        return self.days * HOURS_PER_DAY

    @property
    def end(self) -> dt.date:
        """The first day after the horizon."""
        return self.start + dt.timedelta(days=self.days)

    def hours(self, when: str | dt.date | dt.datetime) -> SimTime:
        """Simulation time of a date (midnight) or a datetime (naive, taken as UTC)."""
        if isinstance(when, dt.datetime):
            base = dt.datetime.combine(self.start, dt.time())
            return (when.replace(tzinfo=None) - base).total_seconds() / SECONDS_PER_HOUR
        return (parse_date(when) - self.start).days * HOURS_PER_DAY

    def datetime(self, t: SimTime) -> dt.datetime:
        """Calendar datetime of simulation time `t`."""
        return dt.datetime.combine(self.start, dt.time()) + dt.timedelta(hours=float(t))

    def date(self, t: SimTime) -> dt.date:
        """Calendar date that contains simulation time `t`."""
        return self.datetime(t).date()

    def dates(self) -> np.ndarray:
        """The daily grid as numpy datetime64[D] values, one per simulated day."""
        return np.datetime64(self.start, "D") + np.arange(self.days)
