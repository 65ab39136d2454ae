"""Observation operators: quantities computed as the world reports them.

- The revenue run-rate as Anthropic reports it (Reuters Breakingviews, Karen Kwok, 31 May
  2026, quoted on Simon Willison's weblog the same day): the last 28 days of sales to
  customers charged by consumption x 13, plus the month's subscription take x 12. In the
  model, consumption is the enterprise tiers (committed, on-demand, batch: tokens at API
  prices) and subscriptions the consumer tier (subscription revenue per token); their
  shares of revenue follow the sourced input `demand.enterprise_revenue_share` at the
  start and the tiers' own growth after it. The month's subscription take is the last 30
  days' subscription revenue scaled to a month (x DAYS_PER_MONTH / 30). Revenue on the
  modelled clouds is divided by their share of demand (Anthropic-wide, as reported).
- Compute in H100-equivalents: dense FP8 FLOP/s divided by the H100 SXM's 1,979 dense FP8
  TFLOP/s (NVIDIA H100 datasheet), the unit of Epoch AI's compute estimates.

These are definitions of reported units, not calibrated numbers.
"""

from __future__ import annotations

import numpy as np
from capsim.simcore.units import DAYS_PER_MONTH, SECONDS_PER_DAY

CONSUMPTION_DAYS = 28
"""Days of consumption sales in the reported run-rate."""
CONSUMPTION_PERIODS = 13
"""The 28-day sales are multiplied by 13 (13 x 28 = 364 days)."""
SUBSCRIPTION_DAYS = 30
"""Days of subscription revenue read as the month's take."""
MONTHS_PER_YEAR = 12
H100_FP8_TFLOPS = 1979.0
"""Dense FP8 TFLOP/s of one H100 SXM (NVIDIA H100 Tensor Core GPU datasheet)."""


def trailing_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of each day and the `window - 1` days before it (fewer at the start)."""
    c = np.cumsum(np.asarray(x, float))
    out = c.copy()
    out[window:] = c[window:] - c[:-window]
    return out


def tier_revenue(served_tps: np.ndarray, price_usd_per_mtok: np.ndarray) -> np.ndarray:
    """Revenue ($ a day) of tokens served at a daily mean rate and a price per day."""
    return np.asarray(served_tps, float) * price_usd_per_mtok * SECONDS_PER_DAY / 1e6


def run_rate(revenue: np.ndarray, subscription: np.ndarray, cloud_share: float
             ) -> np.ndarray:
    """The reported run-rate ($ a year) on each day, Anthropic-wide.

    Args:
        revenue: each day's revenue on the modelled clouds ($), all tiers.
        subscription: the part of it from subscriptions ($); clipped to [0, revenue].
        cloud_share: the modelled clouds' share of Anthropic's revenue.
    """
    revenue = np.asarray(revenue, float)
    subs = np.clip(np.asarray(subscription, float), 0.0, revenue)
    consumption = revenue - subs
    days = np.arange(1, revenue.size + 1)
    # The first days of the run have fewer days behind them: their sums are scaled up.
    c_days = np.minimum(days, CONSUMPTION_DAYS)
    s_days = np.minimum(days, SUBSCRIPTION_DAYS)
    yearly = (trailing_sum(consumption, CONSUMPTION_DAYS) * CONSUMPTION_DAYS / c_days
              * CONSUMPTION_PERIODS
              + trailing_sum(subs, SUBSCRIPTION_DAYS) / s_days * DAYS_PER_MONTH
              * MONTHS_PER_YEAR)
    return yearly / max(cloud_share, 1e-12)


def h100e_equivalents(fp8_eflops: np.ndarray) -> np.ndarray:
    """Dense FP8 EFLOP/s in H100-equivalents (1 EFLOP/s = 1e6 TFLOP/s)."""
    return np.asarray(fp8_eflops, float) * 1e6 / H100_FP8_TFLOPS
