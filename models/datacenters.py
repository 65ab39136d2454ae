"""Datacenter campuses: buildings that power on, each adding facility MW.

A campus has buildings already energized at the start and new ones whose power-on time is
the later of (planned date + campus slip + i x interval) and the date its power path
(grid connection, transformers or on-site generation) is ready: requested + lead time.
All are shifted by the scenario's power-on-delay knob.
"""

from __future__ import annotations

import numpy as np
from capsim.models.scenario import Campus
from capsim.simcore.clock import Clock
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY


def power_on_times(campus: Campus, clock: Clock, rng: np.random.Generator,
                   delay_days: float = 0.0) -> tuple[float, np.ndarray]:
    """(MW per building, power-on hours of the new buildings) for one replication.

    Draws, in order: building MW, interval, campus slip, power-path lead time.
    """
    mw = float(campus.building_mw.sample(rng))
    if mw <= 0:
        raise ValueError(f"building_mw drew {mw}: must be > 0")
    interval = max(0.0, float(campus.interval_days.sample(rng)))
    slip = max(0.0, float(campus.slip_days.sample(rng)))
    first = clock.hours(campus.first_power_on) + slip * HOURS_PER_DAY
    times = first + np.arange(campus.new_buildings) * interval * HOURS_PER_DAY
    if campus.power_path is not None:
        lead_years = max(0.0, float(campus.power_path.lead_time_years.sample(rng)))
        ready = (clock.hours(campus.power_path.requested)
                 + lead_years * DAYS_PER_YEAR * HOURS_PER_DAY)
        times = np.maximum(times, ready)
    times = np.maximum(times + delay_days * HOURS_PER_DAY, 0.0)
    return mw, times
