"""How the world answers the service: prices (market), customers' reactions, other tenants."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from capsim.models.scenario.params import (
    AtLeastOne,
    Frozen,
    NonNeg,
    Param,
    Positive,
    Share,
    bounded,
)
from pydantic import Field, PositiveFloat, PositiveInt, field_validator


class Market(Frozen):
    """Price per token from cost per token, a price response and a ceiling (models.market)."""

    enabled: bool = True
    start: dt.date = Field(description="from this date prices follow cost and demand responds")
    cost_cloud: str = Field("aws", description="the cloud whose price per MW-year is the cost")
    serving_utilization: Share
    gross_margin_target: Annotated[Param, bounded(-1.0, 0.95)]
    margin_halflife_years: Positive
    price_decline_fastest: Annotated[Param, bounded(0.0, 1.0, strict_lo=True)]
    price_decline_slowest: Annotated[Param, bounded(0.0, 2.0, strict_lo=True)]
    elasticity: Annotated[Param, bounded(-5.0, 0.0)]
    tam_usd_per_year: Positive


Reaction = Literal["retry", "churn", "arrivals"]
"""How customers can react to the service they get (models.customers)."""


def _all_reactions() -> list[Reaction]:
    return ["retry", "churn", "arrivals"]


class Customers(Frozen):
    """Enterprise customer groups: rationing inside a tier, and how customers react."""

    throttled_threshold: float = Field(
        0.95, gt=0.0, le=1.0, description="a customer-hour is throttled when less than this "
        "share of the customer's tokens is served")
    rationing: Literal["max_min", "proportional"] = Field(
        "max_min", description="within a short tier: one rate limit for every customer "
        "(max_min), or the same served share for every customer (proportional)")
    size_class_quantiles: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 0.95, 0.99],
        description="cut points (quantiles of customer size within a segment) of the size "
        "classes that, with segment and region, make the customer groups")
    review_days: PositiveInt = Field(
        30, le=366, description="days between customers' reviews of the service they got")
    reactions: list[Reaction] = Field(
        default_factory=_all_reactions,
        description="reactions switched on (retry, churn, arrivals); [] switches all off")
    reactions_from: dt.date | None = Field(
        None, description="customers react from this date (default: the scenario's start)")
    retry_share: Share
    churn_per_throttled_year: NonNeg
    arrival_loss_per_throttled: Share
    consumer_churn_per_throttled_year: NonNeg

    @field_validator("size_class_quantiles")
    @classmethod
    def _quantiles(cls, q: list[float]) -> list[float]:
        if any(not 0.0 < x < 1.0 for x in q) or any(b <= a for a, b in zip(q, q[1:], strict=False)):
            raise ValueError(f"need increasing quantiles strictly between 0 and 1, got {q}")
        if len(q) > 20:
            raise ValueError(f"at most 20 cut points (21 size classes), got {len(q)}")
        return q

    @field_validator("reactions")
    @classmethod
    def _unique(cls, r: list[str]) -> list[str]:
        if len(set(r)) != len(r):
            raise ValueError(f"each reaction at most once, got {r}")
        return r


class Tenant(Frozen):
    """Another tenant drawing on a cloud's new power (models.tenants)."""

    enabled: bool = False
    cloud: str = "aws"
    start: dt.date = Field(description="first power-on the tenant takes a share of")
    commitment_usd: Positive
    commitment_years: PositiveFloat
    price_usd_per_mw_it_year: Positive
    pue: AtLeastOne
    expansion_from: dt.date
    expansion_per_year: Annotated[Param, bounded(0.0, 10.0, strict_lo=True)]
    power_share: Share
