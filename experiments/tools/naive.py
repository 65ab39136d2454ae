"""The benchmark's naive reference: one SimPy process per enterprise customer.

Each customer wakes once a day and adds its demand to a shared per-day accumulator, with
the same demand rules as `models.demand`; its daily totals must equal the vectorized
model's within `RTOL` (relative).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import simpy
from capsim.models.demand import DemandModel
from capsim.simcore.clock import Clock
from capsim.simcore.streams import Streams
from capsim.simcore.units import HOURS_PER_DAY

RTOL = 1e-6
"""Largest relative difference between the naive and the vectorized daily totals."""


def _customer(env: simpy.Environment, size: float, arrive: int, churn: int, scale: list[float],
              acc: list[float], days: int):
    """One customer: wakes once a day and adds its demand (tokens/s) while active."""
    for day in range(days):
        if arrive <= day < churn:
            acc[day] += size * scale[day]
        yield env.timeout(HOURS_PER_DAY)


def run_naive(scenario: Any, seed: int, days: int) -> dict[str, Any]:
    """One SimPy process per customer over the first `days` days of replication 0.

    The population and the demand factors come from a `DemandModel` built on the full
    horizon with replication 0's "demand" stream, i.e. from the very
    `models.demand.build_population` call the model makes, so both sides apply the same
    rules to the same customers.
    """
    clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
    days = min(days, clock.days)
    streams = Streams(seed, 0)
    dm = DemandModel.draw(scenario.demand, clock, streams.rng("demand"),
                          growth_rng=streams.rng("demand.growth"))
    pop = dm.pop
    # Per-customer daily demand = size * tps_per_weight * growth(day) * weekday factor.
    scale = [float(dm.tps_per_weight * dm.ent_growth[d] * dm.ent_day[d]) for d in range(days)]
    sizes = pop.size.astype(float).tolist()
    arrive = pop.arrive.tolist()
    churn = pop.churn.tolist()
    acc = [0.0] * days

    t0 = time.perf_counter()
    env = simpy.Environment()
    for s, a, c in zip(sizes, arrive, churn, strict=True):
        env.process(_customer(env, s, a, c, scale, acc, days))
    t_setup = time.perf_counter() - t0
    env.run(until=days * HOURS_PER_DAY)
    t_total = time.perf_counter() - t0
    t_run = t_total - t_setup

    naive = np.array(acc)
    vector = np.array([pop.weight[:, d].sum() * dm.tps_per_weight * dm.ent_growth[d] * dm.ent_day[d]
                       for d in range(days)])
    rel = np.abs(naive - vector) / np.maximum(np.abs(vector), 1e-300)
    # Linear in days: process creation once, then the same cost per simulated day.
    extrapolated = t_setup + t_run * clock.days / days
    active_share = float(pop.count.sum() / (pop.n * clock.days))
    return {
        "customers": pop.n,
        "days": days,
        "horizon_days": clock.days,
        "measured_s": t_total,
        "setup_s": t_setup,
        "run_s": t_run,
        "events": pop.n * days,
        "us_per_customer_day": 1e6 * t_run / (pop.n * days),
        "extrapolated_s_per_rep": extrapolated,
        "max_rel_diff": float(rel.max()),
        "totals_agree": bool(np.all(rel <= RTOL)),
        "active_customer_day_share": active_share,
        "first_day_total_tps": float(vector[0]),
    }
