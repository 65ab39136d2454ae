"""Chips: each generation's quarterly output, this customer's share, shipments and specs.

A generation's output per quarter is either an explicit list (from its start date, default
the scenario's start; each value fixed or triangular between a low and a high)
or a ramp: a first quarter, growth quarter-on-quarter in its first and second years, then
flat at a cap, until production ends. Output is split into batches shipped evenly through
the quarter, shifted by the generation's slip and the scenario's delivery-delay knob.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models.scenario import Generation, Sourced
from capsim.simcore.clock import Clock
from capsim.simcore.streams import Streams
from capsim.simcore.units import DAYS_PER_QUARTER, DAYS_PER_YEAR, HOURS_PER_DAY


@dataclass(frozen=True)
class Shipment:
    """Chips of one generation arriving at a time (hours)."""

    t: float
    chips: int


def listed_output(listed: Sourced, rng: np.random.Generator) -> np.ndarray:
    """The values of an explicit output list; uncertain ones drawn triangular(low, value, high).

    One uniform per listed value (a fixed number of draws), by inversion as every parameter.
    """
    vals = np.asarray(listed.values, float)
    if listed.low is None or listed.high is None:
        return vals
    a, c, b = np.asarray(listed.low, float), vals, np.asarray(listed.high, float)
    u = rng.random(vals.size)
    width = np.where(b > a, b - a, 1.0)
    fc = (c - a) / width
    left = a + np.sqrt(u * (b - a) * (c - a))
    right = b - np.sqrt((1 - u) * (b - a) * (b - c))
    return np.where(b > a, np.where(u < fc, left, right), c)


def quarterly_output(gen: Generation, rng: np.random.Generator, n_quarters: int) -> np.ndarray:
    """Chips produced in each quarter from the generation's first quarter (all customers)."""
    if gen.quarterly_output is not None:
        out = np.zeros(n_quarters)
        vals = listed_output(gen.quarterly_output, rng)[:n_quarters]
        out[: vals.size] = vals
        return out
    # Scenario validation requires all four ramp parameters without quarterly_output.
    assert gen.ramp_first_quarter is not None and gen.ramp_growth_year1 is not None
    assert gen.ramp_growth_year2 is not None and gen.max_per_quarter is not None
    first = float(gen.ramp_first_quarter.sample(rng))
    g1 = float(gen.ramp_growth_year1.sample(rng))
    g2 = float(gen.ramp_growth_year2.sample(rng))
    cap = float(gen.max_per_quarter.sample(rng))
    q = np.arange(n_quarters)
    # Quarters 1-4 grow at the first-year rate, 5-8 at the second-year rate, then flat.
    log_out = np.log(first) + np.minimum(q, 4) * np.log(g1) + np.clip(q - 4, 0, 4) * np.log(g2)
    return np.minimum(np.exp(log_out), cap)


def shipments(gen: Generation, clock: Clock, rng: np.random.Generator,
              delay_days: float = 0.0, delay_from_h: float = 0.0) -> list[Shipment]:
    """This customer's shipments of one generation over the horizon, in time order.

    Draws (in this order, from `rng`): share, slip, then the ramp parameters.
    Shipments that would land before the start arrive at time 0. The delay stress
    (`delay_days`) shifts the shipments due from hour `delay_from_h` on (the evaluation
    start): those before it are the unstressed history.
    """
    share = float(np.clip(gen.share.sample(rng), 0.0, 1.0))
    slip_q = max(0.0, float(gen.slip_quarters.sample(rng)))
    # An explicit list starts at its own start date (default: the scenario's start); a
    # ramp at the generation's date.
    listed = gen.quarterly_output
    origin = (listed.start or clock.start) if listed is not None else gen.available
    end = gen.production_end or clock.end
    n_q = max(0, int(np.ceil(((end - origin).days) / DAYS_PER_QUARTER)))
    if n_q == 0:
        return []
    output = quarterly_output(gen, rng, n_q) * share
    origin_h = clock.hours(origin) + slip_q * DAYS_PER_QUARTER * HOURS_PER_DAY
    delay_h = delay_days * HOURS_PER_DAY
    b = gen.batches_per_quarter
    out: list[Shipment] = []
    carry = 0.0
    for q, chips in enumerate(output):
        for k in range(b):
            # Carry fractions so that integer batches add up to the quarter's output.
            exact = chips / b + carry
            n = int(np.floor(exact))
            carry = exact - n
            if n <= 0:
                continue
            t = origin_h + (q + (k + 0.5) / b) * DAYS_PER_QUARTER * HOURS_PER_DAY
            if delay_h and t >= delay_from_h:
                t += delay_h
            if t >= clock.horizon:
                return out
            out.append(Shipment(max(0.0, t), n))
    return out


@dataclass(frozen=True)
class ChipSpecs:
    """One replication's chips, per generation in the model's order.

    Attributes:
        kw: facility kW per chip (chip power x server overhead x PUE).
        tps: reference tokens/s per healthy chip at the operating batch.
        fp8_eflops: FP8 exaFLOPS per chip (0 where the scenario gives none).
        uses: units of each component pool one chip consumes.
    """

    kw: np.ndarray
    tps: np.ndarray
    fp8_eflops: np.ndarray
    uses: tuple[dict[str, float], ...]


def draw_specs(generations: dict[str, Generation], throughput: list[float], overhead: float,
               pue: float, streams: Streams) -> ChipSpecs:
    """Each generation's chip, from its stream ``chips.<generation>.spec``.

    Draws, in order: chip power, tokens per second, FP8 TFLOPS, then each pool's use.
    `throughput` is each generation's factor of the operating batch (`models.serving`).
    """
    kw, tps, fp8, uses = [], [], [], []
    for (name, g), factor in zip(generations.items(), throughput, strict=True):
        rng = streams.rng(f"chips.{name}.spec")
        kw.append(float(g.chip_power_w.sample(rng)) * overhead * pue / 1000.0)
        tps.append(float(g.tokens_per_s.sample(rng)) * factor)
        fp8.append(float(g.fp8_tflops.sample(rng)) if g.fp8_tflops is not None else 0.0)
        uses.append({p: float(u.sample(rng)) for p, u in g.uses.items()})
    return ChipSpecs(np.array(kw), np.array(tps), np.array(fp8) / 1e6, tuple(uses))


@dataclass(frozen=True)
class Deliveries:
    """One replication's chips by generation: the installed base and the planned batches.

    Attributes:
        installed: chips installed at the start.
        install_days: their install days (0 or negative: before the start).
        batches: planned shipments as (hour, chips), in time order.
    """

    installed: tuple[int, ...]
    install_days: tuple[np.ndarray, ...]
    batches: tuple[tuple[tuple[float, int], ...], ...]

    def planned(self) -> list[tuple[float, int, int]]:
        """Every planned shipment as (hour, generation index, chips), generation by generation."""
        return [(t, gi, n) for gi, b in enumerate(self.batches) for t, n in b]


def draw_deliveries(generations: dict[str, Generation], clock: Clock, delay_days: float,
                    streams: Streams, delay_from_h: float = 0.0) -> Deliveries:
    """The installed base and the shipments of each generation.

    From the stream ``chips.<generation>``: the installed base, then the shipments
    (`shipments`); install dates from their own stream ``chips.<generation>.install``, so
    that the installed base's size does not move the draws of the share, slip and ramp.
    """
    installed, days, batches = [], [], []
    for name, g in generations.items():
        rng = streams.rng(f"chips.{name}")
        n0 = int(round(max(0.0, float(g.installed_at_start.sample(rng)))))
        ages = np.zeros(0)
        if n0:
            spread = g.install_spread_years * DAYS_PER_YEAR
            ages = (streams.rng(f"chips.{name}.install").uniform(0, spread, n0) if spread
                    else np.zeros(n0))
        installed.append(n0)
        days.append(-ages)
        batches.append(tuple((s.t, s.chips)
                             for s in shipments(g, clock, rng, delay_days, delay_from_h)))
    return Deliveries(tuple(installed), tuple(days), tuple(batches))
