"""What is asked of the capacity: the demand section (enterprise, consumer) and surges."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from capsim.models.scenario.params import (
    AtLeastOne,
    Count,
    Frozen,
    Growth,
    Hour,
    NonNeg,
    Param,
    Positive,
    Share,
    bounded,
)
from pydantic import Field, model_validator


class Enterprise(Frozen):
    """The enterprise customer population."""

    customers: Count
    size_sigma: Annotated[Param, bounded(0.0, 5.0, strict_lo=True)]  # e^5: beyond any spread
    region_shares: dict[str, float]
    region_utc_offset_hours: dict[str, float]
    committed_share: Share
    batch_share: Share
    new_customers_per_year: NonNeg
    churn_per_year: NonNeg
    weekend_factor: NonNeg
    peak_to_average: AtLeastOne
    peak_local_hour: Hour
    peak_width_hours: Positive

    @model_validator(mode="after")
    def _regions(self):
        if set(self.region_shares) != set(self.region_utc_offset_hours):
            raise ValueError("region_shares and region_utc_offset_hours must name the same regions")
        if any(v < 0 for v in self.region_shares.values()):
            raise ValueError("region_shares must be >= 0")
        if abs(sum(self.region_shares.values()) - 1.0) > 1e-6:
            raise ValueError(
                f"region_shares must sum to 1, got {sum(self.region_shares.values()):g}")
        return self


class Consumer(Frozen):
    """Consumer (chat app) demand."""

    price_usd_per_mtok: Positive
    growth_factor: NonNeg
    weekend_factor: NonNeg
    peak_to_average: AtLeastOne
    peak_local_hour: Hour
    peak_width_hours: Positive


class GrowthPeriod(Frozen):
    """Token demand grows at `rate` (x per year) until the date `until`."""

    until: dt.date
    rate: Positive


MAX_SHOCKS = 600
"""Conditioned monthly growth shocks at most (fifty years)."""


class Demand(Frozen):
    """Claude demand on this cloud, from revenue, with a growth rate that varies.

    The yearly log-growth rate of token demand is a mean curve (decaying from
    `growth_start` at the scenario's start to `growth_long_run` with a half-life) plus a
    deviation that follows a stationary AR(1) process month by month: persistence
    `growth_persistence` per month and standard deviation `growth_volatility` (in ln(x)
    per year), its standard-normal shocks drawn from the stream "demand.growth".
    `growth_shocks` fixes the first months' shocks (set by a posterior draw that was
    conditioned on the record; empty: all drawn).
    """

    growth_multiplier: Annotated[float, Field(
        gt=0, le=10,
        description="stress knob: scales the expected log growth (not its shocks); (0, 10]")] = 1.0
    revenue_run_rate_usd: NonNeg
    enterprise_revenue_share: Share
    price_usd_per_mtok: Positive
    price_decline_per_year: Positive
    batch_discount: Share
    cloud_share: Share
    growth_start: Growth
    growth_long_run: Growth
    growth_halflife_years: Positive
    growth_by_period: list[GrowthPeriod] = Field(
        default_factory=list, description="token-demand growth from the start, period by "
        "period; the decaying curve (growth_start ...) begins where the last period ends")

    @model_validator(mode="after")
    def _process(self):
        if (self.growth_persistence is None) != (self.growth_volatility is None):
            raise ValueError("give growth_persistence and growth_volatility together, or neither")
        if self.growth_shocks and self.growth_volatility is None:
            raise ValueError("growth_shocks need growth_persistence and growth_volatility")
        return self
    growth_persistence: Annotated[Param, bounded(0.0, 0.999)] | None = Field(
        default=None, description="AR(1) coefficient of the log-growth deviation per month")
    growth_volatility: NonNeg | None = Field(
        default=None, description="standard deviation of the log-growth deviation, ln(x)/year")
    growth_shocks: Annotated[list[Annotated[float, Field(ge=-10, le=10)]],
                             Field(max_length=MAX_SHOCKS)] = Field(
        default_factory=list, description="the first months' standard-normal growth shocks, "
        "fixed (a posterior draw conditioned on the record sets them)")
    efficiency_gain_per_year: Positive
    enterprise: Enterprise
    consumer: Consumer


class Surges(Frozen):
    """Random surges and scheduled launches: multiplicative bumps that decay."""

    intensity_multiplier: Annotated[float, Field(
        ge=0, le=1000, description="stress knob: scales surge magnitudes; [0, 1000]")] = 1.0
    rate_per_year: NonNeg
    random_consumer_share: Share
    magnitude: NonNeg
    ramp_days: Positive
    halflife_days: Positive
    launches: list[dt.date] = []
    launch_every_days: Positive
    launch_magnitude: NonNeg
