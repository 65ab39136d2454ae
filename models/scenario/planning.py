"""What `capsim plan` must achieve, and the observations a planner could wait for.

`[plan]` holds the target; `[value_of_information.observations.<name>]` the observations.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from capsim.models.scenario.params import Frozen
from pydantic import Field


class PlanTarget(Frozen):
    """The plan's constraint on the headline shortage KPI, and how close is a tie.

    `max_unmet_share`: the largest expected value of the headline shortage KPI (over the
    evaluation window) a plan may have. `indifference_share`: two plans whose expected
    costs differ by less than this share of the cost count as equally good when the best
    few are compared on fresh seeds.
    """

    max_unmet_share: Annotated[float, Field(gt=0.0, lt=1.0)]
    indifference_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    unit: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]


class Observation(Frozen):
    """A public number that could be known before the plan is committed.

    `series` is a daily series of a run (a per-group name such as
    `chips_shipped__trainium3` included); `operator` "at" takes its value on `date`,
    "mean_90d" its mean over the 90 days ending on `date`. `error_share` is the expected
    measurement error as a share of the value (a normal error's standard deviation).
    """

    series: Annotated[str, Field(min_length=1)]
    date: dt.date
    operator: Literal["at", "mean_90d"] = "at"
    error_share: Annotated[float, Field(ge=0.0, lt=1.0)]
    unit: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]


class ValueOfInformation(Frozen):
    """The candidate next observations of `capsim value-of-information`."""

    observations: dict[str, Observation] = Field(default_factory=dict)
