"""The scenario schema: typed, immutable, validated on load, every number with unit and source.

A scenario is a TOML file (the embedded ones are in `capsim.models.scenarios`).
Calibrated numbers are *parameters*: inline tables holding a distribution spec, a `unit`
and a `source` (see `params`). The four stress knobs are plain numbers meant for
`--set`: demand.growth_multiplier, supply.delivery_delay_days,
datacenters.power_on_delay_days, surges.intensity_multiplier. Each acts from
``[scenario] evaluation_start`` (the announcement) on: the history before it is the
unstressed one.

The package is split by concern; every public name is re-exported here:

- `params`: `Param`, `Sourced`, the bounded parameter types and `Frozen`, the base of
  every table;
- `supply`, `datacenters`, `demand`, `market`, `operations`: the sections;
- `schema`: `Meta` and `Scenario` with the checks across sections;
- `errors`: `ScenarioError` and how validation errors are located and worded;
- `files`: embedded names, paths and TOML parsing;
- `layers`: a base scenario (`extends`) and `--set` overrides laid over a file;
- `loading`: `load`, `validate_dict`, `to_toml`, `sha256`.
"""

from capsim.models.scenario.datacenters import Campus, Datacenters, Fleet, PowerPath
from capsim.models.scenario.demand import Consumer, Demand, Enterprise, GrowthPeriod, Surges
from capsim.models.scenario.errors import ScenarioError
from capsim.models.scenario.files import (
    DEFAULT_SCENARIO,
    SCENARIO_PACKAGE,
    embedded_names,
    parse_toml,
    resolve_path,
)
from capsim.models.scenario.layers import apply_overrides, resolve_extends
from capsim.models.scenario.loading import load, sha256, to_toml, validate_dict
from capsim.models.scenario.market import Customers, Market, Reaction, Tenant
from capsim.models.scenario.operations import (
    Cloud,
    Finance,
    Lever,
    Procurement,
    Service,
    Tranche,
)
from capsim.models.scenario.params import (
    DELAY_DAYS_MAX,
    INF,
    AtLeastOne,
    Count,
    Growth,
    Hour,
    NonNeg,
    Param,
    Positive,
    Share,
    Sourced,
)
from capsim.models.scenario.schema import MAX_HORIZON_YEARS, Meta, Scenario
from capsim.models.scenario.supply import Batching, Generation, Pool, Supply

__all__ = [
    "DEFAULT_SCENARIO",
    "DELAY_DAYS_MAX",
    "INF",
    "MAX_HORIZON_YEARS",
    "SCENARIO_PACKAGE",
    "AtLeastOne",
    "Batching",
    "Campus",
    "Cloud",
    "Consumer",
    "Count",
    "Customers",
    "Datacenters",
    "Demand",
    "Enterprise",
    "Finance",
    "Fleet",
    "Generation",
    "Growth",
    "GrowthPeriod",
    "Hour",
    "Lever",
    "Market",
    "Meta",
    "NonNeg",
    "Param",
    "Pool",
    "Positive",
    "PowerPath",
    "Procurement",
    "Reaction",
    "Scenario",
    "ScenarioError",
    "Service",
    "Share",
    "Sourced",
    "Supply",
    "Surges",
    "Tenant",
    "Tranche",
    "apply_overrides",
    "embedded_names",
    "load",
    "parse_toml",
    "resolve_extends",
    "resolve_path",
    "sha256",
    "to_toml",
    "validate_dict",
]
