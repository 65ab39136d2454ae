"""A scenario's uncertain inputs, and the one way to pin them to values.

An *uncertain input* is a number that a replication draws from a distribution that can
take more than one value: a parameter (a `{dist = ...}` table) wherever it sits, in a
table or in an entry of a list, and each entry of an uncertain list (`{values, low, high}`:
entry i is triangular(low[i], values[i], high[i])). Each is named by its path in the
scenario, with dots between tables and `[i]` for a list entry:
``demand.growth_start``, ``demand.growth_by_period[2].rate``,
``supply.generations.trainium2.quarterly_output[4]``. Inputs of a switched-off cloud (its
table, generations and campuses) are left out: they cannot change a run.

`Builder` parses a scenario once and returns it with `key=value` overrides and pinned
inputs applied, as often as asked (a design of thousands of points would otherwise re-read
the TOML for each). Pinning an input makes it a constant: a parameter becomes
`{value, unit, source}` (its unit kept, a count rounded to a whole number), a list entry
gets low = value = high. One uniform is still drawn for it, so every later draw of its
stream is unchanged (common random numbers).

Calibration and posterior draws (models.posterior, experiments.calibrate), global
sensitivity (experiments.sensitivity) and the plan's robustness check (experiments.plan)
all list and pin inputs here.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from capsim.models import validation
from capsim.models.scenario import (
    Param,
    Scenario,
    ScenarioError,
    Sourced,
    apply_overrides,
    parse_toml,
    resolve_extends,
    resolve_path,
    to_toml,
    validate_dict,
)
from capsim.simcore.streams import DistSpec, Triangular
from pydantic import BaseModel

InputPath = tuple[str | int, ...]
"""Where an input sits in the scenario: table keys and field names, list indices as int."""


@dataclass(frozen=True)
class Dated:
    """One distribution of an input with the date of the data it was written from."""

    as_of: dt.date
    prior: DistSpec
    source: str


@dataclass(frozen=True)
class Input:
    """One uncertain input: its name, its path, its distribution, its unit, its vintage.

    `whole`: the input counts things (a count pinned to a value is rounded). `as_of`: the
    date of the latest data its distribution was written from (None: not stated);
    `vintages`: earlier distributions, in date order.
    """

    name: str
    path: InputPath
    prior: DistSpec
    unit: str
    whole: bool = False
    source: str = ""
    as_of: dt.date | None = None
    vintages: tuple[Dated, ...] = ()

    def prior_at(self, origin: dt.date) -> Dated | None:
        """The latest distribution with as_of <= origin (None when there is none)."""
        dated = [*self.vintages] + ([Dated(self.as_of, self.prior, self.source)]
                                    if self.as_of is not None else [])
        ok = [d for d in dated if d.as_of <= origin]
        return ok[-1] if ok else None

    @property
    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (the distribution's support)."""
        lo, hi = self.prior.support
        return float(lo), float(hi)

    def value(self, u: float) -> float:
        """The value at quantile `u` (clipped away from 0 and 1; a count rounded)."""
        v = float(self.prior.ppf(float(np.clip(u, 1e-6, 1 - 1e-6))))
        return float(round(v)) if self.whole else v

    def current(self, scenario: Scenario) -> float:
        """The input's value in `scenario`: a parameter's median, a list entry's value."""
        node: Any = scenario
        for p in self.path[:-1]:
            node = _child(node, p)
        last = self.path[-1]
        if isinstance(last, int) and isinstance(node, Sourced):
            return float(node.values[last])
        param = _child(node, last)
        if not isinstance(param, Param):
            raise TypeError(f"{self.name}: not a parameter in this scenario")
        return param.base


def _child(node: Any, p: str | int) -> Any:
    if isinstance(p, int) or isinstance(node, dict):
        return node[p]
    return getattr(node, p)


def _name(path: InputPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _is_count(model: type[BaseModel], field: str) -> bool:
    f = model.model_fields[field]
    return any(getattr(m, "func", None) is validation.whole for m in f.metadata)


def uncertain_inputs(scenario: Scenario, exclude_levers: bool = False) -> list[Input]:
    """Every uncertain input of the scenario, in file order (enabled clouds only).

    With `exclude_levers`, parameters that a lever sets are left out too (they are
    decisions when planning).
    """
    off = {n for n, c in scenario.clouds.items() if not c.enabled}
    levers = {lv.key for lv in scenario.levers.values()} if exclude_levers else set()
    out: list[Input] = []

    def skip(path: InputPath, obj: Any) -> bool:
        if len(path) == 2 and path[0] == "clouds" and path[1] in off:
            return True
        return len(path) == 3 and path[:2] in (("supply", "generations"),
                                               ("datacenters", "campuses")) and \
            getattr(obj, "cloud", None) in off

    def walk(path: InputPath, obj: Any, whole: bool = False) -> None:
        if skip(path, obj):
            return
        if isinstance(obj, Param):
            lo, hi = obj.spec.support
            name = _name(path)
            if hi > lo and name not in levers:
                out.append(Input(name, path, obj.spec, obj.unit, whole, obj.source, obj.as_of,
                                 tuple(Dated(v.as_of, v.spec, v.source) for v in obj.vintages)))
        elif isinstance(obj, Sourced):
            if obj.low is not None and obj.high is not None:
                for i, (a, c, b) in enumerate(zip(obj.low, obj.values, obj.high, strict=True)):
                    if b > a:
                        out.append(Input(_name((*path, i)), (*path, i), _tri(a, c, b),
                                         obj.unit, False, obj.source, obj.as_of,
                                         tuple(Dated(v.as_of, _tri(v.low[i], v.values[i],
                                                                   v.high[i]), v.source)
                                               for v in obj.vintages or ())))
        elif isinstance(obj, BaseModel):
            for field in type(obj).model_fields:
                walk((*path, field), getattr(obj, field), _is_count(type(obj), field))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk((*path, k), v)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk((*path, i), v)

    walk((), scenario)
    return out


def _tri(a: float, c: float, b: float) -> DistSpec:
    return Triangular(dist="triangular", low=a, mode=c, high=b)


def priors_at(scenario: Scenario, origin: dt.date) -> dict[str, Dated]:
    """For each uncertain input, the latest distribution written from data up to `origin`.

    Raises:
        ScenarioError: naming every input with no distribution dated on or before `origin`
            (its as_of, if stated, is later, and it has no earlier vintage).
    """
    inputs = uncertain_inputs(scenario)
    chosen = {i.name: i.prior_at(origin) for i in inputs}
    missing = [i for i in inputs if chosen[i.name] is None]
    if missing:
        raise ScenarioError(scenario.name, [
            f"{i.name}: no distribution written from data up to {origin} "
            + (f"(as_of {i.as_of}, no earlier vintage)" if i.as_of else "(no as_of stated)")
            for i in missing])
    return {k: v for k, v in chosen.items() if v is not None}


def at_vintage(scenario: Scenario, origin: dt.date) -> tuple[Scenario, dict[str, Dated]]:
    """The scenario with every uncertain input given its distribution of vintage `origin`.

    Each input takes the latest of its distributions with as_of <= origin (`priors_at`),
    with that distribution's as_of and source and no vintages; an uncertain list takes the
    version of that date. Returns the scenario and what each input was given.

    Raises:
        ScenarioError: an input has no distribution that old (all such inputs named).
    """
    chosen = priors_at(scenario, origin)
    inputs = {i.name: i for i in uncertain_inputs(scenario)}
    data = tomllib.loads(to_toml(scenario))
    for name, d in chosen.items():
        path = inputs[name].path
        node: Any = data
        for p in path[:-1]:
            node = node[p]
        last = path[-1]
        if isinstance(last, int):  # an entry of an uncertain list: that version's entry
            tri = d.prior
            assert isinstance(tri, Triangular)
            node["low"][last], node["values"][last], node["high"][last] = (
                tri.low, tri.mode, tri.high)
            node["as_of"], node["source"] = d.as_of, d.source
            node.pop("vintages", None)
        else:
            unit = node[last]["unit"]
            spec = d.prior.model_dump(by_alias=True, exclude_none=True)
            spec = {k: v for k, v in spec.items() if v not in (float("inf"), float("-inf"))}
            node[last] = {**spec, "unit": unit, "source": d.source, "as_of": d.as_of}
    return validate_dict(f"{scenario.name} (priors of {origin})", data), chosen


class Builder:
    """A scenario parsed once, returned with any overrides and pinned inputs.

    `scenario` is an embedded name, a TOML path, None (the default scenario) or a
    validated `Scenario`; `overrides` (`key=value` strings, as `--set` takes them) are
    part of the base every build starts from.
    """

    def __init__(self, scenario: str | Path | Scenario | None = None,
                 overrides: Sequence[str] = ()) -> None:
        if isinstance(scenario, Scenario):
            self.label = f"scenario {scenario.name}"
            base = scenario
            if overrides:
                data = tomllib.loads(to_toml(scenario))
                base = validate_dict(self.label, apply_overrides(self.label, data,
                                                                 list(overrides)))
        else:
            name = None if scenario is None else str(scenario)
            self.label, text = resolve_path(name)
            data = parse_toml(self.label, text)
            resolve_extends(self.label, data, name)
            if overrides:
                data = apply_overrides(self.label, data, list(overrides))
            base = validate_dict(self.label, data)
        self.base: Scenario = base
        # The resolved form (defaults filled in): every input's path exists in it.
        self.data: dict = tomllib.loads(to_toml(base))
        self.inputs: dict[str, Input] = {i.name: i for i in uncertain_inputs(base)}

    def build(self, overrides: Sequence[str] = (), pins: Mapping[str, float] | None = None,
              label: str | None = None) -> Scenario:
        """The scenario with `overrides` applied, then the inputs in `pins` fixed.

        With pins the result names no posterior: the inputs not pinned come from the priors.

        Raises:
            ScenarioError: a bad override, an unknown input, or a value the schema refuses
                (named with `label`, default the scenario's).
        """
        if not overrides and not pins:
            return self.base
        label = label or self.label
        # apply_overrides returns a copy; pins change the data they are given in place.
        data = (apply_overrides(label, self.data, list(overrides)) if overrides
                else copy.deepcopy(self.data))
        if pins:
            data = self._pinned(data, pins, label)
            # Pinned inputs are set by the caller (a design point, a posterior row, a
            # sweep): a posterior the base names would draw them again, so it is off.
            if data.get("scenario", {}).get("posterior"):
                data["scenario"]["posterior"] = ""
        return validate_dict(label, data)

    def pin(self, values: Mapping[str, float], label: str = "pinned inputs") -> Scenario:
        """The base scenario with each named input fixed at its value."""
        return self.build((), values, label)

    def _pinned(self, data: dict, values: Mapping[str, float], label: str) -> dict:
        """`data` (changed in place) with each input fixed at its value."""
        unknown = [n for n in values if n not in self.inputs]
        if unknown:
            raise ScenarioError(label, [f"{n}: not an uncertain input of scenario "
                                        f"{self.base.name!r}" for n in unknown])
        for name, v in values.items():
            inp = self.inputs[name]
            node: Any = data
            for p in inp.path[:-1]:
                node = node[p]
            last = inp.path[-1]
            if isinstance(last, int):  # an entry of an uncertain list
                for key in ("values", "low", "high"):
                    node[key][last] = float(v)
            else:
                node[last] = {"value": float(round(v)) if inp.whole else float(v),
                              "unit": inp.unit, "source": f"{label}: {name}"}
        return data
