"""The supply section: chip generations, their supply lines and shared component pools."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from capsim.models.scenario.params import (
    DELAY_DAYS_MAX,
    AtLeastOne,
    Count,
    Frozen,
    NonNeg,
    Param,
    Positive,
    Share,
    Sourced,
    bounded,
)
from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator


class Batching(Frozen):
    """Throughput-latency curve of one model replica on a chip generation (models.serving).

    A decode step of a batch of b requests takes t0 + t1 b (weights read once, KV cache
    per request): each request then decodes at stream_tokens_per_s (batch_half + 1) /
    (batch_half + b) tokens/s and the replica's throughput is b times that, rising to a
    ceiling; batch_half = t0 / t1 is the batch at half that ceiling.
    """

    batch: AtLeastOne = Field(description="requests decoded together per replica")
    rated_batch: AtLeastOne = Field(
        description="the batch at which the generation's tokens_per_s is stated; another "
        "batch scales its throughput along the curve")
    stream_tokens_per_s: Positive = Field(description="output tokens/s of one request alone")
    batch_half: Positive = Field(description="batch at half the throughput ceiling")
    prefill_tokens_per_s: Positive = Field(description="input tokens/s of one request's prefill")
    chips_per_replica: Positive = Field(
        description="chips one model replica runs on (its tensor- and pipeline-parallel "
        "group): counts the fleet's serving replicas, and so its batch places")


class Generation(Frozen):
    """One chip generation and its supply line for this customer."""

    available: dt.date = Field(description="first quarter of volume output (before slip)")
    chip_power_w: Positive
    tokens_per_s: Positive
    installed_at_start: Count
    share: Share
    slip_quarters: NonNeg
    quarterly_output: Sourced | None = None
    ramp_first_quarter: Positive | None = None
    ramp_growth_year1: Positive | None = None
    ramp_growth_year2: Positive | None = None
    max_per_quarter: NonNeg | None = None
    production_end: dt.date | None = None
    chips_per_rack: PositiveInt = Field(
        description="chips placed together: powered space is filled in whole racks")
    chips_per_server: PositiveInt | None = None
    chips_per_ultraserver: PositiveInt | None = None
    fp8_tflops: Positive | None = Field(
        None, description="dense FP8 TFLOP/s per chip (reported, not used for tokens)")
    hbm_gib: Positive | None = None
    batches_per_quarter: PositiveInt = 3
    install_spread_years: NonNegativeFloat = 1.0
    cloud: str = Field("aws", description="the cloud whose datacenters these chips go into")
    uses: dict[str, Positive] = Field(
        default_factory=dict, description="units of each supply pool one chip consumes")
    batching: Batching | None = Field(
        None, description="its model replicas' batch curve (needed when the cloud is enabled)")

    @model_validator(mode="after")
    def _supply(self):
        ramp = [self.ramp_first_quarter, self.ramp_growth_year1, self.ramp_growth_year2,
                self.max_per_quarter]
        if self.quarterly_output is None and any(r is None for r in ramp):
            raise ValueError("give quarterly_output, or all of ramp_first_quarter, "
                             "ramp_growth_year1, ramp_growth_year2 and max_per_quarter")
        for small, big in (("chips_per_server", "chips_per_rack"),
                           ("chips_per_server", "chips_per_ultraserver")):
            a, b = getattr(self, small), getattr(self, big)
            if a is not None and b is not None and b % a:
                raise ValueError(f"{big}(={b}) must be a whole number of {small}(={a})")
        if self.production_end is not None and self.production_end <= self.available:
            raise ValueError(f"production_end(={self.production_end}) must be after "
                             f"available(={self.available})")
        return self


class Pool(Frozen):
    """A shared component pool (CoWoS packaging, HBM stacks) refilled every month.

    Output per month starts at `capacity_per_month`, grows by `growth_per_year` up to
    `max_per_month`; `share` of it is allotted to the chips this scenario models.
    """

    unit: Annotated[str, Field(min_length=1)]
    capacity_per_month: Positive
    growth_per_year: Positive
    max_per_month: Positive
    share: Annotated[Param, bounded(0.0, 1.0, strict_lo=True)]
    stock_months: AtLeastOne


class Supply(Frozen):
    """Chip supply: generations, component pools and the delivery-delay stress knob."""

    delivery_delay_days: Annotated[float, Field(ge=0, le=DELAY_DAYS_MAX)] = 0.0
    generations: dict[str, Generation]
    pools: dict[str, Pool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _nonempty(self):
        if not self.generations:
            raise ValueError("at least one chip generation is needed")
        return self
