"""Serving each hour: allocation by priority, throttling, and the first SLO rule.

Capacity for serving is shared in priority order: committed-throughput enterprise
customers, then on-demand enterprise, then consumers. An hour is degraded when demand
exceeds `slo_utilization` of serving capacity (the queueing model refines this later).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class HourlyService:
    """Allocation of one day's 24 hours."""

    demand: np.ndarray      # 24 total demand, tokens/s
    served: np.ndarray      # 24 served
    unserved: np.ndarray    # 24 unserved = demand - served
    utilization: np.ndarray  # 24 demand / capacity (inf with no capacity and some demand)
    slo_ok: np.ndarray      # 24 bool: hour meets the SLO
    short_committed: np.ndarray  # 24 bool
    short_on_demand: np.ndarray  # 24 bool


def allocate(capacity: np.ndarray, tiers: list[np.ndarray], slo_utilization: float) -> HourlyService:
    """Serve `tiers` (highest priority first) from `capacity`, hour by hour (24-vectors)."""
    remaining = np.maximum(np.asarray(capacity, float), 0.0)
    served_total = np.zeros_like(remaining)
    short = []
    for demand in tiers:
        s = np.minimum(demand, remaining)
        remaining = remaining - s
        served_total += s
        short.append(s < demand * (1 - 1e-12))
    demand_total = np.sum(tiers, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(capacity > 0, demand_total / np.where(capacity > 0, capacity, 1.0),
                        np.where(demand_total > 0, np.inf, 0.0))
    return HourlyService(
        demand=demand_total,
        served=served_total,
        unserved=demand_total - served_total,
        utilization=util,
        slo_ok=util <= slo_utilization,
        short_committed=short[0],
        short_on_demand=short[1] if len(short) > 1 else np.zeros_like(short[0]),
    )
