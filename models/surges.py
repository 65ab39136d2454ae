"""Demand surges: random (viral, adoption) and scheduled (model launches).

Each surge adds `magnitude` x shape(t) to a demand multiplier: shape ramps linearly to 1
over `ramp_days`, then halves every `halflife_days`. `draw` draws a replication's surges;
`SurgeProcess` runs them as a SimPy process that other processes can wait on.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np
import simpy
from capsim.models.scenario import Surges
from capsim.simcore.simulation import Simulation
from capsim.simcore.streams import Streams
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


@dataclass(frozen=True)
class SurgeDraw:
    """The surges of one replication, drawn before it runs, in start order."""

    schedule: tuple[Surge, ...]


def draw(s: Surges, launch_hours: list[float], horizon_h: float, streams: Streams,
         stress_from_h: float = 0.0) -> SurgeDraw:
    """Draw every surge that starts before the horizon.

    Random surges come from the stream "surges.random" (their rate and consumer share
    first), launch surges from "surges.launch", each in the order a process drawing them
    one by one would. The intensity knob scales magnitudes after they are drawn, so runs
    that differ only in intensity share every random draw; it scales the surges that
    start from hour `stress_from_h` on (the evaluation start), not those before it.
    """
    rng, rng_launch = streams.rng("surges.random"), streams.rng("surges.launch")
    rate_per_hour = max(0.0, float(s.rate_per_year.sample(rng))) / HOURS_PER_YEAR
    p_consumer = float(np.clip(s.random_consumer_share.sample(rng), 0, 1))
    surges = (_random(s, horizon_h, rate_per_hour, p_consumer, rng)
              + _launches(s, sorted(launch_hours), horizon_h, rng_launch))
    # Stable: surges starting at the same hour keep their kind order (random first).
    if s.intensity_multiplier != 1.0:
        surges = [replace(u, magnitude=s.intensity_multiplier * u.magnitude)
                  if u.t0 >= stress_from_h else u for u in surges]
    return SurgeDraw(tuple(sorted(surges, key=lambda u: u.t0)))


def _new(s: Surges, t: float, magnitude: float, rng: np.random.Generator, kind: str,
         target: str = "all") -> Surge:
    ramp = max(0.1, float(s.ramp_days.sample(rng))) * HOURS_PER_DAY
    half = max(0.1, float(s.halflife_days.sample(rng))) * HOURS_PER_DAY
    return Surge(t, max(0.0, magnitude), ramp, half, kind, target)


def _random(s: Surges, horizon: float, rate_per_hour: float, p_consumer: float,
            rng: np.random.Generator) -> list[Surge]:
    """Random surges: a Poisson process, each aimed at consumers or enterprises."""
    out: list[Surge] = []
    if rate_per_hour <= 0:
        return out
    t = 0.0
    while True:
        t += rng.exponential(1.0 / rate_per_hour)
        if t >= horizon:
            return out
        target = "consumer" if rng.random() < p_consumer else "enterprise"
        out.append(_new(s, t, float(s.magnitude.sample(rng)), rng, "random", target))


def _launches(s: Surges, launch_hours: list[float], horizon: float,
              rng: np.random.Generator) -> list[Surge]:
    """Launch surges: at the scenario's dates, then every `launch_every_days`."""
    out: list[Surge] = []
    now, t_last = 0.0, None
    for t in launch_hours:
        if t >= 0:
            if t >= horizon:
                return out
            now = t
            out.append(_new(s, t, float(s.launch_magnitude.sample(rng)), rng, "launch"))
        t_last = t
    t_next = max(t_last if t_last is not None else 0.0, now)
    while True:
        every_days = float(s.launch_every_days.sample(rng))
        t_next += max(1.0, every_days) * HOURS_PER_DAY
        if t_next >= horizon:
            return out
        out.append(_new(s, t_next, float(s.launch_magnitude.sample(rng)), rng, "launch"))


class SurgeProcess:
    """Component: the surges of one replication as a SimPy process.

    The process waits until each surge's start, logs it and triggers `next_surge()` (so
    that other processes can wait for a surge and react to it), and ends it when it has
    decayed below 0.1% of its peak (`active` holds the surges under way). Demand depends
    on surges and on nothing else in the model, so the demand multipliers of every hour
    are computed from the same schedule in one vectorized pass (`multipliers`).
    """

    name = "surges"

    def __init__(self, schedule: tuple[Surge, ...]) -> None:
        self.schedule = schedule
        self.active: list[Surge] = []
        self._next: simpy.Event | None = None

    def start(self, sim: Simulation) -> None:
        """Start the surge process."""
        self._next = sim.env.event()
        sim.env.process(self._run(sim))

    def next_surge(self) -> simpy.Event:
        """An event that succeeds, with the `Surge`, when the next surge starts."""
        if self._next is None:
            raise RuntimeError("the surge process has not started")
        return self._next

    def _run(self, sim: Simulation) -> Generator:
        env = sim.env
        for u in self.schedule:
            if u.t0 > env.now:
                yield env.timeout(u.t0 - env.now)
            sim.events.log(u.t0, f"surge.{u.kind}", f"target={u.target} "
                           f"magnitude={u.magnitude:.3f}", subject=u.target, amount=u.magnitude,
                           unit="extra share of demand at the peak")
            self.active.append(u)
            env.process(self._end(env, u))
            began, self._next = self._next, env.event()
            assert began is not None
            began.succeed(u)

    def _end(self, env: simpy.Environment, u: Surge) -> Generator:
        yield env.timeout(u.ramp_h + 10 * u.halflife_h)
        self.active.remove(u)

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
        for u in self.schedule:
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
