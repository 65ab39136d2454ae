"""Recorders: daily series into preallocated arrays, and an event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class DailySeries:
    """Named daily series, preallocated for the whole horizon.

    Writing is `series.record(day, name=value, ...)`; unknown names are an error so a
    typo cannot silently create a new series.
    """

    def __init__(self, names: list[str], days: int, dtype=np.float64) -> None:
        if len(set(names)) != len(names):
            raise ValueError("series names must be unique")
        self.days = int(days)
        self._data = {n: np.full(days, np.nan, dtype=dtype) for n in names}

    @property
    def names(self) -> list[str]:
        """Names of the series in creation order."""
        return list(self._data)

    def record(self, day: int, **values: float) -> None:
        """Store the values of one day."""
        for name, value in values.items():
            try:
                self._data[name][day] = value
            except KeyError:
                raise KeyError(f"unknown series {name!r}; known: {', '.join(self._data)}") from None

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name]

    def as_dict(self) -> dict[str, np.ndarray]:
        """The arrays themselves (not copies), keyed by name."""
        return dict(self._data)


class Event(NamedTuple):
    """One discrete event: when, what, and its structured facts beside the text."""

    hour: float
    kind: str
    detail: str = ""
    subject: str = ""     # what the event is about (a campus, a generation, a tranche)
    amount: float = float("nan")
    unit: str = ""        # unit of `amount`


@dataclass
class EventLog:
    """Discrete events, in the order they were logged."""

    rows: list[Event] = field(default_factory=list)

    def log(self, t: float, kind: str, detail: str = "", *, subject: str = "",
            amount: float = float("nan"), unit: str = "") -> None:
        """Append one event; `subject`, `amount` and `unit` are its facts as fields."""
        self.rows.append(Event(float(t), kind, detail, subject, float(amount), unit))

    def count(self, kind: str) -> int:
        """How many events of one kind were logged."""
        return sum(1 for e in self.rows if e.kind == kind)
