"""The scenario schema: typed, immutable, validated on load, every number with unit and source.

A scenario is a TOML file. Calibrated numbers are *parameters*: inline tables holding a
distribution spec (see `simcore.streams`), a `unit` and a `source`, for example::

    pue = { dist = "triangular", low = 1.04, mode = 1.12, high = 1.15,
            unit = "facility W / IT W", source = "AWS sustainability reports (2024, 2025)" }

A parameter is drawn once per replication (uncertainty about the world), from the
stream of the component that owns it. The four stress knobs are plain numbers meant for
`--set`: demand.growth_multiplier, supply.delivery_delay_days,
datacenters.power_on_delay_days, surges.intensity_multiplier.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from capsim.models import validation
from capsim.simcore.streams import DistSpec
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

SCENARIO_PACKAGE = "capsim.models.scenarios"
DEFAULT_SCENARIO = "aws-anthropic-2026"


class ScenarioError(Exception):
    """A scenario (or an override) that cannot be used; `problems` has one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class _Frozen(BaseModel):
    # Every number finite (NaN and infinities refused), every string of a sane length.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False,
                              str_max_length=validation.MAX_STRING)


_DIST = TypeAdapter(DistSpec)


class Param(_Frozen):
    """A calibrated number: a distribution, its unit and where it comes from."""

    unit: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    spec: DistSpec

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if isinstance(data, Param):
            return data
        if not isinstance(data, dict):
            raise ValueError(
                "a parameter is a table {value = ..., unit = \"...\", source = \"...\"} "
                f"(or with dist = ...), not {data!r}")
        d = dict(data)
        out = {"unit": d.pop("unit", None), "source": d.pop("source", None)}
        if "dist" not in d:
            d["dist"] = "constant"
        out["spec"] = d
        return {k: v for k, v in out.items() if v is not None}

    def sample(self, rng, size=None):
        """Draw from the parameter's distribution."""
        return self.spec.sample(rng, size)

    @property
    def base(self) -> float:
        """The median: the value used when uncertainty is switched off."""
        return float(self.spec.median)

    def as_toml(self) -> dict:
        """The inline-table form the parameter was written in."""
        d = self.spec.model_dump(by_alias=True, exclude_defaults=False)
        d = {k: v for k, v in d.items() if v is not None and v not in (float("inf"), float("-inf"))}
        if d.get("dist") == "constant":
            d.pop("dist")
        return {**d, "unit": self.unit, "source": self.source}


def _bounded(lo: float, hi: float, strict_lo: bool = False):
    """A validator: every value the parameter's distribution can draw lies in [lo, hi]."""

    def check(p: Param) -> Param:
        s_lo, s_hi = p.spec.support
        bad_lo = s_lo <= lo if strict_lo else s_lo < lo
        if bad_lo or s_hi > hi:
            left = "(" if strict_lo else "["
            raise ValueError(f"values must lie in {left}{lo:g}, {hi:g}], but the distribution "
                             f"spans [{s_lo:g}, {s_hi:g}]")
        return p

    return AfterValidator(check)


INF = float("inf")
Share = Annotated[Param, _bounded(0.0, 1.0)]
"""A probability or share: in [0, 1]."""
NonNeg = Annotated[Param, _bounded(0.0, INF)]
"""A count, duration, rate or amount: >= 0."""
Positive = Annotated[Param, _bounded(0.0, INF, strict_lo=True)]
"""A size, speed or price: > 0."""
AtLeastOne = Annotated[Param, _bounded(1.0, INF)]
"""A ratio such as PUE or peak-to-average: >= 1."""
Hour = Annotated[Param, _bounded(0.0, 24.0)]
"""An hour of the day."""
Count = Annotated[Param, _bounded(0.0, INF), AfterValidator(validation.whole)]
"""A number of things (customers, chips): >= 0, a whole number when constant."""
Growth = Annotated[Param, _bounded(0.0, 100.0, strict_lo=True)]
"""A yearly growth factor: in (0, 100] (100x a year is beyond any observed growth)."""
DELAY_DAYS_MAX = 36525.0
"""Stress-knob delays above a century mean nothing arrives within any horizon."""


class Sourced(_Frozen):
    """A plain list of values with unit and source (e.g. output per quarter).

    `start` dates the first value (default: the scenario's start). With `low` and `high`
    (one per value) each value is uncertain: triangular(low, value, high), drawn once per
    replication.
    """

    values: list[NonNegativeFloat]
    unit: str
    source: str
    start: dt.date | None = None
    low: list[NonNegativeFloat] | None = None
    high: list[NonNegativeFloat] | None = None

    @model_validator(mode="after")
    def _ranges(self):
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither")
        if self.low is not None and self.high is not None:
            n = len(self.values)
            if len(self.low) != n or len(self.high) != n:
                raise ValueError(f"low and high need one entry per value ({n}), got "
                                 f"{len(self.low)} and {len(self.high)}")
            for i, (lo, v, hi) in enumerate(zip(self.low, self.values, self.high, strict=True)):
                if not lo <= v <= hi:
                    raise ValueError(f"entry {i}: need low <= value <= high, got {lo:g}, {v:g}, "
                                     f"{hi:g}")
        return self


# ---------------------------------------------------------------------------
MAX_HORIZON_YEARS = 50
"""Longest horizon: beyond it no input of a capacity plan means anything."""


class Meta(_Frozen):
    """Name, title and horizon."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    extends: str | None = Field(None, description="a scenario this one changes (merged on load)")
    observations: str | None = Field(
        None, description="the public record the history is scored against: an observation "
        "file path or the name of one shipped with the package (default: this scenario's name)")
    posterior: str | None = Field(
        None, description="a calibration's posterior.parquet (or its directory): each "
        "replication draws its uncertain inputs from it (see capsim.models.posterior)")
    title: str = ""
    description: str = ""
    start: dt.date
    end: dt.date
    evaluation_start: dt.date | None = Field(
        None, description="first day of the window the future-facing KPIs cover (default: start)")
    evaluation_end: dt.date | None = Field(
        None, description="day after the window's last (default: end)")

    @model_validator(mode="after")
    def _horizon(self):
        if self.end <= self.start:
            raise ValueError(f"end (={self.end}) must be after start (={self.start})")
        if (self.end - self.start).days > MAX_HORIZON_YEARS * 366:
            raise ValueError(f"end (={self.end}): the horizon is at most {MAX_HORIZON_YEARS} "
                             f"years from start (={self.start})")
        lo = self.evaluation_start or self.start
        # A run cut short before its window (a calibration of the history years, a quick
        # test) is evaluated over the whole run (see models.outcomes.window_days); a window
        # that starts before the run or ends before it starts is a mistake.
        if lo < self.start:
            raise ValueError(f"evaluation_start (={lo}) must be on or after start "
                             f"(={self.start})")
        if self.evaluation_end is not None and self.evaluation_end <= lo:
            raise ValueError(f"evaluation_end (={self.evaluation_end}) must be after the "
                             f"evaluation window's start (={lo})")
        return self


class Batching(_Frozen):
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


class Generation(_Frozen):
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


class Pool(_Frozen):
    """A shared component pool (CoWoS packaging, HBM stacks) refilled every month.

    Output per month starts at `capacity_per_month`, grows by `growth_per_year` up to
    `max_per_month`; `share` of it is allotted to the chips this scenario models.
    """

    unit: Annotated[str, Field(min_length=1)]
    capacity_per_month: Positive
    growth_per_year: Positive
    max_per_month: Positive
    share: Annotated[Param, _bounded(0.0, 1.0, strict_lo=True)]
    stock_months: AtLeastOne


class Supply(_Frozen):
    """Chip supply: generations, component pools and the delivery-delay stress knob."""

    delivery_delay_days: Annotated[float, Field(ge=0, le=DELAY_DAYS_MAX)] = 0.0
    generations: dict[str, Generation]
    pools: dict[str, Pool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _nonempty(self):
        if not self.generations:
            raise ValueError("at least one chip generation is needed")
        return self


class PowerPath(_Frozen):
    """How a site gets its power: a grid connection, new transformers, or on-site generation.

    The path is ready `lead_time_years` after it was `requested`; no new building of the
    campus powers on before that.
    """

    kind: Literal["grid", "transformer", "onsite"]
    requested: dt.date
    lead_time_years: NonNeg


class Campus(_Frozen):
    """A datacenter campus: buildings of equal size that power on one after another."""

    cloud: str = Field("aws", description="the cloud that runs this campus")
    building_mw: Positive
    energized_at_start: Annotated[int, Field(ge=0)]
    new_buildings: Annotated[int, Field(ge=0)]
    first_power_on: dt.date
    interval_days: NonNeg
    slip_days: NonNeg
    power_path: PowerPath | None = None


class Datacenters(_Frozen):
    """Campuses, PUE and the power-on-delay stress knob."""

    power_on_delay_days: Annotated[float, Field(ge=0, le=DELAY_DAYS_MAX)] = 0.0
    pue: AtLeastOne
    campuses: dict[str, Campus]


class Fleet(_Frozen):
    """Servers, failures, repairs and retirement."""

    server_overhead: AtLeastOne
    integration_days: NonNeg
    mtbf_hours: Positive
    repair_hours: NonNeg
    useful_life_years: Positive


class Enterprise(_Frozen):
    """The enterprise customer population."""

    customers: Count
    size_sigma: Annotated[Param, _bounded(0.0, 5.0, strict_lo=True)]  # e^5: beyond any spread
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


class Consumer(_Frozen):
    """Consumer (chat app) demand."""

    price_usd_per_mtok: Positive
    growth_factor: NonNeg
    weekend_factor: NonNeg
    peak_to_average: AtLeastOne
    peak_local_hour: Hour
    peak_width_hours: Positive


class GrowthPeriod(_Frozen):
    """Token demand grows at `rate` (x per year) until the date `until`."""

    until: dt.date
    rate: Positive


class Demand(_Frozen):
    """Claude demand on this cloud, from revenue, with a decaying growth rate."""

    growth_multiplier: Annotated[float, Field(
        gt=0, le=10, description="stress knob: scales log growth; (0, 10]")] = 1.0
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
    efficiency_gain_per_year: Positive
    enterprise: Enterprise
    consumer: Consumer


class Market(_Frozen):
    """Price per token from cost per token, a price response and a ceiling (models.market)."""

    enabled: bool = True
    start: dt.date = Field(description="from this date prices follow cost and demand responds")
    cost_cloud: str = Field("aws", description="the cloud whose price per MW-year is the cost")
    serving_utilization: Share
    gross_margin_target: Annotated[Param, _bounded(-1.0, 0.95)]
    margin_halflife_years: Positive
    price_decline_fastest: Annotated[Param, _bounded(0.0, 1.0, strict_lo=True)]
    price_decline_slowest: Annotated[Param, _bounded(0.0, 2.0, strict_lo=True)]
    elasticity: Annotated[Param, _bounded(-5.0, 0.0)]
    tam_usd_per_year: Positive


Reaction = Literal["retry", "churn", "arrivals"]
"""How customers can react to the service they get (models.customers)."""


def _all_reactions() -> list[Reaction]:
    return ["retry", "churn", "arrivals"]


class Customers(_Frozen):
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


class Tenant(_Frozen):
    """Another tenant drawing on a cloud's new power (models.tenants)."""

    enabled: bool = False
    cloud: str = "aws"
    start: dt.date = Field(description="first power-on the tenant takes a share of")
    commitment_usd: Positive
    commitment_years: PositiveFloat
    price_usd_per_mw_it_year: Positive
    pue: AtLeastOne
    expansion_from: dt.date
    expansion_per_year: Annotated[Param, _bounded(0.0, 10.0, strict_lo=True)]
    power_share: Share


class Surges(_Frozen):
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


class Service(_Frozen):
    """Training reservation, the queueing picture of serving, and the SLO."""

    serving_share: Share
    training_flex_share: Share
    flex_target_utilization: Annotated[Param, _bounded(0.0, 1.0, strict_lo=True)]
    pools: AtLeastOne
    tokens_per_request: Positive
    output_share: Annotated[Param, _bounded(0.0, 1.0, strict_lo=True)]
    service_scv: NonNeg
    slo_p99_wait_s: NonNeg
    slo_target_share: Share
    short_month_threshold: float = Field(
        0.01, ge=0.0, lt=1.0,
        description="a month is short when more than this share of its demand goes unserved")
    latency_cap_s: float = Field(
        600.0, gt=0.0,
        description="seconds at which a request gives up: latency of overloaded hours")


class Cloud(_Frozen):
    """A cloud that runs Claude: what it bills and what was committed to it."""

    enabled: bool = True
    label: Annotated[str, Field(min_length=1)]
    price_usd_per_mw_it_year: NonNeg
    commitment_usd: NonNeg
    commitment_start: dt.date
    commitment_years: PositiveFloat


class Tranche(_Frozen):
    """Investment released once, when the revenue run-rate first reaches a milestone."""

    amount_usd: NonNeg
    milestone_run_rate_usd: NonNeg
    capacity_share: Share


class Finance(_Frozen):
    """Investment tranches and the capital cost of added capacity."""

    capex_usd_per_mw: Positive
    tranches: dict[str, Tranche] = Field(default_factory=dict)
    spend_share_of_revenue: Annotated[Param, _bounded(0.0, 10.0)] | None = Field(
        None, description="cloud spend a year that revenue can carry, per dollar of served "
        "revenue (with the year's investment): above it the year is a spend breach")


class Procurement(_Frozen):
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


class Lever(_Frozen):
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


class Scenario(_Frozen):
    """A whole scenario."""

    scenario: Meta
    supply: Supply
    datacenters: Datacenters
    fleet: Fleet
    demand: Demand
    surges: Surges
    service: Service
    clouds: dict[str, Cloud]
    finance: Finance
    procurement: Procurement
    levers: dict[str, Lever] = Field(default_factory=dict)
    market: Market | None = None
    tenants: dict[str, Tenant] = Field(default_factory=dict)
    customers: Customers | None = None

    @model_validator(mode="after")
    def _clouds(self):
        names = list(self.clouds)
        if not any(c.enabled for c in self.clouds.values()):
            raise ValueError("clouds: no cloud is enabled; enable at least one "
                             f"(clouds.<name>.enabled = true, one of {', '.join(names)})")
        for kind, items in (("supply.generations", self.supply.generations),
                            ("datacenters.campuses", self.datacenters.campuses)):
            for name, item in items.items():
                if item.cloud not in self.clouds:
                    close = difflib.get_close_matches(item.cloud, names, n=1)
                    raise ValueError(f"{kind}.{name}.cloud: no cloud {item.cloud!r} in [clouds]"
                                     + (f"; did you mean {close[0]!r}?" if close else ""))
        for cname, c in self.clouds.items():
            if not c.enabled:
                continue
            if not any(g.cloud == cname for g in self.supply.generations.values()):
                raise ValueError(f"clouds.{cname}: enabled but no supply.generations entry "
                                 "has this cloud")
            if not any(k.cloud == cname for k in self.datacenters.campuses.values()):
                raise ValueError(f"clouds.{cname}: enabled but no datacenters.campuses entry "
                                 "has this cloud")
        years = (self.scenario.end - self.scenario.start).days / 365.25
        for name, g in self.supply.generations.items():
            for pool, use in g.uses.items():
                if pool not in self.supply.pools:
                    raise ValueError(f"supply.generations.{name}.uses.{pool}: no pool "
                                     f"{pool!r} in supply.pools (has: "
                                     f"{', '.join(self.supply.pools) or 'none'})")
                if not self.clouds[g.cloud].enabled:
                    continue
                p = self.supply.pools[pool]
                # The smallest month any draw can give: a chip must fit in it.
                first = p.capacity_per_month.spec.support[0] * min(
                    1.0, p.growth_per_year.spec.support[0] ** years)
                month = p.share.spec.support[0] * min(first, p.max_per_month.spec.support[0])
                if use.spec.support[1] > month:
                    raise ValueError(
                        f"supply.generations.{name}.uses.{pool}: one chip can need "
                        f"{use.spec.support[1]:g} {p.unit}, more than the smallest monthly "
                        f"allotment supply.pools.{pool} can give ({month:g}); raise the pool's "
                        "share or capacity")
        for name, g in self.supply.generations.items():
            if self.clouds[g.cloud].enabled and g.batching is None:
                raise ValueError(f"supply.generations.{name}.batching: missing; every "
                                 "generation of an enabled cloud needs its replicas' batch "
                                 "curve (models/serving.py)")
        pc = self.procurement.cloud
        needs_orders = (self.procurement.policy == "forecast" or any(
            t.capacity_share.spec.support[1] > 0 for t in self.finance.tranches.values()))
        if needs_orders and (pc not in self.clouds or not self.clouds[pc].enabled):
            raise ValueError(f"procurement.cloud: capacity is ordered for {pc!r}, which is "
                             "not an enabled cloud")
        return self

    @model_validator(mode="after")
    def _dates(self):
        start = self.scenario.start
        last = start
        for i, period in enumerate(self.demand.growth_by_period):
            if period.until <= last:
                raise ValueError(f"demand.growth_by_period[{i}].until(={period.until}) must be "
                                 f"after {last} (the start or the previous period's end)")
            last = period.until
        for name, g in self.supply.generations.items():
            if g.installed_at_start.spec.support[1] > 0 and g.available > start:
                raise ValueError(f"supply.generations.{name}: installed_at_start > 0 but the "
                                 f"generation is available only from {g.available}, after the "
                                 f"start {start}: a chip cannot be installed before it exists")
            rack_mw = (g.chips_per_rack * g.chip_power_w.spec.support[1]
                       * self.fleet.server_overhead.spec.support[1]
                       * self.datacenters.pue.spec.support[1] / 1e6)
            for cname, campus in self.datacenters.campuses.items():
                if campus.cloud == g.cloud and rack_mw > campus.building_mw.spec.support[0]:
                    raise ValueError(
                        f"supply.generations.{name}.chips_per_rack: a rack of {g.chips_per_rack} "
                        f"chips can need {rack_mw:g} MW, more than the smallest building of "
                        f"datacenters.campuses.{cname} ({campus.building_mw.spec.support[0]:g} MW)")
            if g.production_end is not None and g.production_end <= self.scenario.start and \
                    g.installed_at_start.base <= 0:
                raise ValueError(f"supply.generations.{name}: ends before the start and has no "
                                 "installed base: it would contribute nothing")
        return self

    @model_validator(mode="after")
    def _tenant_clouds(self):
        for name, t in self.tenants.items():
            if t.cloud not in self.clouds:
                raise ValueError(f"tenants.{name}.cloud: no cloud {t.cloud!r} in [clouds]")
        if self.market is not None and self.market.cost_cloud not in self.clouds:
            raise ValueError(f"market.cost_cloud: no cloud {self.market.cost_cloud!r} in [clouds]")
        return self

    @model_validator(mode="after")
    def _lever_keys(self):
        for name, lever in self.levers.items():
            node: Any = self
            for part in lever.key.split("."):
                node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
                if node is None or isinstance(node, Lever):
                    raise ValueError(f"levers.{name}.key: no scenario key {lever.key!r}")
        return self

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name


# ---------------------------------------------------------------------------
# Loading, overrides, errors
# ---------------------------------------------------------------------------

def embedded_names() -> list[str]:
    """Names of the scenarios shipped inside the package."""
    files = resources.files(SCENARIO_PACKAGE)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def resolve_path(name_or_path: str | Path | None) -> tuple[str, str]:
    """(label, TOML text) of an embedded scenario name or a file path.

    A file must be a regular file of at most `validation.MAX_FILE_BYTES`, in UTF-8.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_SCENARIO
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        try:
            return str(p), validation.read_limited(p)
        except FileNotFoundError:
            raise ScenarioError(str(p), ["file not found"]) from None
        except ValueError as exc:
            raise ScenarioError(str(p), [str(exc)]) from None
        except OSError as exc:
            raise ScenarioError(str(p), [f"cannot read: {exc.strerror or exc}"]) from None
    if str(name_or_path) in embedded_names():
        res = resources.files(SCENARIO_PACKAGE) / f"{name_or_path}.toml"
        return f"{name_or_path} (embedded)", res.read_text(encoding="utf-8")
    hint = difflib.get_close_matches(str(name_or_path), embedded_names(), n=1)
    msg = f"no scenario file or embedded scenario named {str(name_or_path)!r}"
    if hint:
        msg += f"; did you mean {hint[0]!r}?"
    raise ScenarioError(str(name_or_path), [msg + f" (embedded: {', '.join(embedded_names())})"])


def parse_toml(label: str, text: str) -> dict:
    """Parse TOML text; a syntax error (or a file too big or deep) becomes a ScenarioError."""
    try:
        validation.check_text(text)
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError is a ValueError
        prefix = "TOML syntax error: " if isinstance(exc, tomllib.TOMLDecodeError) else ""
        raise ScenarioError(label, [f"{prefix}{exc}"]) from None
    except RecursionError:
        raise ScenarioError(label, ["nested too deeply"]) from None


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_at(loc: tuple) -> type[BaseModel] | None:
    # Walk the schema along an error location to find the model that has the bad key.
    model: Any = Scenario
    for part in loc[:-1]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            # A dict of models (generations, campuses): keep the model of its values.
            continue
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            model = args[-1]
        else:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


_HEADER = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(#.*)?$")


def _line_of(text: str | None, loc: tuple) -> int | None:
    """Line (1-based) where the key at `loc` is written, when the text shows it plainly.

    Finds the deepest `[table]` header that is a prefix of the key, then the first
    `key =` line below it for the next part of the key. Keys inside inline tables are
    reported at the line of the inline table; a missing key at its table's header.
    """
    if not text or not loc:
        return None
    lines = text.splitlines()
    parts = [str(p) for p in loc]
    start, depth = 0, 0
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            names = [n.strip().strip('"') for n in m.group(1).split(".")]
            if names == parts[: len(names)] and len(names) >= depth:
                start, depth = i + 1, len(names)
    if depth >= len(parts):
        return start
    key = re.compile(rf"^\s*\"?{re.escape(parts[depth])}\"?\s*=")
    for i in range(start, len(lines)):
        if i > start and _HEADER.match(lines[i]):
            break
        if key.match(lines[i]):
            return i + 1
    # Not written (a missing key): point at its table's header.
    return start if depth else None


def _format_errors(exc: ValidationError, text: str | None = None) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "spec" and not (isinstance(p, str) and p in
                    ("constant", "uniform", "triangular", "normal", "lognormal", "pert")))
        line = _line_of(text, loc)
        key = ("".join([f"line {line}: "] if line else []) + ".".join(str(p) for p in loc)
               or "(top level)")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            hint = ""
            if model is not None:
                close = difflib.get_close_matches(str(loc[-1]), _allowed_keys(model), n=1)
                if close:
                    hint = f"; did you mean {close[0]!r}?"
            problems.append(f"{key}: unknown key{hint}")
            continue
        if err["type"] == "missing":
            problems.append(f"{key}: required key is missing")
            continue
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
        if not loc:  # a rule across keys: its message names them
            problems.append(msg)
            continue
        problems.append(f"{key}: {msg}{shown}")
    return problems


def validate_dict(label: str, data: dict, text: str | None = None) -> Scenario:
    """Validate a parsed scenario.

    Validate a parsed scenario; errors become a ScenarioError naming each key (and its
    line in `text`, the file's contents, where it can be found).
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(label, _format_errors(exc, text)) from None


def apply_overrides(label: str, data: dict, overrides: list[str]) -> dict:
    """Apply `key.path=value` overrides (values in TOML syntax, bare words as strings)."""
    data = copy.deepcopy(data)
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            problems.append(f"--set {item!r}: expected key=value")
            continue
        if key == "scenario.extends":
            problems.append("--set scenario.extends: a base scenario is chosen in the file "
                            "([scenario] extends = ...), not by --set; name the scenario to run "
                            "instead")
            continue
        try:
            validation.check_text(raw)
        except ValueError as exc:
            problems.append(f"--set {key}: value {exc}")
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except (tomllib.TOMLDecodeError, RecursionError):
            bare = raw.replace("-", "").replace("_", "").replace(".", "")
            if bare.isalnum() and not raw[0].isdigit():
                value = raw
            else:
                problems.append(f"--set {key}: cannot parse value {raw!r}")
                continue
        parts = key.split(".")
        if len(parts) > validation.MAX_DEPTH:
            problems.append(f"--set {key[:80]}: key nested deeper than {validation.MAX_DEPTH}")
            continue
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                here = ".".join(parts[: i + 1])
                choices = list(node) if isinstance(node, dict) else []
                close = difflib.get_close_matches(part, choices, n=1)
                problems.append(f"--set {key}: unknown key {here!r}"
                                + (f"; did you mean {close[0]!r}?" if close else ""))
                break
            node = node[part]
        else:
            last = parts[-1]
            if not isinstance(node, dict):
                problems.append(f"--set {key}: {'.'.join(parts[:-1])} is not a table")
            elif last not in node:
                model = _model_at(tuple(parts))
                known = _allowed_keys(model) if model else list(node)
                if last in known:
                    node[last] = value  # an optional key that the file leaves at its default
                else:
                    close = difflib.get_close_matches(last, known, n=1)
                    problems.append(f"--set {key}: unknown key"
                                    + (f"; did you mean {close[0]!r}?" if close else ""))
            elif isinstance(node[last], dict) and not isinstance(value, dict):
                # Setting a parameter to a number keeps its unit and makes it constant.
                old = node[last]
                node[last] = {"value": value, "unit": old.get("unit", ""),
                              "source": f"override --set {key}={raw}"}
            else:
                node[last] = value
    if problems:
        raise ScenarioError(label, problems)
    return data


def load(name_or_path: str | Path | None = None, overrides: list[str] | None = None
         ) -> tuple[Scenario, str]:
    """Load and validate a scenario; returns (scenario, resolved TOML text).

    Raises:
        ScenarioError: naming the file and each bad key.
    """
    label, text = resolve_path(name_or_path)
    data = parse_toml(label, text)
    based = _extend(label, data, name_or_path)
    if based:  # errors name the whole chain: top.toml -> base.toml
        label = " -> ".join(based)
    if overrides:
        data = apply_overrides(label, data, overrides)
    problems = validation.check_data(data)
    if problems:
        raise ScenarioError(label, problems)
    # Line numbers refer to the file; with overrides (or a base scenario) the failing value
    # may not be written in it.
    scenario = validate_dict(label, data, None if overrides or based else text)
    try:
        validation.check_resources(scenario)
    except validation.ResourceLimit as exc:
        raise ScenarioError(label, [str(exc)]) from None
    return scenario, to_toml(scenario)


def _is_param(d: dict) -> bool:
    # A parameter always has a source (or a distribution, or a value); a plain table such
    # as a pool may have a `unit` of its own and still merges key by key.
    return "source" in d or "dist" in d or "value" in d


def _merge(base: dict, child: dict) -> dict:
    """`child` laid over `base`.

    `child` laid over `base`: tables merge key by key; a parameter (in the base or the
    child) and any other value is replaced whole.
    """
    out = copy.deepcopy(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not (
                _is_param(v) or _is_param(out[k])):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _extend(label: str, data: dict, name_or_path, depth: int = 0,
            chain: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Resolve `scenario.extends` in place (a chain of up to 8); the chain, () if none.

    A base given as a path (it has a "/" or a suffix, or names an existing file) is
    resolved relative to the directory of the extending file, whatever that file's
    suffix; a bare name is an embedded scenario. Errors name the whole chain,
    "a.toml -> b.toml -> c.toml".
    """
    meta = data.get("scenario")
    if not isinstance(meta, dict) or not meta.get("extends"):
        return chain
    chain = chain or (label,)
    where = " -> ".join(chain)
    base_name = meta["extends"]
    if not isinstance(base_name, str):
        raise ScenarioError(
            where, [f"scenario.extends: must be a scenario name or path (got {base_name!r})"])
    if depth >= 8:
        raise ScenarioError(where, ["scenario.extends: chain longer than 8 (a cycle?)"])
    here = Path(str(name_or_path)) if name_or_path is not None else None
    extending_file = here is not None and here.is_file()
    if extending_file and not Path(base_name).is_absolute():
        assert here is not None
        candidate = here.parent / base_name
        # A file next to it, or anything that looks like a path; else an embedded name.
        if candidate.exists() or "/" in base_name or Path(base_name).suffix:
            base_name = str(candidate)
    try:
        base_label, base_text = resolve_path(base_name)
    except ScenarioError as exc:
        raise ScenarioError(where, [f"scenario.extends ({exc.source}): {p}"
                                    for p in exc.problems]) from None
    if base_label in chain:
        raise ScenarioError(where, [f"scenario.extends: {base_label} extends itself (a cycle)"])
    try:
        base = parse_toml(base_label, base_text)
    except ScenarioError as exc:
        raise ScenarioError(f"{where} -> {base_label}", exc.problems) from None
    full = _extend(base_label, base, base_name, depth + 1, (*chain, base_label))
    merged = _merge(base, data)
    if not isinstance(merged.get("scenario"), dict):
        raise ScenarioError(f"{where} -> {base_label}", ["[scenario] must be a table"])
    merged["scenario"].pop("extends", None)
    data.clear()
    data.update(merged)
    return full or (*chain, base_label)


def to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML (defaults filled in)."""

    def conv(obj: Any) -> Any:
        if isinstance(obj, Param):
            return obj.as_toml()
        if isinstance(obj, BaseModel):
            out = {}
            for name, field in type(obj).model_fields.items():
                v = getattr(obj, name)
                if v is None or (isinstance(obj, Meta) and name == "extends"):
                    continue
                out[field.alias or name] = conv(v)
            return out
        if isinstance(obj, dict):
            return {k: conv(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [conv(v) for v in obj]
        return obj

    return tomli_w.dumps(conv(scenario))


def sha256(text: str) -> str:
    """Hash of a resolved scenario text."""
    return hashlib.sha256(text.encode()).hexdigest()
