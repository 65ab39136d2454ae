"""The daily step of a replication: a SimPy component that moves the fleet every day.

Once a day, at midday, the fleet steps (repairs, failures, retirements, placement), the
day is recorded (`models.record`), tranches are checked when their milestone is in reach
and customers review their service at the end of each review period (`models.ledger`).
"""

from __future__ import annotations

from collections.abc import Generator

from capsim.models.fleet import Fleet
from capsim.models.ledger import CustomerReviews, TrancheWatch
from capsim.models.record import FleetRecord
from capsim.simcore.simulation import Simulation, advance
from capsim.simcore.units import HOURS_PER_DAY


class DailyLoop:
    """Component: the daily step (see the module docstring).

    Args:
        fleet: the chips and the powered space.
        record: what the step records each day.
        tranches: fires investment tranches.
        reviews: customers' reviews of their service.
    """

    name = "tick"

    def __init__(self, fleet: Fleet, record: FleetRecord, tranches: TrancheWatch,
                 reviews: CustomerReviews) -> None:
        self.fleet, self.record, self.tranches, self.reviews = fleet, record, tranches, reviews

    def start(self, sim: Simulation) -> None:
        """Register the daily process."""
        sim.env.process(self._run(sim))

    def _run(self, sim: Simulation) -> Generator:
        env, days = sim.env, self.record.days
        rec = self.record.recorder()
        record_chips, record_rest = rec.chips, rec.rest
        yield env.timeout(HOURS_PER_DAY / 2)
        # The days that end a review period, and each day's bound on the run-rate: most
        # days need neither a review nor a tranche check, and pay one lookup for each.
        reviews = self.reviews.days()
        watch, step = self.tranches, self.fleet.step
        bound: list[float] = []
        for day in range(days):
            step(day)
            # The record of the day's chips comes before the checks (they serve days up to
            # today from it); the rest of the day's record after them.
            record_chips(day)
            if not day:
                watch.check(day)  # computes the bounds
                bound = watch.bounds()
            elif bound[day] >= watch.milestone or day == watch.deal_day:
                watch.check(day)
            if reviews[day]:
                self.reviews.review(day)
            record_rest(day, watch.received)
            # The next day at once when nothing else happens before its step.
            if not advance(env, env.now + HOURS_PER_DAY):
                yield env.timeout(HOURS_PER_DAY)
