"""Serving each hour: training reservation, allocation by priority, throttling, latency, SLO.

Per hour, the fleet's capacity is split into a serving share and a training reservation;
a `training_flex_share` of the reservation yields to serving when serving demand exceeds
its share (Rainier "serves by day, trains by night"). Serving capacity goes, in priority
order, to committed-throughput enterprise customers, on-demand enterprise customers and
consumers; batch work then fills whatever capacity is left anywhere in the day.

The model's latency (replicas with a batch curve per chip generation, time to first
token and end-to-end latency) is `models.serving`. `QueueSpec` and the functions below
are the same M/G/c picture with one fixed slot speed and service shape for all hours:
`pools` independent pools of concurrent request slots, the wait from Erlang C with the
Allen-Cunneen correction, end-to-end quantiles from the distribution of wait + service
(`simcore.latency`, checked against Ciw by `experiments.validate_latency`), overloaded
hours at the cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.simcore import queueing
from capsim.simcore.latency import Service, response_quantiles


@dataclass
class HourlyService:
    """Allocation of one day's 24 hours (tokens/s unless stated).

    Batch demand is counted at its mean rate in every hour but served where capacity is
    left, so served <= capacity holds per hour while served <= demand and
    served + unserved = demand hold over the day.
    """

    capacity: np.ndarray      # (24,) or (days, 24) serving capacity after training flex
    demand: np.ndarray        # total demand (batch spread evenly over the day)
    served: np.ndarray        # served
    unserved_by_tier: np.ndarray  # (tiers, ...) unserved per tier in priority order, batch last
    short: np.ndarray         # (tiers, ...) bool: the tier was throttled in the hour
    retried: np.ndarray | None = None  # retries served in the hour (models.rationing)
    served_by_tier: np.ndarray | None = None  # (tiers, ...) served per tier, batch last

    @property
    def unserved(self) -> np.ndarray:
        """Unserved tokens/s per hour, all tiers."""
        return self.unserved_by_tier.sum(axis=0)

    @property
    def utilization(self) -> np.ndarray:
        """Load / serving capacity per hour (inf with load and no capacity).

        The load is the demand plus the retries served in the hour: they are requests too.
        """
        load = self.demand if self.retried is None else self.demand + self.retried
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(self.capacity > 0,
                            load / np.where(self.capacity > 0, self.capacity, 1),
                            np.where(load > 0, np.inf, 0.0))


def serving_capacity(total: float | np.ndarray, serving_share: float, flex_share: float,
                     interactive_demand: np.ndarray, target_utilization: float = 0.9) -> np.ndarray:
    """Serving capacity per hour: the serving share plus what training lends when needed.

    Training lends (up to `flex_share` of its reservation) enough for serving to run at
    `target_utilization`, not merely at 100%, where queues would grow without bound.
    """
    base = total * serving_share
    lendable = total * (1 - serving_share) * flex_share
    need = np.asarray(interactive_demand, float) / target_utilization - base
    return base + np.minimum(lendable, np.maximum(need, 0.0))


def fill_batch(remaining: np.ndarray, batch_daily_mean: float | np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The day's batch volume against the day's leftover capacity, filled in proportion.

    Returns per hour: batch served, batch unserved, whether batch was short, and the batch
    demand (the daily mean rate in every hour).
    """
    hours = remaining.shape[-1]
    rate = np.asarray(batch_daily_mean, float)[..., None]    # per day, against the hours
    batch = np.broadcast_to(rate, remaining.shape)
    left = remaining.sum(axis=-1, keepdims=True)
    want = batch.sum(axis=-1, keepdims=True)
    # Exact in both cases: all batch fits (nothing unserved), or every leftover slot is
    # used (the excess is unserved); no rounding residue from summing the shares.
    fits = want <= left
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(fits, want / np.where(left > 0, left, 1.0), 1.0)
    got = np.where(want > 0, remaining * share, 0.0)
    unserved = np.where((want > 0) & ~fits, (want - left) / hours, 0.0)
    return got, unserved, unserved > rate * 1e-12, batch


def allocate(capacity: np.ndarray, tiers: list[np.ndarray],
             batch_daily_mean: float | np.ndarray = 0.0) -> HourlyService:
    """Serve hourly `tiers` (highest priority first), then batch from the day's leftover.

    Works on one day (24-vectors) or on many days at once ((days, 24) arrays, with one
    batch rate per day); every day is allocated on its own.

    Args:
        capacity: serving capacity per hour, (24,) or (days, 24).
        tiers: interactive demand per hour, highest priority first, shaped like capacity.
        batch_daily_mean: batch demand as a mean rate over the day, a number or (days,);
            it may be served in any hour, so it takes leftover capacity wherever it is.
    """
    capacity = np.asarray(capacity, float)
    remaining = np.maximum(capacity, 0.0)
    n = len(tiers) + 1
    unserved = np.zeros((n, *remaining.shape))
    short = np.zeros((n, *remaining.shape), bool)
    # Served is summed from what each tier gets (not demand minus unserved), so that it
    # can never exceed capacity by rounding.
    served = np.zeros(remaining.shape)
    for i, demand in enumerate(tiers):
        s = np.minimum(demand, remaining)
        remaining = np.maximum(remaining - s, 0.0)
        served += s
        unserved[i] = demand - s
        short[i] = unserved[i] > demand * 1e-12
    got, unserved[-1], short[-1], batch = fill_batch(remaining, batch_daily_mean)
    served += got
    demand_total = np.sum(tiers, axis=0) + batch
    return HourlyService(capacity, demand_total, served, unserved, short)


@dataclass(frozen=True)
class QueueSpec:
    """How requests meet servers: the M/G/c picture of the serving fleet."""

    pools: float              # independent pools the fleet is split into
    slot_tps: float           # tokens/s of one concurrent request slot
    tokens_per_request: float
    scv: float                # squared coefficient of variation of service time
    slo_p99_wait_s: float

    @property
    def service_s(self) -> float:
        """Mean service time of a request, seconds."""
        return self.tokens_per_request / self.slot_tps


def latencies(capacity: np.ndarray, utilization: np.ndarray, q: QueueSpec,
              levels: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Wait and end-to-end latency quantiles, in seconds, at each of `levels`.

    Servers per pool c = capacity / slot_tps / pools (at least 1). The wait quantile is
    the M/M/c one scaled by (1 + scv) / 2 (Allen-Cunneen); the latency is the quantile of
    the true distribution of wait + service time (lognormal service with the scenario's
    scv, deterministic when scv = 0), found numerically by `simcore.latency`, not a sum of
    two quantiles. Both are inf where utilization >= 1.
    """
    c = np.maximum(np.asarray(capacity, float) / q.slot_tps / q.pools, 1.0)
    rho = np.asarray(utilization, float)
    factor = (1 + q.scv) / 2
    service = Service("lognormal", q.scv) if q.scv > 0 else Service("deterministic")
    prob = queueing.erlang_c_gamma(c, rho * c)
    waits = queueing.wait_quantiles(c, rho, levels, prob)
    resp = response_quantiles(c, rho, levels, service, wait_scale=factor, prob=prob)
    return [(w * q.service_s * factor, r * q.service_s)
            for w, r in zip(waits, resp, strict=True)]


def capped_latencies(capacity: np.ndarray, utilization: np.ndarray, q: QueueSpec,
                     cap_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p99 wait, p99 latency, p50 latency) per hour, latencies capped at `cap_s` seconds.

    Requests give up after `cap_s`: an overloaded hour (utilization >= 1, infinite
    quantiles) counts at the cap and no hour counts above it, so more congestion can
    never lower a latency figure. The wait is left uncapped (inf when overloaded) for the
    SLO test.
    """
    (wait, lat), (_, lat50) = latencies(capacity, utilization, q, (0.99, 0.5))
    lat = np.minimum(np.nan_to_num(lat, nan=cap_s, posinf=cap_s), cap_s)
    lat50 = np.minimum(np.nan_to_num(lat50, nan=cap_s, posinf=cap_s), cap_s)
    return wait, lat, lat50


def latency(capacity: np.ndarray, utilization: np.ndarray, q: QueueSpec, level: float = 0.99
            ) -> tuple[np.ndarray, np.ndarray]:
    """(wait, latency) quantiles at one `level` (see :func:`latencies`)."""
    return latencies(capacity, utilization, q, (level,))[0]


def slo_met(utilization: np.ndarray, p99_wait_s: np.ndarray, q: QueueSpec) -> np.ndarray:
    """Hours that meet the SLO: not overloaded and the p99 wait within target."""
    return (np.asarray(utilization) < 1.0) & (p99_wait_s <= q.slo_p99_wait_s)
