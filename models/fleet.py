"""The fleet: chips in transit, waiting for powered space, installed, failed, retired.

State is integer chip counts per generation, so conservation is exact:
shipped = in transit + waiting + installed + failed + retired, on every day and for every
generation. Each generation belongs to one cloud and is placed only into that cloud's
powered space. Power is facility MW (PUE included): a cloud's occupied MW = its
(installed + failed) chips x facility kW per chip / 1000, never above its energized MW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from capsim.models.cohorts import Cohorts, WaitingLine
from capsim.models.failures import Failures
from capsim.models.scenario import Fleet as FleetSection
from capsim.simcore.streams import Streams
from capsim.simcore.units import DAYS_PER_YEAR

STATES = ("in_transit", "waiting", "installed", "failed", "retired")
"""Chip states after shipment, in life order."""


@dataclass(frozen=True)
class FleetDraw:
    """One replication's servers: overhead, failures, repair, life, integration."""

    server_overhead: float
    mtbf_hours: float
    repair_hours: float
    life_days: float
    integration_days: float

    @classmethod
    def draw(cls, f: FleetSection, streams: Streams) -> FleetDraw:
        """From the stream "fleet" (in field order) and "fleet.integration"."""
        rng = streams.rng("fleet")
        overhead = float(f.server_overhead.sample(rng))
        mtbf = float(f.mtbf_hours.sample(rng))
        repair = float(f.repair_hours.sample(rng))
        life = float(f.useful_life_years.sample(rng)) * DAYS_PER_YEAR
        integration = float(f.integration_days.sample(streams.rng("fleet.integration")))
        return cls(overhead, mtbf, repair, life, integration)


class Fleet:
    """Chip states per generation and the powered space they occupy, per cloud.

    Args:
        generations: generation names.
        kw_per_chip: facility kW per chip for each generation.
        tokens_per_s: tokens/s per healthy chip for each generation.
        mtbf_hours: mean time between failures of one chip.
        repair_days: days a failed chip stays out of service.
        life_days: useful life from delivery: a chip waiting for powered space ages too, and
            retires from waiting when its life is over.
        horizon_days: length of the run.
        rng: the failure stream of each generation (a list), or one stream for all. One
            stream per generation keeps each generation's failures the same whatever
            other generations (or clouds) the scenario has.
        chips_per_rack: chips placed together (whole racks) for each generation.
        cloud_of: the cloud index of each generation (default: all in cloud 0).
        n_clouds: how many clouds there are.
    """

    def __init__(self, generations: list[str], kw_per_chip: np.ndarray, tokens_per_s: np.ndarray,
                 mtbf_hours: float, repair_days: int, life_days: float, horizon_days: int,
                 rng: np.random.Generator | list[np.random.Generator],
                 chips_per_rack: np.ndarray | None = None,
                 cloud_of: np.ndarray | None = None, n_clouds: int = 1) -> None:
        n = len(generations)
        self.generations = list(generations)
        self.kw = np.asarray(kw_per_chip, float)
        self.tps = np.asarray(tokens_per_s, float)
        self.rack = (np.ones(n, np.int64) if chips_per_rack is None
                     else np.asarray(chips_per_rack, np.int64))
        self.cloud = np.zeros(n, np.int64) if cloud_of is None else np.asarray(cloud_of, np.int64)
        self.n_clouds = int(n_clouds)
        self.failures = Failures(n, mtbf_hours, repair_days, horizon_days, rng)
        self.life_days = float(life_days)
        self.shipped = np.zeros(n, np.int64)
        # Chips by state (rows in STATES order) x generation; the named rows are views of it,
        # updated in place, so that a day's state is recorded in one copy.
        self.state = np.zeros((len(STATES), n), np.int64)
        self.in_transit, self.waiting, self.installed, self.failed, self.retired = self.state
        self.energized = np.zeros(self.n_clouds)
        # Installed chips by the day they retire (`models.cohorts`).
        self.cohorts = Cohorts(n, horizon_days)
        # Failed chips of each generation whose cohort retired while they were in repair.
        self._retire_on_return = np.zeros(n, np.int64)
        self._rr_any = False  # whether any are
        self.waiting_line = WaitingLine(n, self.life_days)
        # Whether placement could put a chip now that it could not at its last try: set by
        # whatever frees powered space or adds waiting chips. A placement that leaves chips
        # waiting leaves no room for a rack of any of them, so trying again before
        # something changes places nothing.
        self._place_dirty = True
        self._day = 0.0  # the day of the last step: deliveries are dated by it
        self.retired_waiting = np.zeros(n, np.int64)  # chips whose life ran out while waiting
        self.retired_early = np.zeros(n, np.int64)  # chips retired early to make room
        # Newest generation first: it gives the most tokens per MW of scarce power.
        self._order = np.argsort(-(self.tps / self.kw), kind="stable")
        self._order_l, self._cloud_l = self._order.tolist(), self.cloud.tolist()
        self._kw_l, self._rack_l = self.kw.tolist(), self.rack.tolist()

    # -- events ---------------------------------------------------------------------
    def ship(self, g: int, chips: int) -> None:
        """Chips of generation g leave the supplier: in transit and integration."""
        self.shipped[g] += chips
        self.in_transit[g] += chips

    def arrive(self, g: int, chips: int) -> None:
        """Integrated racks of generation g arrive and wait for powered space."""
        if chips > self.in_transit[g]:
            raise ValueError(f"{chips} chips of {self.generations[g]} arrive but only "
                             f"{self.in_transit[g]} are in transit")
        self.in_transit[g] -= chips
        self.waiting[g] += chips
        self.waiting_line.add(g, self._day, chips)
        self._place_dirty = True

    def energize(self, mw: float, cloud: int = 0) -> None:
        """A building of `cloud` powers on."""
        self.energized[cloud] += mw
        self._place_dirty = True

    def install_existing(self, g: int, chips: int, install_days: np.ndarray) -> None:
        """Chips already installed before the start, with their (negative) install days."""
        self.shipped[g] += chips
        self.installed[g] += chips
        if not chips:
            return
        # Chips per retirement day (whole days), in day order: counts per day offset.
        day = np.floor(install_days + self.life_days).astype(np.int64)
        first = int(day.min())
        counts = np.bincount(day - first)
        for k in np.flatnonzero(counts):
            self.cohorts.push(float(first + k), g, int(counts[k]))

    def evict_over_capacity(self) -> None:
        """Move installed chips back to waiting where a cloud's power is exceeded.

        Move installed chips back to waiting where a cloud's power is exceeded (used at
        the start, when the installed base can exceed the powered space), least efficient
        chips first.
        """
        over = self.occupied_kw_by_cloud() - self.energized * 1000
        for g in self._order[::-1]:
            c = self.cloud[g]
            if over[c] <= 0:
                continue
            n = int(min(self.installed[g], np.ceil(over[c] / self.kw[g])))
            self.installed[g] -= n
            self.waiting[g] += n
            over[c] -= n * self.kw[g]
            # They keep their age: delivered at their retirement day less the life.
            self.waiting_line.put_back(int(g), [
                (day - self.life_days, m)
                for day, m in sorted(self.cohorts.drop_youngest(int(g), n))])
        self._place_dirty = True

    def retire_early(self, g: int, chips: int) -> int:
        """Retire up to `chips` healthy installed chips of generation g now, oldest first.

        Returns how many retired; their powered space is free for the next placement.
        """
        chips = int(min(chips, self.installed[g]))
        if chips <= 0:
            return 0
        done = self.cohorts.take_oldest(g, chips)
        if done:
            self._place_dirty = True
        self.installed[g] -= done
        self.retired[g] += done
        self.retired_early[g] += done
        return done

    def retiring_by(self, day: float) -> np.ndarray:
        """Chips per generation, installed or waiting, whose life ends by `day`."""
        out = self.cohorts.ending(max(0, int(self._day) - 1), day)
        for g, n in enumerate(self.waiting_line.ending(day)):
            if n:
                out[g] += n
        return out

    # -- state ----------------------------------------------------------------------
    @property
    def placement_order(self) -> np.ndarray:
        """Generations by tokens per facility MW, best first: the order of placement."""
        return self._order

    def occupied_kw_by_cloud(self) -> np.ndarray:
        """Facility kW taken by installed and failed chips, per cloud."""
        return np.bincount(self.cloud, (self.installed + self.failed) * self.kw,
                           minlength=self.n_clouds)

    # -- daily step -----------------------------------------------------------------
    def step(self, day: int) -> None:
        """One day: repairs come back, failures, retirements, then placement.

        Work that cannot change anything today is skipped (no repairs due, no cohort or
        waiting chip at the end of its life, nothing new to place); the failure draws are
        the same on every day, in the same order, from the same streams.
        """
        self._day = float(day)
        # Repairs due today come back: `back` is applied together with today's failures
        # (one update of the healthy and failed counts), unless some of them retire.
        back = self.failures.due[day]
        if back is not None and self._rr_any:
            self._return_repaired(np.array(back, np.int64))
            back = None
        if self.failures.p_fail_day > 0:
            self._fail(day, back)
        elif back is not None:
            self._return_repaired(np.array(back, np.int64))
        if self.cohorts.next_retire <= day:
            self._retire_cohorts(day)
        if self.waiting_line.expiring(day):
            self._expire_waiting(day)
        if self._place_dirty:
            self._place_dirty = False
            if self.waiting.any():
                self.place(day)

    def _return_repaired(self, back: np.ndarray) -> None:
        """Repaired chips come back; those whose cohort retired meanwhile retire now."""
        self.failed -= back
        gone = np.minimum(back, self._retire_on_return)
        if gone.any():
            self._retire_on_return -= gone
            self._rr_any = bool(self._retire_on_return.any())
            self.retired += gone
            self._place_dirty = True
        self.installed += back - gone

    def _fail(self, day: int, back: list[int] | None) -> None:
        """Healthy chips fail today and go out for repair (`back`: repairs returning)."""
        fs = self.failures
        if fs.rngs is None:
            if back is not None:
                self._return_repaired(np.array(back, np.int64))
            fs.one_stream(day, self.installed, self.failed)
        else:
            fs.per_generation(day, back, self.installed, self.failed)

    def _retire_cohorts(self, day: int) -> None:
        """Cohorts whose life ends by `day` retire from service."""
        for _, g, c in self.cohorts.pop_due(day):
            # A cohort retires from service: healthy chips at once, and as many chips of
            # the generation as are out for repair when they come back (the fleet does not
            # track which cohort a failed chip belongs to; healthy ones go first).
            take = min(c, self.installed[g])
            self.installed[g] -= take
            self.retired[g] += take
            later = min(c - take, self.failed[g] - self._retire_on_return[g])
            if later:
                self._retire_on_return[g] += later
                self._rr_any = True
        self._place_dirty = True

    def _expire_waiting(self, day: int) -> None:
        """Waiting chips whose useful life has run out retire without being placed."""
        for g, n in self.waiting_line.expire(day):
            self.waiting[g] -= n
            self.retired[g] += n
            self.retired_waiting[g] += n
        self._place_dirty = True

    def place(self, day: int) -> None:
        """Put waiting chips into their cloud's free powered space.

        Put waiting chips into their cloud's free powered space in whole racks, best
        tokens per MW first.

        The last rack of a generation may be partly filled when fewer chips are waiting.
        """
        # Plain Python numbers: a handful of generations and clouds.
        free_kw = (self.energized * 1000.0 - self.occupied_kw_by_cloud()).tolist()
        waiting, kw, rack = self.waiting.tolist(), self._kw_l, self._rack_l
        for g in self._order_l:
            c = self._cloud_l[g]
            if waiting[g] == 0 or free_kw[c] <= 0:
                continue
            racks = math.floor(free_kw[c] / (kw[g] * rack[g]) + 1e-9)
            n = min(waiting[g], racks * rack[g])
            if n <= 0:
                continue
            self.waiting[g] -= n
            self.installed[g] += n
            free_kw[c] -= n * kw[g]
            for born, m in self.waiting_line.take(g, n):
                self.cohorts.push(born + self.life_days, g, m)
