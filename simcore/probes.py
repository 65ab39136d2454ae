"""Recorders: the event log of a replication."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EventLog:
    """Discrete events as (time in hours, kind, detail) tuples."""

    rows: list[tuple[float, str, str]] = field(default_factory=list)

    def log(self, t: float, kind: str, detail: str = "") -> None:
        """Append one event."""
        self.rows.append((float(t), kind, detail))

    def count(self, kind: str) -> int:
        """How many events of one kind were logged."""
        return sum(1 for _, k, _ in self.rows if k == kind)
