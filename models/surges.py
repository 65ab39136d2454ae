"""Demand surges: random (viral, adoption) and scheduled (model launches), as SimPy processes.

Each surge adds `magnitude` x shape(t) to a demand multiplier: shape ramps linearly to 1
over `ramp_days`, then halves every `halflife_days`. The intensity knob scales magnitudes
after they are drawn, so runs that differ only in intensity share every random draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models.scenario import Surges
from capsim.simcore.clock import HOURS_PER_DAY


@dataclass
class Surge:
    """One surge: start hour, peak magnitude, ramp and half-life in hours, kind."""

    t0: float
    magnitude: float
    ramp_h: float
    halflife_h: float
    kind: str
    target: str = "all"  # "all", "consumer" or "enterprise"

    def shape(self, t: np.ndarray) -> np.ndarray:
        """0 before the start, a linear ramp to 1, then exponential decay."""
        x = t - self.t0
        up = np.clip(x / self.ramp_h, 0.0, 1.0)
        down = np.exp2(-np.maximum(x - self.ramp_h, 0.0) / self.halflife_h)
        return np.where(x < 0, 0.0, up * down)

    def over(self, t: float) -> bool:
        """True once the surge has decayed below 0.1% of its peak."""
        return t > self.t0 + self.ramp_h + 10 * self.halflife_h


class SurgeProcess:
    """SimPy component: starts surges at random times and at launch dates."""

    name = "surges"

    def __init__(self, s: Surges, launch_hours: list[float], rng_random: np.random.Generator,
                 rng_launch: np.random.Generator) -> None:
        self.s = s
        self.k = s.intensity_multiplier
        self.launch_hours = sorted(launch_hours)
        self.rng = rng_random
        self.rng_launch = rng_launch
        self.rate_per_hour = max(0.0, float(s.rate_per_year.sample(rng_random))) / (365.25 * 24)
        self.p_consumer = float(np.clip(s.random_consumer_share.sample(rng_random), 0, 1))
        self.active: list[Surge] = []
        self.started: list[Surge] = []

    def start(self, sim) -> None:
        """Register the random and the launch processes."""
        self.sim = sim
        sim.env.process(self._random())
        sim.env.process(self._launches())

    def _new(self, t: float, magnitude: float, rng: np.random.Generator, kind: str,
             target: str = "all") -> None:
        ramp = max(0.1, float(self.s.ramp_days.sample(rng))) * HOURS_PER_DAY
        half = max(0.1, float(self.s.halflife_days.sample(rng))) * HOURS_PER_DAY
        surge = Surge(t, self.k * max(0.0, magnitude), ramp, half, kind, target)
        self.active.append(surge)
        self.started.append(surge)
        self.sim.events.log(t, f"surge.{kind}", f"target={target} magnitude={surge.magnitude:.3f}",
                            subject=target, amount=surge.magnitude,
                            unit="extra share of demand at the peak")

    def _random(self):
        env = self.sim.env
        if self.rate_per_hour <= 0:
            return
        while True:
            yield env.timeout(self.rng.exponential(1.0 / self.rate_per_hour))
            target = "consumer" if self.rng.random() < self.p_consumer else "enterprise"
            self._new(env.now, float(self.s.magnitude.sample(self.rng)), self.rng, "random", target)

    def _launches(self):
        env = self.sim.env
        t_last = None
        for t in self.launch_hours:
            if t >= 0:
                yield env.timeout(t - env.now)
                self._new(env.now, float(self.s.launch_magnitude.sample(self.rng_launch)),
                          self.rng_launch, "launch")
            t_last = t
        t_next = max(t_last if t_last is not None else 0.0, env.now)
        while True:
            every_days = float(self.s.launch_every_days.sample(self.rng_launch))
            t_next += max(1.0, every_days) * HOURS_PER_DAY
            yield env.timeout(t_next - env.now)
            self._new(env.now, float(self.s.launch_magnitude.sample(self.rng_launch)),
                      self.rng_launch, "launch")

    def multiplier(self, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(enterprise, consumer) demand multipliers at the given hours (1 = no surge).

        Drops surges that have decayed.
        """
        now = float(hours[0])
        self.active = [s for s in self.active if not s.over(now)]
        ent = np.ones_like(hours)
        con = np.ones_like(hours)
        for s in self.active:
            bump = s.magnitude * s.shape(hours)
            if s.target != "consumer":
                ent += bump
            if s.target != "enterprise":
                con += bump
        return ent, con
