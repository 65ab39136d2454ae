"""Who gets what when a tier is short: retries inside the day, and rate limits per customer.

Two rules, both plain functions over (days, 24) arrays:

- `allocate_retrying`: tiers are served in priority order, as `service.allocate` does,
  but a `retry_share` of the tokens a tier cannot serve in an hour comes back: it waits
  in the tier's queue and takes capacity that the tier leaves free in a later hour of the
  same UTC day, ahead of lower tiers; the rest gives up at once. What is still queued at
  midnight UTC gives up too, so every day is closed (the batch tier's day is the same
  UTC day: batch work that does not fit in its day expires, as the Message Batches API
  expires requests after 24 hours). The queue is a Lindley recursion, Q_h = max(0, Q_h-1
  + retries_h - free_h), which has the closed form Q = S - min(0, cummin S) with S the
  running sum of retries - free capacity; so a whole run is a few array operations.
- `water_level`: inside a short tier every customer is held to the same rate limit L
  (tokens/s), chosen so that the tier's capacity is used: customers asking less than L
  are served in full, larger ones get L (max-min fairness). With ``proportional`` every
  customer gets the same share instead.
"""

from __future__ import annotations

import numpy as np
from capsim.models.service import HourlyService, fill_batch


def retry_queue(missed: np.ndarray, free: np.ndarray, retry_share: float | np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Retries served per hour, and the queue left at the end of each day.

    Args:
        missed: (days, 24) tokens/s of a tier not served in the hour (fresh demand).
        free: (days, 24) capacity the tier leaves free in the hour.
        retry_share: share of missed tokens that retry later in the day (a number or
            (days, 1)).

    Returns:
        (served retries per hour, (days,) tokens/s still queued at the end of the day).
    """
    arrive = np.asarray(retry_share, float) * missed
    s = np.cumsum(arrive - free, axis=-1)
    queue = s - np.minimum(np.minimum.accumulate(s, axis=-1), 0.0)
    before = np.empty_like(queue)  # the queue at the start of each hour
    before[..., 0] = 0.0
    before[..., 1:] = queue[..., :-1]
    # Retries taken in the hour: the queue before it plus what arrives minus what is left;
    # an hour that misses tokens has no free capacity, so it takes none (clipped to
    # [0, free]: rounding).
    took = np.minimum(np.maximum(before + arrive - queue, 0.0), free)
    return took, queue[..., -1]


def allocate_retrying(capacity: np.ndarray, tiers: list[np.ndarray],
                      batch_daily_mean: np.ndarray, retry_share: float | np.ndarray
                      ) -> tuple[HourlyService, np.ndarray]:
    """Serve (days, 24) hours by priority with same-day retries (see the module docstring).

    With ``retry_share`` 0 this is `service.allocate`. ``unserved_by_tier`` holds the
    tokens that give up in each hour (at once, or at midnight for those still queued), so
    over a day served + unserved = demand; ``retried`` holds the retries served per hour.
    Also returns (tiers, days, 24): the share of each tier's fresh demand served in the
    hour (1 where it asked for nothing).
    """
    capacity = np.asarray(capacity, float)
    remaining = np.maximum(capacity, 0.0)
    r = np.asarray(retry_share, float)
    n = len(tiers) + 1
    unserved = np.zeros((n, *remaining.shape))
    short = np.zeros((n, *remaining.shape), bool)
    served = np.zeros(remaining.shape)
    by_tier = np.zeros((n, *remaining.shape))
    retried = np.zeros(remaining.shape)
    fresh = np.ones((len(tiers), *remaining.shape))
    retrying = bool(np.any(r > 0))
    for i, demand in enumerate(tiers):
        s = np.minimum(demand, remaining)
        free = np.maximum(remaining - s, 0.0)
        missed = demand - s
        served += s
        by_tier[i] = s
        short[i] = missed > demand * 1e-12
        tier_short = bool(short[i].any())
        if tier_short:  # else every hour's share stays 1
            with np.errstate(divide="ignore", invalid="ignore"):
                fresh[i] = np.where(short[i], s / np.where(demand > 0, demand, 1.0), 1.0)
        if retrying and tier_short:
            # Days on which the tier misses nothing have an empty queue all day (nothing
            # retries, nothing is taken): the queue is solved on the other days only.
            rows = np.flatnonzero((missed > 0.0).any(axis=-1))
            r_rows = r[rows] if r.ndim else r
            took, left = retry_queue(missed[rows], free[rows], r_rows)
            free[rows] = np.maximum(free[rows] - took, 0.0)
            served[rows] += took
            by_tier[i][rows] += took
            retried[rows] += took
            unserved[i] = (1.0 - r) * missed
            unserved[i][rows, -1] += left
        else:
            unserved[i] = missed
        remaining = free
    by_tier[-1], unserved[-1], short[-1], batch = fill_batch(remaining, batch_daily_mean)
    served += by_tier[-1]
    demand_total = tiers[0].copy() if tiers else np.zeros(remaining.shape)
    for t in tiers[1:]:  # in tier order, as a sum over the stacked tiers adds them
        demand_total += t
    demand_total += batch
    return (HourlyService(capacity, demand_total, served, unserved, short, retried, by_tier),
            fresh)


def water_level(x: np.ndarray, n: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """The rate limit L per row such that sum_g n_g min(x_g, L) = cap (inf if all fits).

    Args:
        x: (rows, groups) tokens/s each customer of a group asks for.
        n: (rows, groups) customers in each group.
        cap: (rows,) tokens/s the tier can serve.
    """
    # Each row's groups by what a customer asks for (gathered by (row, column) indices).
    row = np.arange(x.shape[0])
    order = np.argsort(x, axis=1)
    xs = x[row[:, None], order]
    ns = n[row[:, None], order]
    nx = ns * xs
    below = np.cumsum(nx, axis=1) - nx                       # demand of smaller groups
    at_or_above = np.cumsum(ns[:, ::-1], axis=1)[:, ::-1]    # customers from group k up
    # Served if the limit were x_k: nondecreasing in k; the limit lies where it passes cap.
    f = below + xs * at_or_above
    k = (f <= cap[:, None]).sum(axis=1)
    idx = np.minimum(k, x.shape[1] - 1)
    rest = at_or_above[row, idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        level = (cap - below[row, idx]) / rest
    return np.where(k >= x.shape[1], np.inf, level)


def served_shares(x: np.ndarray, n: np.ndarray, cap: np.ndarray, rule: str) -> np.ndarray:
    """(rows, groups) share of each customer's tokens served under `rule`.

    ``max_min``: a common rate limit (`water_level`); ``proportional``: every customer
    gets cap / demand of the tier.
    """
    if rule == "proportional":
        want = (x * n).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(want > 0, np.minimum(cap / want, 1.0), 1.0)
        return np.broadcast_to(share[:, None], x.shape)
    level = water_level(x, n, cap)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.minimum(level[:, None] / x, 1.0), 1.0)
