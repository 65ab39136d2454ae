"""Demand surges: random (viral, adoption) and scheduled (model launches).

Each surge adds `magnitude` x shape(t) to a demand multiplier: shape ramps linearly to 1
over `ramp_days`, then halves every `halflife_days`. The intensity knob scales magnitudes
after they are drawn, so runs that differ only in intensity share every random draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models.scenario import Surges
from capsim.simcore.units import HOURS_PER_DAY, HOURS_PER_YEAR


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
        return _shape(t - self.t0, self.ramp_h, self.halflife_h)

    def over(self, t: float) -> bool:
        """True once the surge has decayed below 0.1% of its peak."""
        return t > self.t0 + self.ramp_h + 10 * self.halflife_h


def _shape(x: np.ndarray, ramp_h: np.ndarray | float, halflife_h: np.ndarray | float
           ) -> np.ndarray:
    """`Surge.shape` at x hours after the start (elementwise, for one surge or many)."""
    up = np.clip(x / ramp_h, 0.0, 1.0)
    down = np.exp2(-np.maximum(x - ramp_h, 0.0) / halflife_h)
    return np.where(x < 0, 0.0, up * down)


class SurgeProcess:
    """Component: the surges of one replication, random and at launch dates.

    Surges depend on nothing else in the model, so the whole schedule is drawn when the
    replication starts (each kind from its own stream, in the order a SimPy process would
    draw it) and the demand multipliers of every hour come from one vectorized pass.
    """

    name = "surges"

    def __init__(self, s: Surges, launch_hours: list[float], rng_random: np.random.Generator,
                 rng_launch: np.random.Generator) -> None:
        self.s = s
        self.k = s.intensity_multiplier
        self.launch_hours = sorted(launch_hours)
        self.rng = rng_random
        self.rng_launch = rng_launch
        self.rate_per_hour = max(0.0, float(s.rate_per_year.sample(rng_random))) / HOURS_PER_YEAR
        self.p_consumer = float(np.clip(s.random_consumer_share.sample(rng_random), 0, 1))
        self.started: list[Surge] = []

    def start(self, sim) -> None:
        """Draw every surge that starts before the horizon and log it."""
        horizon = sim.clock.horizon
        surges = self._random(horizon) + self._launches(horizon)
        self.started = sorted(surges, key=lambda u: u.t0)  # stable: ties keep their kind order
        for u in self.started:
            sim.events.log(u.t0, f"surge.{u.kind}", f"target={u.target} "
                           f"magnitude={u.magnitude:.3f}", subject=u.target, amount=u.magnitude,
                           unit="extra share of demand at the peak")

    def _new(self, t: float, magnitude: float, rng: np.random.Generator, kind: str,
             target: str = "all") -> Surge:
        ramp = max(0.1, float(self.s.ramp_days.sample(rng))) * HOURS_PER_DAY
        half = max(0.1, float(self.s.halflife_days.sample(rng))) * HOURS_PER_DAY
        return Surge(t, self.k * max(0.0, magnitude), ramp, half, kind, target)

    def _random(self, horizon: float) -> list[Surge]:
        """Random surges: a Poisson process, each aimed at consumers or enterprises."""
        out: list[Surge] = []
        if self.rate_per_hour <= 0:
            return out
        t = 0.0
        while True:
            t += self.rng.exponential(1.0 / self.rate_per_hour)
            if t >= horizon:
                return out
            target = "consumer" if self.rng.random() < self.p_consumer else "enterprise"
            out.append(self._new(t, float(self.s.magnitude.sample(self.rng)), self.rng,
                                 "random", target))

    def _launches(self, horizon: float) -> list[Surge]:
        """Launch surges: at the scenario's dates, then every `launch_every_days`."""
        out: list[Surge] = []
        rng = self.rng_launch
        now, t_last = 0.0, None
        for t in self.launch_hours:
            if t >= 0:
                if t >= horizon:
                    return out
                now = t
                out.append(self._new(t, float(self.s.launch_magnitude.sample(rng)), rng,
                                     "launch"))
            t_last = t
        t_next = max(t_last if t_last is not None else 0.0, now)
        while True:
            every_days = float(self.s.launch_every_days.sample(rng))
            t_next += max(1.0, every_days) * HOURS_PER_DAY
            if t_next >= horizon:
                return out
            out.append(self._new(t_next, float(self.s.launch_magnitude.sample(rng)), rng,
                                 "launch"))

    def multipliers(self, days: int, tick_hour: float = HOURS_PER_DAY / 2
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(enterprise, consumer) demand multipliers of every hour, (days, 24), 1 = no surge.

        Hour h of day d is evaluated at its middle, d*24 + h + 0.5. A surge counts from the
        day whose daily step (at `tick_hour`) comes after its start, and stops counting
        from the first day that begins after it has decayed below 0.1% of its peak.
        """
        per_day = int(HOURS_PER_DAY)
        ent = np.ones((days, per_day))
        con = np.ones((days, per_day))
        spans = []  # (surge, first day, day after the last) of the surges that count
        for u in self.started:
            d0 = max(0, int(np.ceil((u.t0 - tick_hour) / HOURS_PER_DAY)))
            end = u.t0 + u.ramp_h + 10 * u.halflife_h
            d1 = min(days, int(np.floor((end - 0.5) / HOURS_PER_DAY)) + 1)
            if d1 > d0:
                spans.append((u, d0, d1))
        if not spans:
            return ent, con
        # Every surge's hours in one pass (each hour with its surge's parameters), then
        # each surge added in start order.
        n = np.array([(d1 - d0) * per_day for _, d0, d1 in spans])
        start = np.repeat(np.cumsum(n) - n, n)
        first_h = np.repeat(np.array([d0 * HOURS_PER_DAY for _, d0, _ in spans]), n)
        hours = first_h + (np.arange(n.sum()) - start) + 0.5

        def each(attr: str) -> np.ndarray:
            return np.repeat(np.array([getattr(u, attr) for u, _, _ in spans], float), n)

        bumps = each("magnitude") * _shape(hours - each("t0"), each("ramp_h"),
                                           each("halflife_h"))
        at = 0
        for (u, d0, d1), k in zip(spans, n.tolist(), strict=True):
            bump = bumps[at:at + k].reshape(d1 - d0, per_day)
            at += k
            if u.target != "consumer":
                ent[d0:d1] += bump
            if u.target != "enterprise":
                con[d0:d1] += bump
        return ent, con
