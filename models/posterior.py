"""Uncertain inputs of a scenario, pinning them to values, and drawing them from a posterior.

Every parameter whose distribution can take more than one value is an *uncertain input*,
named by its path in the scenario (``demand.growth_start``,
``demand.growth_by_period[1].rate``, ``supply.generations.trainium2.quarterly_output[4]``).
Inputs of clouds a scenario switches off are left out (they cannot change a run).

`pin` returns the scenario with some inputs fixed to given values (each becomes a
constant parameter: one uniform is still drawn for it, so every later draw of its stream
is unchanged). A `Posterior` is a table of input values and weights (a calibration's
posterior.parquet); each replication picks one row with its own named stream
("posterior"), so common random numbers and worker independence hold.
"""

from __future__ import annotations

import copy
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from capsim.models.scenario import Param, Scenario, ScenarioError, Sourced, to_toml, validate_dict
from capsim.simcore.streams import DistSpec, Triangular
from pydantic import BaseModel

WEIGHT = "weight"
"""The posterior table's weight column; every other column is an input."""


@dataclass(frozen=True)
class Input:
    """One uncertain input: its name, its path in the scenario and its prior."""

    name: str
    path: tuple
    prior: DistSpec
    unit: str


def _name(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def uncertain_inputs(scenario: Scenario) -> list[Input]:
    """Every uncertain input of the scenario, in file order (enabled clouds only)."""
    off = {n for n, c in scenario.clouds.items() if not c.enabled}
    out: list[Input] = []

    def skip(path: tuple, obj: Any) -> bool:
        if len(path) == 2 and path[0] == "clouds" and path[1] in off:
            return True
        return len(path) == 3 and path[:2] in (("supply", "generations"),
                                               ("datacenters", "campuses")) and \
            getattr(obj, "cloud", None) in off

    def walk(path: tuple, obj: Any) -> None:
        if skip(path, obj):
            return
        if isinstance(obj, Param):
            lo, hi = obj.spec.support
            if hi > lo:
                out.append(Input(_name(path), path, obj.spec, obj.unit))
        elif isinstance(obj, Sourced):
            if obj.low is not None and obj.high is not None:
                for i, (a, c, b) in enumerate(zip(obj.low, obj.values, obj.high, strict=True)):
                    if b > a:
                        out.append(Input(_name((*path, i)), (*path, i),
                                         Triangular(dist="triangular", low=a, mode=c, high=b),
                                         obj.unit))
        elif isinstance(obj, BaseModel):
            for field in type(obj).model_fields:
                walk((*path, field), getattr(obj, field))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk((*path, k), v)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk((*path, i), v)

    walk((), scenario)
    return out


class Pinner:
    """Pins inputs of one scenario to values, reusing its parsed form (fast when repeated)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._data = tomllib.loads(to_toml(scenario))
        self.inputs = {i.name: i for i in uncertain_inputs(scenario)}

    def pin(self, values: dict[str, float], label: str = "pinned inputs") -> Scenario:
        """The scenario with each named input fixed to its value.

        Raises:
            ScenarioError: an unknown input name, or a value the schema refuses.
        """
        unknown = [n for n in values if n not in self.inputs]
        if unknown:
            raise ScenarioError(label, [f"{n}: not an uncertain input of scenario "
                                        f"{self.scenario.name!r}" for n in unknown])
        data = copy.deepcopy(self._data)
        for name, v in values.items():
            path = self.inputs[name].path
            node = data
            for p in path[:-1]:
                node = node[p]
            last = path[-1]
            if isinstance(last, int):  # an entry of an uncertain list
                for key in ("values", "low", "high"):
                    node[key][last] = float(v)
            else:
                old = node[last]
                # A count (chips, customers) is a whole number when constant.
                value = float(round(v)) if last in _count_fields() else float(v)
                node[last] = {"value": value, "unit": old.get("unit", ""),
                              "source": f"{label}: {name}"}
        return validate_dict(label, data)


@functools.cache
def _count_fields() -> frozenset[str]:
    """Names of the scenario fields that count things (typed `Count` in the schema)."""
    from capsim.models import scenario as schema
    from capsim.models import validation

    out = set()
    for obj in vars(schema).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            for n, f in obj.model_fields.items():
                if any(getattr(m, "func", None) is validation.whole for m in f.metadata):
                    out.add(f.alias or n)
    return frozenset(out)


def pin(scenario: Scenario, values: dict[str, float], label: str = "pinned inputs") -> Scenario:
    """The scenario with each named input fixed to its value (see `Pinner`)."""
    return Pinner(scenario).pin(values, label)


@dataclass
class Posterior:
    """Weighted draws of a scenario's inputs (rows), from a calibration."""

    names: list[str]
    values: np.ndarray   # (draws x inputs)
    weights: np.ndarray  # (draws,), sum 1

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One row, chosen with probability proportional to its weight (one uniform)."""
        cum = np.cumsum(self.weights)
        i = int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"),
                    len(cum) - 1))
        return dict(zip(self.names, self.values[i].tolist(), strict=True))


def posterior_path(where: str | Path) -> Path:
    """posterior.parquet itself, or inside a calibration directory."""
    p = Path(where)
    return p / "posterior.parquet" if p.is_dir() else p


def read_posterior(where: str | Path, scenario: Scenario) -> Posterior:
    """Read a posterior table and check it against the scenario's uncertain inputs.

    Raises:
        ScenarioError: a missing or unreadable file, no weight column, unknown inputs, or
            values outside an input's prior support.
    """
    import pandas as pd

    path = posterior_path(where)
    label = f"scenario.posterior {path}"
    try:
        df = pd.read_parquet(path)
    except FileNotFoundError:
        raise ScenarioError(label, ["file not found (give a calibration directory or its "
                                    "posterior.parquet)"]) from None
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise ScenarioError(label, [f"cannot read as Parquet: {exc}"]) from None
    problems = []
    if WEIGHT not in df.columns:
        problems.append(f"no {WEIGHT!r} column")
    inputs = {i.name: i for i in uncertain_inputs(scenario)}
    names = [c for c in df.columns if c != WEIGHT]
    for n in names:
        if n not in inputs:
            problems.append(f"column {n!r} is not an uncertain input of scenario "
                            f"{scenario.name!r}")
            continue
        lo, hi = inputs[n].prior.support
        x = df[n].to_numpy(float)
        if not np.all(np.isfinite(x)) or x.min() < lo - 1e-9 * abs(lo) or \
                x.max() > hi + 1e-9 * abs(hi):
            problems.append(f"column {n!r}: values outside its prior's support [{lo:g}, {hi:g}]")
    if not len(df):
        problems.append("no rows")
    if problems:
        raise ScenarioError(label, problems)
    w = df[WEIGHT].to_numpy(float)
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ScenarioError(label, [f"{WEIGHT!r}: weights must be >= 0 with a positive sum"])
    return Posterior(names, df[names].to_numpy(float), w / w.sum())


class PosteriorDraws:
    """Per replication, the scenario with its inputs drawn from a posterior."""

    def __init__(self, scenario: Scenario, posterior: Posterior) -> None:
        self.posterior = posterior
        self._pinner = Pinner(scenario)

    def scenario(self, rng: np.random.Generator) -> Scenario:
        """The scenario with one posterior row's inputs (chosen with `rng`)."""
        return self._pinner.pin(self.posterior.draw(rng), "posterior draw")


def posterior_draws(scenario: Scenario) -> PosteriorDraws | None:
    """Draws from the scenario's `posterior` (None when it names none)."""
    where = scenario.scenario.posterior
    if not where:
        return None
    return PosteriorDraws(scenario, read_posterior(where, scenario))
