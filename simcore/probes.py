"""Recorders: the event log of a replication."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


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
