"""How capacity is run, paid for and ordered: service, clouds, finance, procurement, levers."""

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
from pydantic import Field, PositiveFloat, model_validator


class Service(Frozen):
    """Training reservation, the requests replicas serve, their waiting room and the SLO."""

    serving_share: Share
    training_flex_share: Share
    flex_target_utilization: Annotated[Param, bounded(0.0, 1.0, strict_lo=True)]
    tokens_per_request: Positive
    output_share: Annotated[Param, bounded(0.0, 1.0, strict_lo=True)]
    service_scv: NonNeg
    queue_limit_s: NonNeg = Field(
        description="seconds of work a replica's waiting room holds; requests that find "
        "it full are turned away (models.serving)")
    slo_ttft_s: Positive = Field(description="time-to-first-token target of a request")
    slo_tpot_s: Positive = Field(description="time-per-output-token target of a request")
    slo_request_share: Share = Field(
        description="share of an hour's served requests meeting both targets for the hour "
        "to meet the SLO")
    slo_target_share: Share
    short_month_threshold: float = Field(
        0.01, ge=0.0, lt=1.0,
        description="a month is short when more than this share of the demand the market "
        "would bring goes unmet (unserved, or lost to throttling)")
    sustained_adequacy_months: int = Field(
        12, ge=1, le=600,
        description="months in a row below the short-month threshold from which capacity "
        "counts as adequate (sustained_adequacy_date)")


class Cloud(Frozen):
    """A cloud that runs Claude: what it bills and what was committed to it."""

    enabled: bool = True
    label: Annotated[str, Field(min_length=1)]
    price_usd_per_mw_it_year: NonNeg
    commitment_usd: NonNeg
    commitment_start: dt.date
    commitment_years: PositiveFloat


class Tranche(Frozen):
    """Investment released once: on the deal date, or at a milestone after it.

    With `at_deal` the tranche is released on ``[finance] deal_date``; otherwise on the
    first day from the deal date on that the revenue run-rate reaches its milestone.
    """

    amount_usd: NonNeg
    milestone_run_rate_usd: NonNeg
    capacity_share: Share
    at_deal: bool = Field(
        False, description="released on [finance] deal_date, whatever the run-rate then")


class Finance(Frozen):
    """Investment tranches, the capital cost of added capacity and of chips held back."""

    capex_usd_per_mw: Positive
    tranches: dict[str, Tranche] = Field(default_factory=dict)
    deal_date: dt.date | None = Field(
        None, description="the day the investment deal exists (the announcement): no "
        "tranche is released before it (default: [scenario] evaluation_start, else start)")
    spend_share_of_revenue: Annotated[Param, bounded(0.0, 10.0)] | None = Field(
        None, description="cloud spend a year that revenue can carry, per dollar of served "
        "revenue (with the year's investment): above it the year is a spend breach")
    held_chip_usd_per_chip_month: NonNeg | None = Field(
        None, description="what a chip held at the supplier by the power-aware policy costs "
        "a month (carrying its value while it waits for power): held_chip_cost_usd; "
        "without it held chips are not costed")


class Procurement(Frozen):
    """Capacity ordered during the run: by funded tranches, or by a forecast policy.

    Orders go to `cloud`: chips of its newest available generation (through the supply
    pools and integration) and buildings at `build_lead_time_days`.
    """

    policy: Literal["plan", "forecast"] = "plan"
    shipping: Literal["power_aware", "legacy"] = Field(
        "power_aware", description="power_aware: ship only chips that powered space can take "
        "within power_lead_days and order power for held chips; legacy: ship on schedule")
    power_lead_days: float = Field(
        90.0, ge=0.0, description="days ahead the shipping policy looks for powered space")
    power_aware_from: dt.date | None = Field(
        None, description="power_aware: the date from which shipping waits for powered space "
        "(default: the start); before it, chips ship on schedule, as history did")
    hold_review_days: float = Field(
        30.0, gt=0.0, description="days between looks at held chips")
    early_retirement_ratio: float = Field(
        0.0, ge=0.0, description="power_aware: retire installed chips early for held chips "
        "giving at least this many times their tokens per watt (0: never)")
    cloud: str = "aws"
    order_lead_time_days: NonNeg
    build_lead_time_days: NonNeg
    review_every_days: PositiveFloat = 90.0
    headroom: AtLeastOne
    max_order_mw_per_year: NonNeg


class Lever(Frozen):
    """A decision `capsim plan` may set: the scenario key it writes, its range, unit and why.

    Levers are not uncertain inputs: a plan fixes each at one value (a parameter becomes
    a constant). `kind` is "float" or "int" (between `low` and `high`) or "choice" (one
    of `choices`).
    """

    key: Annotated[str, Field(min_length=1)]
    kind: Literal["float", "int", "choice"] = "float"
    low: float | None = None
    high: float | None = None
    choices: list[str] | None = None
    unit: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _range(self):
        if self.kind == "choice":
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("a choice lever gives choices = [...] and no low/high")
        elif self.choices is not None or self.low is None or self.high is None \
                or not self.low < self.high:
            raise ValueError(f"a {self.kind} lever gives low < high (and no choices)")
        elif self.kind == "int" and not (self.low.is_integer() and self.high.is_integer()):
            raise ValueError("an int lever has whole-number low and high")
        return self
