"""The fleet's daily step skips work that cannot change the day (models/fleet.py).

A step does no placement pass unless something freed powered space or added waiting chips
since the last one, looks at waiting chips' and cohorts' ends of life only when the
earliest is due, and handles repairs apart only when some of them retire. These tests run the same
random fleet twice, once as it is and once with every shortcut defeated (every check made
every day, as the step did before), and require the same state, day by day.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from capsim.models.fleet import Fleet


def _fleet(seed: int) -> Fleet:
    return Fleet(["old", "mid", "new"], np.array([1.2, 1.5, 1.1]),
                 np.array([1.0, 3.0, 9.0]), mtbf_hours=24 * 40, repair_days=4,
                 life_days=30.5, horizon_days=200, rng=[np.random.default_rng([seed, g])
                                                        for g in range(3)],
                 chips_per_rack=np.array([1, 4, 8]), cloud_of=np.array([0, 0, 1]), n_clouds=2)


def _defeat_shortcuts(f: Fleet) -> None:
    """Make the next step do every check, as if anything could have changed."""
    f._place_dirty = True
    f.waiting_line._next_expiry = None
    f.cohorts.next_retire = -math.inf
    f._rr_any = True


def _run(seed: int, every_check: bool) -> list[np.ndarray]:
    f = _fleet(seed)
    events = np.random.default_rng(seed)  # the same events for both runs
    f.energize(0.3, 0)
    f.install_existing(0, 200, -events.uniform(0, 50, 200))
    f.evict_over_capacity()
    seen = []
    for day in range(180):
        if events.random() < 0.06:
            f.energize(float(events.uniform(0.01, 0.2)), int(events.integers(0, 2)))
        if events.random() < 0.3:
            g = int(events.integers(0, 3))
            n = int(events.integers(1, 60))
            f.ship(g, n)
            f.arrive(g, n)
        if events.random() < 0.05:
            f.retire_early(int(events.integers(0, 3)), int(events.integers(1, 30)))
        if every_check:
            _defeat_shortcuts(f)
        f.step(day)
        seen.append(np.concatenate([f.state.ravel(), f.retiring_by(day + 30.5),
                                    f.retired_waiting, f.retired_early]))
        assert (f.shipped == f.state.sum(axis=0)).all()
    return seen


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_skipping_idle_work_changes_no_day(seed):
    fast, full = _run(seed, False), _run(seed, True)
    for day, (a, b) in enumerate(zip(fast, full, strict=True)):
        np.testing.assert_array_equal(a, b, f"day {day}")
    # The runs exercise what the shortcuts skip: failures, retirements of both kinds,
    # chips left waiting for power.
    last = fast[-1]
    assert last[9:12].sum() > 0 and last[12:15].sum() > 0  # failed, retired
    assert sum(day[3:6].sum() > 0 for day in fast) > 20     # days with chips waiting


def test_the_runs_retire_waiting_chips_too():
    assert sum(_run(seed, False)[-1][-6:-3].sum() for seed in (2, 3, 4)) > 0


def test_chips_that_arrive_to_no_power_retire_at_the_end_of_their_life():
    f = _fleet(0)
    for day in range(10):
        f.step(day)  # nothing waits: no end of life is due
    f.ship(1, 12)
    f.arrive(1, 12)  # on day 9, never placed: life ends on day 39.5
    for day in range(10, 50):
        f.step(day)
        assert f.retired_waiting[1] == (12 if day >= 40 else 0), day


def _retiring_by_cohorts(f: Fleet, day: float) -> np.ndarray:
    """Chips whose life ends by `day`, counted cohort by cohort and waiting chip by chip."""
    out = np.zeros(len(f.generations), np.int64)
    last = f.cohorts.schedule.shape[1] - 1  # the column of cohorts that retire after the run
    for heap in f.cohorts.heaps:
        for d, g, n in heap:
            if d <= math.floor(day) and math.ceil(d) < last:
                out[g] += n
    for g, q in enumerate(f.waiting_line.queues):
        out[g] += sum(n for born, n in q if born + f.life_days <= day)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_chips_retiring_by_a_day_are_those_of_the_cohorts_and_the_waiting(seed):
    f = _fleet(seed)
    events = np.random.default_rng(seed)
    f.energize(0.3, 0)
    f.install_existing(0, 200, -events.uniform(0, 50, 200))
    f.evict_over_capacity()
    for day in range(180):
        if events.random() < 0.3:
            g, n = int(events.integers(0, 3)), int(events.integers(1, 60))
            f.ship(g, n)
            f.arrive(g, n)
        f.step(day)
        for ahead in (0.0, 0.5, 7.25, 30.5, 400.0):
            np.testing.assert_array_equal(f.retiring_by(day + ahead),
                                          _retiring_by_cohorts(f, day + ahead))
