"""What decision analysis needs from the domain: levers, uncertain inputs, outcomes.

- Levers (`[levers.<name>]` in a scenario) become `--set` overrides: a plan is a dict
  {lever name: value}.
- Uncertain inputs are the scenario's parameters whose distribution is not a constant
  (parameters of switched-off clouds excluded: they draw nothing). A state of the world
  fixes each at a quantile of its own distribution, through an override that makes it a
  constant; every other draw keeps its stream (common random numbers).
- Outcomes of one replication for planning: spend on every enabled cloud, lost revenue,
  stranded power (over the scenario's evaluation window, as the run's KPIs), and whether
  some month of an evaluation window was short (more than `threshold` of the month's
  demand unserved). By default the window and threshold are the scenario's own
  (`[scenario] evaluation_start`/`evaluation_end`, `service.short_month_threshold`), so
  `short` and `short_month_share` equal the run's `p_shortfall_any` and
  `short_month_share`.

`Builder` parses a scenario once and validates it with overrides many times (a design of
thousands of points would otherwise re-read and re-merge the TOML for each).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from capsim.models import validation
from capsim.models.capacity import CapacityModel
from capsim.models.outcomes import window_days
from capsim.models.scenario import (
    Lever,
    Param,
    Scenario,
    ScenarioError,
    _extend,
    apply_overrides,
    parse_toml,
    resolve_path,
    validate_dict,
)
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import run_replication
from pydantic import BaseModel


# ---------------------------------------------------------------------------- scenarios
class Builder:
    """A scenario parsed once, validated with any list of overrides."""

    def __init__(self, scenario: str | None = None, overrides: list[str] | tuple = ()) -> None:
        label, text = resolve_path(scenario)
        data = parse_toml(label, text)
        _extend(label, data, scenario)
        self.label = label
        self.data = apply_overrides(label, data, list(overrides)) if overrides else data
        self.base = validate_dict(label, self.data)

    def build(self, overrides: list[str]) -> Scenario:
        """The scenario with `overrides` (key=value strings) applied and validated."""
        if not overrides:
            return self.base
        return validate_dict(self.label, apply_overrides(self.label, self.data, overrides))


def lever_override(lever: Lever, value: Any) -> str:
    """A `key=value` override that sets the lever."""
    if lever.kind == "choice":
        return f"{lever.key}={json.dumps(str(value))}"
    if lever.kind == "int":
        return f"{lever.key}={int(round(float(value)))}"
    return f"{lever.key}={float(value)!r}"


def plan_overrides(scenario: Scenario, plan: dict[str, Any]) -> list[str]:
    """The overrides of a plan ({lever name: value})."""
    unknown = set(plan) - set(scenario.levers)
    if unknown:
        raise ScenarioError("plan", [f"no lever {n!r} in the scenario's [levers]"
                                     for n in sorted(unknown)])
    return [lever_override(scenario.levers[n], v) for n, v in plan.items()]


def lever_value(scenario: Scenario, lever: Lever) -> Any:
    """The value the scenario itself gives the lever's key (a parameter: its median)."""
    node: Any = scenario
    for part in lever.key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node.base if isinstance(node, Param) else node


# ----------------------------------------------------------------------- uncertain inputs
@dataclass(frozen=True)
class Uncertain:
    """One uncertain input: its scenario key and parameter (`whole`: a count)."""

    key: str
    param: Param
    whole: bool = False

    def value(self, u: float) -> float:
        """The parameter's value at quantile `u` (clipped away from 0 and 1; a count rounded)."""
        v = float(self.param.spec.ppf(float(np.clip(u, 1e-6, 1 - 1e-6))))
        return float(round(v)) if self.whole else v

    def override(self, u: float) -> str:
        """`key=value` fixing the parameter at quantile `u`."""
        return f"{self.key}={self.value(u)!r}"


def _walk(obj: Any, prefix: str, whole: bool = False):
    """(key, parameter, whether it is a count) of every parameter under `obj`."""
    if isinstance(obj, Param):
        yield prefix, obj, whole
    elif isinstance(obj, BaseModel):
        for name, f in type(obj).model_fields.items():
            count = any(getattr(m, "func", None) is validation.whole for m in f.metadata)
            yield from _walk(getattr(obj, name), f"{prefix}.{name}" if prefix else name, count)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{prefix}.{k}")


def uncertain_inputs(scenario: Scenario, exclude_levers: bool = False) -> list[Uncertain]:
    """Every parameter whose distribution is not a constant, of the enabled clouds.

    Parameters of a disabled cloud's generations, campuses and prices take no part in a
    run and are left out. With `exclude_levers`, parameters that a lever sets are left
    out too (they are decisions when planning).
    """
    off = {n for n, c in scenario.clouds.items() if not c.enabled}
    skip = {f"supply.generations.{n}" for n, g in scenario.supply.generations.items()
            if g.cloud in off}
    skip |= {f"datacenters.campuses.{n}" for n, c in scenario.datacenters.campuses.items()
             if c.cloud in off}
    skip |= {f"clouds.{n}" for n in off}
    levers = {lv.key for lv in scenario.levers.values()} if exclude_levers else set()
    out = []
    for key, p, whole in _walk(scenario, ""):
        if p.spec.dist == "constant" or key in levers:
            continue
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        out.append(Uncertain(key, p, whole))
    return out


# ------------------------------------------------------------------------------ outcomes
@dataclass(frozen=True)
class Window:
    """The evaluation window of the shortfall constraint, and what makes a month short."""

    start: dt.date
    end: dt.date
    threshold: float = 0.01

    @classmethod
    def default(cls, scenario: Scenario, threshold: float | None = None) -> Window:
        """The scenario's evaluation window, as the run's KPIs use it (models.outcomes).

        `threshold` defaults to the scenario's `service.short_month_threshold`.
        """
        meta = scenario.scenario
        first, last = window_days(scenario, Clock.between(meta.start, meta.end))
        if threshold is None:
            threshold = scenario.service.short_month_threshold
        return cls(meta.start + dt.timedelta(days=first), meta.start + dt.timedelta(days=last),
                   threshold)

    @classmethod
    def parse(cls, text: str, threshold: float = 0.01) -> Window:
        """'YYYY-MM-DD:YYYY-MM-DD'."""
        a, sep, b = text.partition(":")
        try:
            w = cls(dt.date.fromisoformat(a.strip()), dt.date.fromisoformat(b.strip()), threshold)
        except ValueError:
            raise ScenarioError("--window", [f"{text!r}: expected FROM:TO as "
                                             "YYYY-MM-DD:YYYY-MM-DD"]) from None
        if not sep or w.end <= w.start:
            raise ScenarioError("--window", [f"{text!r}: TO must be after FROM"])
        return w


def short_months(dates: np.ndarray, demand: np.ndarray, unserved: np.ndarray,
                 window: Window) -> np.ndarray:
    """Per calendar month of the window, whether more than `threshold` of demand went unserved.

    Only whole months inside the window count (the month of its start counts when the
    window starts on its first day).
    """
    d = np.asarray(dates).astype("datetime64[D]")
    inside = (d >= np.datetime64(window.start)) & (d < np.datetime64(window.end))
    month = d[inside].astype("datetime64[M]")
    if month.size == 0:
        return np.zeros(0, bool)
    months, idx = np.unique(month, return_inverse=True)
    dem = np.bincount(idx, weights=np.asarray(demand, float)[inside])
    uns = np.bincount(idx, weights=np.asarray(unserved, float)[inside])
    return uns > window.threshold * np.maximum(dem, 1e-300)


def outcomes(kpis: dict[str, float], dates: np.ndarray, demand: np.ndarray,
             unserved: np.ndarray, window: Window) -> dict[str, float]:
    """The planning outcomes of one replication, from its KPIs and two daily series."""
    short = short_months(dates, demand, unserved, window)
    spend = sum(v for k, v in kpis.items() if k.startswith("spend_total_usd__"))
    return {
        "short": float(short.any()),
        "short_month_share": float(short.mean()) if short.size else 0.0,
        "spend_usd": float(spend),
        "lost_revenue_total_usd": float(kpis["lost_revenue_total_usd"]),
        "spend_plus_lost_usd": float(spend + kpis["lost_revenue_total_usd"]),
        "stranded_power_mw_months": float(kpis["stranded_power_mw_months"]),
        "unserved_fraction": float(kpis["unserved_fraction"]),
        "ordered_total_mw": float(kpis["ordered_total_mw"]),
    }


OUTCOMES = ("short", "short_month_share", "spend_usd", "lost_revenue_total_usd",
            "spend_plus_lost_usd", "stranded_power_mw_months", "unserved_fraction",
            "ordered_total_mw")
"""The names `outcomes` returns (spend_usd: the spend_total_usd__<cloud> KPIs summed)."""


def evaluate(key: Any, scenario: Scenario, seed: int, replication: int,
             window: Window) -> tuple[Any, int, dict[str, float]]:
    """Run one replication: (key, replication, its KPIs and planning outcomes).

    Top-level, so that it pickles for a process pool.
    """
    r = run_replication(CapacityModel, scenario, seed, replication)
    clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
    kpis = {k: float(v) for k, v in r.kpis.items()}
    out = outcomes(kpis, clock.dates(), r.timeseries["demand_tps"],
                   r.timeseries["unserved_tps"], window)
    return key, replication, {**kpis, **out}


def run_outcomes(kpis: Any, series: Any, window: Window) -> Any:
    """Per replication of a run directory, the planning outcomes (a DataFrame).

    `kpis` is the run's kpis table (indexed by replication) and `series` its daily
    series with replication, date, demand_tps and unserved_tps.
    """
    import pandas as pd

    rows = {}
    for rep, g in series.groupby("replication"):
        g = g.sort_values("date")
        rows[int(rep)] = outcomes(kpis.loc[rep].to_dict(), g["date"].to_numpy(),
                                  g["demand_tps"].to_numpy(), g["unserved_tps"].to_numpy(),
                                  window)
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()
