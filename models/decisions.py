"""What decision analysis needs from the domain: levers, uncertain inputs, outcomes.

- Levers (`[levers.<name>]` in a scenario) become `--set` overrides: a plan is a dict
  {lever name: value}.
- Uncertain inputs are listed and pinned by `capsim.models.inputs` (parameters and
  uncertain list entries of the enabled clouds). A state of the world pins each at a
  quantile of its own distribution; every other draw keeps its stream (common random
  numbers).
- Outcomes of one replication for planning: spend on every enabled cloud, lost revenue,
  stranded power (over the scenario's evaluation window, as the run's KPIs), and whether
  some month of an evaluation window was short (more than `threshold` of the demand the
  market would bring that month unmet: unserved, or lost to throttling). By default the
  window and threshold are the scenario's own
  (`[scenario] evaluation_start`/`evaluation_end`, `service.short_month_threshold`), so
  `short` and `short_month_share` equal the run's `p_shortfall_any` and
  `short_month_share`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from capsim.models.capacity import CapacityModel
from capsim.models.kpis import KPIS, SERIES
from capsim.models.outcomes import window_days
from capsim.models.scenario import Lever, Param, Scenario, ScenarioError
from capsim.simcore.clock import Clock
from capsim.simcore.simulation import run_replication

# ------------------------------------------------------------------------------ headline
HEADLINE_CANDIDATES = (("unmet_demand_share", "unmet_tps"), ("unserved_fraction", "unserved_tps"))
"""(headline shortage KPI, the daily series of its numerator), the first registered wins."""


def headline_kpi() -> str:
    """The headline shortage KPI: unmet demand when the registry has it, else unserved."""
    return next(k for k, _ in HEADLINE_CANDIDATES if k in KPIS)


def headline_series() -> str:
    """The daily series whose share of demand the headline KPI is (per calendar year)."""
    k = headline_kpi()
    s = dict(HEADLINE_CANDIDATES)[k]
    return s if s in SERIES else "unserved_tps"


def yearly_shares(dates: np.ndarray, demand: np.ndarray, part: np.ndarray
                  ) -> dict[int, float]:
    """Per calendar year, the share of its demand that `part` is (days summed)."""
    years = np.asarray(dates).astype("datetime64[Y]").astype(int) + 1970
    out = {}
    for y in np.unique(years):
        m = years == y
        dem = float(np.sum(np.asarray(demand, float)[m]))
        out[int(y)] = float(np.sum(np.asarray(part, float)[m])) / dem if dem > 0 else 0.0
    return out


# -------------------------------------------------------------------------------- levers
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
    """Per calendar month of the window, whether more than `threshold` of demand went unmet.

    `demand` is the demand the market would bring (`demand_potential_tps`) and `unserved`
    what of it is not met (`unmet_tps`), as the run's short months are defined.


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
    # What capacity costs: the clouds' bills plus the chips held at the supplier (when the
    # scenario costs them; NaN otherwise, counted as nothing).
    held = kpis.get("held_chip_cost_usd", 0.0)
    spend = sum(v for k, v in kpis.items() if k.startswith("spend_total_usd__")) + (
        float(held) if np.isfinite(held) else 0.0)
    return {
        "short": float(short.any()),
        "short_month_share": float(short.mean()) if short.size else 0.0,
        "spend_usd": float(spend),
        "lost_revenue_total_usd": float(kpis["lost_revenue_total_usd"]),
        "spend_plus_lost_usd": float(spend + kpis["lost_revenue_total_usd"]),
        "spend_plus_forgone_usd": float(spend + kpis["forgone_revenue_total_usd"]),
        "stranded_power_mw_months": float(kpis["stranded_power_mw_months"]),
        "unserved_fraction": float(kpis["unserved_fraction"]),
        "unmet_demand_share": float(kpis["unmet_demand_share"]),
        "forgone_revenue_total_usd": float(kpis["forgone_revenue_total_usd"]),
        "ordered_total_mw": float(kpis["ordered_total_mw"]),
    }


OUTCOMES = ("short", "short_month_share", "spend_usd", "lost_revenue_total_usd",
            "spend_plus_lost_usd", "spend_plus_forgone_usd", "stranded_power_mw_months",
            "unserved_fraction", "unmet_demand_share", "forgone_revenue_total_usd",
            "ordered_total_mw")
"""The names `outcomes` returns (spend_usd: the spend_total_usd__<cloud> KPIs summed, plus
held_chip_cost_usd; spend_plus_lost_usd adds the revenue of unserved tokens only,
spend_plus_forgone_usd that of all unmet demand, customers who left included)."""


def evaluate(key: Any, scenario: Scenario, seed: int, replication: int,
             window: Window) -> tuple[Any, int, dict[str, float]]:
    """Run one replication: (key, replication, its KPIs and planning outcomes).

    Top-level, so that it pickles for a process pool.
    """
    r = run_replication(CapacityModel, scenario, seed, replication)
    clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
    kpis = {k: float(v) for k, v in r.kpis.items()}
    out = outcomes(kpis, clock.dates(), r.timeseries["demand_potential_tps"],
                   r.timeseries["unmet_tps"], window)
    return key, replication, {**kpis, **out}


def evaluate_yearly(key: Any, scenario: Scenario, seed: int, replication: int,
                    window: Window) -> tuple[Any, int, dict[str, float]]:
    """`evaluate`, plus the headline share per calendar year (`<headline>__<year>`)."""
    r = run_replication(CapacityModel, scenario, seed, replication)
    clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
    kpis = {k: float(v) for k, v in r.kpis.items()}
    dates, demand = clock.dates(), r.timeseries["demand_tps"]
    out = outcomes(kpis, dates, demand, r.timeseries["unserved_tps"], window)
    head = headline_kpi()
    years = yearly_shares(dates, demand, r.timeseries[headline_series()])
    return key, replication, {**kpis, **out, **{f"{head}__{y}": v for y, v in years.items()}}


def observe(dates: np.ndarray, series: np.ndarray, date: dt.date, operator: str) -> float:
    """A daily series on a date ("at") or its mean over the 90 days ending there."""
    d = np.asarray(dates).astype("datetime64[D]")
    day = np.datetime64(date, "D")
    if operator == "mean_90d":
        inside = (d > day - np.timedelta64(90, "D")) & (d <= day)
        return float(np.mean(np.asarray(series, float)[inside])) if inside.any() else np.nan
    i = int(np.searchsorted(d, day, side="right")) - 1
    return float(np.asarray(series, float)[i]) if 0 <= i < len(d) else np.nan


def evaluate_observed(key: Any, scenario: Scenario, seed: int, replication: int,
                      window: Window, probes: tuple[tuple[str, str, str, str], ...]
                      ) -> tuple[Any, int, dict[str, float]]:
    """`evaluate`, plus observations `obs__<name>` of probes (name, series, date, operator)."""
    r = run_replication(CapacityModel, scenario, seed, replication)
    clock = Clock.between(scenario.scenario.start, scenario.scenario.end)
    kpis = {k: float(v) for k, v in r.kpis.items()}
    dates = clock.dates()
    out = outcomes(kpis, dates, r.timeseries["demand_tps"], r.timeseries["unserved_tps"],
                   window)
    obs = {f"obs__{name}": observe(dates, r.timeseries[series], dt.date.fromisoformat(day), op)
           for name, series, day, op in probes}
    return key, replication, {**kpis, **out, **obs}


def run_outcomes(kpis: Any, series: Any, window: Window) -> Any:
    """Per replication of a run directory, the planning outcomes (a DataFrame).

    `kpis` is the run's kpis table (indexed by replication) and `series` its daily
    series with replication, date, demand_potential_tps and unmet_tps.
    """
    import pandas as pd

    rows = {}
    for rep, g in series.groupby("replication"):
        g = g.sort_values("date")
        rows[int(rep)] = outcomes(kpis.loc[rep].to_dict(), g["date"].to_numpy(),
                                  g["demand_potential_tps"].to_numpy(),
                                  g["unmet_tps"].to_numpy(),
                                  window)
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()
