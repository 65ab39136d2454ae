"""Parameters: the calibrated numbers of a scenario, with unit, source and bounds.

A calibrated number is an inline table holding a distribution spec (see
`simcore.streams`), a `unit` and a `source`, for example::

    pue = { dist = "triangular", low = 1.04, mode = 1.12, high = 1.15,
            unit = "facility W / IT W", source = "AWS sustainability reports (2024, 2025)" }

A parameter is drawn once per replication (uncertainty about the world), from the
stream of the component that owns it.

An uncertain parameter records its *vintage*: `as_of`, the date of the latest public data
its distribution was written from. One written from later data may also carry the
distributions that were defensible earlier, each with its own date and source::

    growth_start = { dist = "triangular", low = 6, mode = 10, high = 15, as_of = 2024-12-31,
                     unit = "x per year", source = "...",
                     vintages = [{ as_of = 2023-12-31, dist = "triangular", low = 2,
                                   mode = 8, high = 20, source = "..." }] }

A calibration or backtest with origin D uses the latest of these with as_of <= D
(`capsim.models.inputs.at_vintage`); a run uses the parameter's own distribution.

This module also holds `Frozen`, the base of every table of the schema (and of the
observation files), and the bounded parameter types the sections use.
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


def _spec_split(data: Any, keys: tuple[str, ...], what: str) -> dict:
    """{key: ... for keys, "spec": the rest} of an inline table (dist defaults to constant)."""
    if not isinstance(data, dict):
        raise ValueError(
            f"{what} is a table {{value = ..., unit = \"...\", source = \"...\"}} "
            f"(or with dist = ...), not {data!r}")
    d = dict(data)
    out = {k: d.pop(k, None) for k in keys}
    if "dist" not in d:
        d["dist"] = "constant"
    out["spec"] = d
    return {k: v for k, v in out.items() if v is not None}


class Vintage(Frozen):
    """An earlier distribution of a parameter: what the public data of `as_of` supported."""

    as_of: dt.date
    source: Annotated[str, Field(min_length=1)]
    spec: DistSpec

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if isinstance(data, Vintage):
            return data
        return _spec_split(data, ("as_of", "source"), "a vintage")

    def as_toml(self) -> dict:
        """The inline-table form the vintage was written in."""
        return {**_spec_toml(self.spec), "as_of": self.as_of, "source": self.source}


def _spec_toml(spec: DistSpec) -> dict:
    d = spec.model_dump(by_alias=True, exclude_defaults=False)
    d = {k: v for k, v in d.items() if v is not None and v not in (float("inf"), float("-inf"))}
    if d.get("dist") == "constant":
        d.pop("dist")
    return d


class Param(Frozen):
    """A calibrated number: a distribution, its unit, where it comes from, and its vintage.

    `as_of`: the date of the latest public data the distribution was written from;
    `vintages`: earlier distributions (each dated before `as_of`, in date order).
    """

    unit: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    spec: DistSpec
    as_of: dt.date | None = None
    vintages: list[Vintage] = []

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if isinstance(data, Param):
            return data
        return _spec_split(data, ("unit", "source", "as_of", "vintages"), "a parameter")

    @model_validator(mode="after")
    def _dated(self):
        if self.vintages and self.as_of is None:
            raise ValueError("vintages need the parameter's own as_of (later than theirs)")
        dates = [v.as_of for v in self.vintages]
        if dates != sorted(set(dates)) or (dates and self.as_of is not None
                                           and dates[-1] >= self.as_of):
            raise ValueError("vintages must be in date order, each as_of distinct and before "
                             f"the parameter's as_of ({self.as_of})")
        return self

    def sample(self, rng, size=None):
        """Draw from the parameter's distribution."""
        return self.spec.sample(rng, size)

    @property
    def base(self) -> float:
        """The median: the value used when uncertainty is switched off."""
        return float(self.spec.median)

    def as_toml(self) -> dict:
        """The inline-table form the parameter was written in."""
        out = {**_spec_toml(self.spec), "unit": self.unit, "source": self.source}
        if self.as_of is not None:
            out["as_of"] = self.as_of
        if self.vintages:
            out["vintages"] = [v.as_toml() for v in self.vintages]
        return out


def bounded(lo: float, hi: float, strict_lo: bool = False):
    """A validator: every value the parameter's distribution can draw lies in [lo, hi]."""

    def check(p: Param) -> Param:
        for spec, what in [(p.spec, "the distribution"),
                           *((v.spec, f"the vintage of {v.as_of}") for v in p.vintages)]:
            s_lo, s_hi = spec.support
            bad_lo = s_lo <= lo if strict_lo else s_lo < lo
            if bad_lo or s_hi > hi:
                left = "(" if strict_lo else "["
                raise ValueError(f"values must lie in {left}{lo:g}, {hi:g}], but {what} "
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


def _check_ranges(values: list[float], low: list[float] | None,
                  high: list[float] | None) -> None:
    if (low is None) != (high is None):
        raise ValueError("give both low and high, or neither")
    if low is not None and high is not None:
        n = len(values)
        if len(low) != n or len(high) != n:
            raise ValueError(f"low and high need one entry per value ({n}), got "
                             f"{len(low)} and {len(high)}")
        for i, (lo, v, hi) in enumerate(zip(low, values, high, strict=True)):
            if not lo <= v <= hi:
                raise ValueError(f"entry {i}: need low <= value <= high, got {lo:g}, {v:g}, "
                                 f"{hi:g}")


class ListVintage(Frozen):
    """An earlier version of an uncertain list: values and ranges the data of `as_of` gave."""

    as_of: dt.date
    source: Annotated[str, Field(min_length=1)]
    values: list[NonNegativeFloat]
    low: list[NonNegativeFloat]
    high: list[NonNegativeFloat]

    @model_validator(mode="after")
    def _ranges(self):
        _check_ranges(self.values, self.low, self.high)
        return self


class Sourced(Frozen):
    """A plain list of values with unit and source (e.g. output per quarter).

    `start` dates the first value (default: the scenario's start). With `low` and `high`
    (one per value) each value is uncertain: triangular(low, value, high), drawn once per
    replication; `as_of` and `vintages` date it as a parameter's (one entry per value in
    each vintage).
    """

    values: list[NonNegativeFloat]
    unit: str
    source: str
    start: dt.date | None = None
    low: list[NonNegativeFloat] | None = None
    high: list[NonNegativeFloat] | None = None
    as_of: dt.date | None = None
    vintages: list[ListVintage] | None = None

    @model_validator(mode="after")
    def _ranges(self):
        _check_ranges(self.values, self.low, self.high)
        if self.vintages and (self.as_of is None or self.low is None):
            raise ValueError("vintages need low, high and the list's own as_of")
        dates = [v.as_of for v in self.vintages or ()]
        if dates != sorted(set(dates)) or (dates and self.as_of is not None
                                           and dates[-1] >= self.as_of):
            raise ValueError("vintages must be in date order, each as_of distinct and before "
                             f"the list's as_of ({self.as_of})")
        for v in self.vintages or ():
            if len(v.values) != len(self.values):
                raise ValueError(f"the vintage of {v.as_of} needs {len(self.values)} values")
        return self
