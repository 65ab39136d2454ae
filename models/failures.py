"""Failures and repairs of installed chips: daily draws, repairs due on a later day.

Each day every healthy installed chip fails with probability 24 h / MTBF (a binomial draw
per generation, from the generation's own failure stream, so that each generation's
failures are the same whatever other generations or clouds a scenario has) and comes
back after the repair time. Repairs finishing on each day are kept per generation.
"""

from __future__ import annotations

import numpy as np
from capsim.simcore.units import HOURS_PER_DAY


class Failures:
    """The failure draws and the repair schedule of a fleet's generations.

    Args:
        n: generations.
        mtbf_hours: mean time between failures of one chip.
        repair_days: days a failed chip stays out of service (at least 1).
        horizon_days: length of the run.
        rng: the failure stream of each generation (a list), or one stream for all.
    """

    def __init__(self, n: int, mtbf_hours: float, repair_days: int, horizon_days: int,
                 rng: np.random.Generator | list[np.random.Generator]) -> None:
        self.p_fail_day = min(1.0, HOURS_PER_DAY / mtbf_hours)
        self.repair_days = max(1, int(repair_days))
        self.rngs = list(rng) if isinstance(rng, list | tuple) else None
        self.rng = rng if not isinstance(rng, list | tuple) else None
        if self.rngs is not None and len(self.rngs) != n:
            raise ValueError(f"{len(self.rngs)} failure streams for {n} generations")
        self._binomial = [r.binomial for r in self.rngs] if self.rngs is not None else []
        # Repairs finishing on each day, per generation (None: none), sized past the horizon
        # so no bounds checks; plain lists, because a day's failures and repairs are a
        # handful of numbers, cheaper in Python than as small arrays.
        self.due: list[list[int] | None] = [None] * (horizon_days + self.repair_days + 2)

    def one_stream(self, day: int, installed: np.ndarray, failed: np.ndarray) -> None:
        """Today's failures from the one stream (repaired chips already back)."""
        assert self.rng is not None
        new = self.rng.binomial(installed, self.p_fail_day)
        installed -= new
        failed += new
        self.due[day + self.repair_days] = new.tolist()

    def per_generation(self, day: int, back: list[int] | None, installed: np.ndarray,
                       failed_now: np.ndarray) -> None:
        """Today's failures, each generation from its own stream, with `back` returning.

        `back` (or None): repaired chips returning today, healthy before the draw. One
        pass over the generations in plain Python numbers, then one write of each row: a
        day's counts are a handful of numbers, cheaper than small-array operations.
        """
        p = self.p_fail_day
        healthy, failed = installed.tolist(), failed_now.tolist()
        drawn = [0] * len(healthy)
        got = False
        for g, draw in enumerate(self._binomial):
            n = healthy[g]
            if back is not None and back[g]:
                n += back[g]
                failed[g] -= back[g]
            if n:  # a binomial draw of zero chips takes nothing from its stream: skip it
                d = draw(n, p)
                if d:
                    drawn[g], got = d, True
                    n -= d
                    failed[g] += d
            healthy[g] = n
        if got:  # each day's failures come back on one later day, so the row is still empty
            self.due[day + self.repair_days] = drawn
        elif back is None:
            return
        installed[:] = healthy
        failed_now[:] = failed
