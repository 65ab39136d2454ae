"""Chips in their useful life: installed by the day they retire, and those waiting.

`WaitingLine` holds the chips delivered and waiting for powered space.

A cohort is chips of one generation that retire on the same (fractional) day: the end of
their useful life from delivery. The fleet asks two questions of them, each fast in one
view, so `Cohorts` keeps both and updates them together:

- the heap of (retire day, generation, chips) per generation, with the earliest retire
  day of all (a day on which no cohort retires costs one comparison; retiring early and
  evicting take the oldest or the youngest cohorts with their exact days);
- counts per generation by the step that retires them (`schedule`; the last column is
  every cohort that retires after the run), so that chips retiring by a day are one sum
  along a row (the power-aware policy asks this on every look).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator

import numpy as np

Cohort = tuple[float, int, int]
"""(retire day, generation, chips)."""


class Cohorts:
    """The installed chips' cohorts of each of `n` generations over `horizon_days`."""

    def __init__(self, n: int, horizon_days: int) -> None:
        self.heaps: list[list[Cohort]] = [[] for _ in range(n)]
        self.next_retire = math.inf  # the earliest retire day of any cohort
        self.schedule = np.zeros((n, horizon_days + 2), np.int64)

    def column(self, day: float) -> int:
        """Column of `schedule` for a retire day: the step that retires it (clipped)."""
        return min(max(math.ceil(day), 0), self.schedule.shape[1] - 1)

    def push(self, day: float, g: int, chips: int) -> None:
        """Chips of generation g that retire on `day`."""
        heapq.heappush(self.heaps[g], (day, g, chips))
        self.next_retire = min(self.next_retire, day)
        self.schedule[g, self.column(day)] += chips

    def _set(self, g: int, cohorts: list[Cohort]) -> None:
        """Replace generation g's cohorts and update the earliest retire day."""
        heapq.heapify(cohorts)
        self.heaps[g] = cohorts
        self.next_retire = min((h[0][0] for h in self.heaps if h), default=math.inf)

    def drop_youngest(self, g: int, chips: int) -> list[tuple[float, int]]:
        """Forget `chips` chips of generation g, the youngest: their (retire day, chips)."""
        mine = sorted(self.heaps[g], reverse=True)
        kept, dropped = [], []
        for day, gen, n in mine:
            take = min(n, chips)
            chips -= take
            if take:
                dropped.append((day, take))
                self.schedule[gen, self.column(day)] -= take
            if n - take:
                kept.append((day, gen, n - take))
        self._set(g, kept)
        return dropped

    def take_oldest(self, g: int, chips: int) -> int:
        """Forget up to `chips` chips of generation g, the oldest first; returns how many."""
        mine = sorted(self.heaps[g])
        left, kept = chips, []
        for i, (day, gen, n) in enumerate(mine):
            if not left:  # the younger cohorts stay as they are
                kept += mine[i:]
                break
            take = min(n, left)
            left -= take
            self.schedule[gen, self.column(day)] -= take
            if n - take:
                kept.append((day, gen, n - take))
        self._set(g, kept)
        return chips - left

    def pop_due(self, day: int) -> Iterator[Cohort]:
        """The cohorts whose retire day is `day` or earlier, removed as they are yielded."""
        for h in self.heaps:
            while h and h[0][0] <= day:
                d, g, c = heapq.heappop(h)
                self.schedule[g, self.column(d)] -= c
                yield d, g, c
        self.next_retire = min((h[0][0] for h in self.heaps if h), default=math.inf)

    def ending(self, first: int, day: float) -> np.ndarray:
        """Chips per generation retiring by `day`, from the step after `first` - 1 on.

        Columns before the last step's day were emptied as their cohorts retired. The last
        column gathers every cohort that retires after the run, on days it does not keep:
        a day past the run counts none of them as retiring (not all of them).
        """
        stop = min(max(math.floor(day), 0) + 1, self.schedule.shape[1] - 1)
        return np.add.reduce(self.schedule[:, first:max(first, stop)], axis=1)


class WaitingLine:
    """Delivered chips waiting for powered space, per generation, oldest first.

    Each generation's queue holds [delivery day, chips]; a chip whose useful life (`life`
    days from delivery) runs out while it waits retires without being placed. The first
    day a waiting chip's life runs out is kept (`next_expiry`; None when the queues
    changed since it was computed), so that most days pay one comparison.
    """

    def __init__(self, n: int, life_days: float) -> None:
        self.queues: list[deque[list]] = [deque() for _ in range(n)]
        self.life = life_days
        self._next_expiry: float | None = math.inf

    def add(self, g: int, day: float, chips: int) -> None:
        """Chips of generation g delivered on `day` (the newest)."""
        self.queues[g].append([day, chips])
        self._next_expiry = None

    def put_back(self, g: int, cohorts: list[tuple[float, int]]) -> None:
        """Chips taken out of service that keep their age: (delivery day, chips)."""
        q = self.queues[g]
        for born, m in cohorts:
            q.appendleft([born, m])
        self.queues[g] = deque(sorted(q))
        self._next_expiry = None

    def take(self, g: int, chips: int) -> list[tuple[float, int]]:
        """Take `chips` waiting chips of generation g, oldest first: (delivery day, chips)."""
        q, out = self.queues[g], []
        while chips > 0:
            entry = q[0]
            m = min(chips, entry[1])
            out.append((entry[0], m))
            entry[1] -= m
            chips -= m
            if entry[1] == 0:
                q.popleft()
        self._next_expiry = None
        return out

    def expiring(self, day: int) -> bool:
        """Whether some waiting chip's life runs out by `day`."""
        if self._next_expiry is None:
            self._next_expiry = min((q[0][0] + self.life for q in self.queues if q),
                                    default=math.inf)
        return self._next_expiry <= day

    def expire(self, day: int) -> Iterator[tuple[int, int]]:
        """Remove the chips whose life has run out by `day`: (generation, chips)."""
        for g, q in enumerate(self.queues):
            while q and q[0][0] + self.life <= day:
                _, n = q.popleft()
                yield g, n
        self._next_expiry = None

    def ending(self, day: float) -> list[int]:
        """Waiting chips per generation whose life ends by `day`."""
        out = [0] * len(self.queues)
        for g, q in enumerate(self.queues):
            for born, n in q:
                if born + self.life > day:
                    break
                out[g] += n
        return out
