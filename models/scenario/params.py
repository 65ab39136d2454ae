"""Parameters: the calibrated numbers of a scenario, with unit, source and bounds.

A calibrated number is an inline table holding a distribution spec (see
`simcore.streams`), a `unit` and a `source`, for example::

    pue = { dist = "triangular", low = 1.04, mode = 1.12, high = 1.15,
            unit = "facility W / IT W", source = "AWS sustainability reports (2024, 2025)" }

A parameter is drawn once per replication (uncertainty about the world), from the
stream of the component that owns it. This module also holds `Frozen`, the base of every
table of the schema (and of the observation files), and the bounded parameter types the
sections use.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from capsim.models import validation
from capsim.simcore.streams import DistSpec
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    model_validator,
)


class Frozen(BaseModel):
    """Base of every table: immutable, no unknown keys, no type coercion.

    Every number is finite (NaN and infinities refused) and every string of a sane length.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False,
                              str_max_length=validation.MAX_STRING)


class Param(Frozen):
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


def bounded(lo: float, hi: float, strict_lo: bool = False):
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
Share = Annotated[Param, bounded(0.0, 1.0)]
"""A probability or share: in [0, 1]."""
NonNeg = Annotated[Param, bounded(0.0, INF)]
"""A count, duration, rate or amount: >= 0."""
Positive = Annotated[Param, bounded(0.0, INF, strict_lo=True)]
"""A size, speed or price: > 0."""
AtLeastOne = Annotated[Param, bounded(1.0, INF)]
"""A ratio such as PUE or peak-to-average: >= 1."""
Hour = Annotated[Param, bounded(0.0, 24.0)]
"""An hour of the day."""
Count = Annotated[Param, bounded(0.0, INF), AfterValidator(validation.whole)]
"""A number of things (customers, chips): >= 0, a whole number when constant."""
Growth = Annotated[Param, bounded(0.0, 100.0, strict_lo=True)]
"""A yearly growth factor: in (0, 100] (100x a year is beyond any observed growth)."""
DELAY_DAYS_MAX = 36525.0
"""Stress-knob delays above a century mean nothing arrives within any horizon."""


class Sourced(Frozen):
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
