"""Where chips run: the datacenters section (campuses, their power, PUE) and the fleet."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from capsim.models.scenario.params import (
    DELAY_DAYS_MAX,
    AtLeastOne,
    Frozen,
    NonNeg,
    Positive,
)
from pydantic import Field


class PowerPath(Frozen):
    """How a site gets its power: a grid connection, new transformers, or on-site generation.

    The path is ready `lead_time_years` after it was `requested`; no new building of the
    campus powers on before that.
    """

    kind: Literal["grid", "transformer", "onsite"]
    requested: dt.date
    lead_time_years: NonNeg


class Campus(Frozen):
    """A datacenter campus: buildings of equal size that power on one after another."""

    cloud: str = Field("aws", description="the cloud that runs this campus")
    building_mw: Positive
    energized_at_start: Annotated[int, Field(ge=0)]
    new_buildings: Annotated[int, Field(ge=0)]
    first_power_on: dt.date
    interval_days: NonNeg
    slip_days: NonNeg
    power_path: PowerPath | None = None


class Datacenters(Frozen):
    """Campuses, PUE and the power-on-delay stress knob."""

    power_on_delay_days: Annotated[float, Field(ge=0, le=DELAY_DAYS_MAX)] = 0.0
    pue: AtLeastOne
    campuses: dict[str, Campus]


class Fleet(Frozen):
    """Servers, failures, repairs and retirement."""

    server_overhead: AtLeastOne
    integration_days: NonNeg
    mtbf_hours: Positive
    repair_hours: NonNeg
    useful_life_years: Positive
