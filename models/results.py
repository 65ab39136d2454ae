"""Results of one replication: the names reported, and `Report`, which checks them.

The components' reporters (`models.reporters`) put each daily series and KPI that the
registry (`capsim.models.kpis`, `REPORTED_BY`) assigns to them into a `Report`; one that
reports a name the registry does not give it, or leaves one of its names unreported, is
an error. The future-facing KPIs cover the scenario's evaluation window only.
"""

from __future__ import annotations

import numpy as np
from capsim.models import kpis
from capsim.models.fleet import STATES
from capsim.simcore.simulation import RunResult

SERIES = list(kpis.SERIES)
"""Daily series (names, units and meanings in `capsim.models.kpis`). Per generation, cloud
and pool, `series_names()` adds chips_<state>__<generation>, compute_tps__<generation>,
pool_stock__<pool>, and <stem>__<cloud> for each of CLOUD_SERIES."""
CLOUD_SERIES = ("energized_mw", "occupied_mw", "compute_tps", "spend_daily_usd", "h100e",
                "occupied_it_mw")
"""Stems of the per-cloud series, in the order they are stored."""

KPIS = kpis.kpi_names()
MILESTONES = kpis.milestone_names()
CLOUD_KPIS = {n: m.unit for n, m in kpis.CLOUD_KPIS.items()}
"""Per enabled cloud, as kpis columns <name>__<cloud>."""
BINARY_KPIS = {n for n, m in kpis.KPIS.items() if m.binary}
HIGHER_IS_BETTER = kpis.higher_is_better()
"""KPIs where a higher value is the good outcome (for the others, lower is better)."""


class Report:
    """What the components of one replication report, checked against the registry.

    Args:
        days: length of the run.
        gens: generation names; clouds: enabled cloud names; pools: pool names (the
            per-group series, in the order they are stored); campuses: the campuses of
            enabled clouds (energized_it_mw__<campus>).
    """

    def __init__(self, days: int, gens: list[str], clouds: list[str], pools: list[str],
                 campuses: tuple[str, ...] = ()) -> None:
        self.days = days
        self._series: dict[str, np.ndarray | None] = dict.fromkeys(SERIES)
        for st in (*STATES, "compute_tps"):
            for g in gens:
                name = f"compute_tps__{g}" if st == "compute_tps" else f"chips_{st}__{g}"
                self._series[name] = None
        for p in pools:
            self._series[f"pool_stock__{p}"] = None
        for m in CLOUD_SERIES:
            for c in clouds:
                self._series[f"{m}__{c}"] = None
        for n in campuses:
            self._series[f"energized_it_mw__{n}"] = None
        self._kpis: dict[str, float] = {}
        self._clouds = clouds
        self.component = ""

    def _check(self, name: str, table: str) -> None:
        m = kpis.lookup(name, table)
        if m is None or m.component != self.component:
            owner = "no component" if m is None else f"component {m.component!r}"
            raise ValueError(f"{self.component!r} reports {table} {name!r}, which the "
                             f"registry gives to {owner}")

    def put(self, name: str, values) -> None:
        """A daily series (stored as float64; per-group series stored as given)."""
        self._check(name, "series")
        if name not in self._series or self._series[name] is not None:
            raise ValueError(f"series {name!r} is not expected here, or reported twice")
        if "__" in name:
            self._series[name] = values
        else:
            arr = np.full(self.days, np.nan)
            arr[:] = values
            self._series[name] = arr

    def series(self, name: str) -> np.ndarray:
        """A series reported earlier."""
        v = self._series.get(name)
        if v is None:
            raise KeyError(f"series {name!r} has not been reported yet")
        return v

    def kpi(self, name: str, value: float) -> None:
        """A KPI of the replication."""
        self._check(name, "kpis")
        if name in self._kpis:
            raise ValueError(f"KPI {name!r} reported twice")
        self._kpis[name] = value

    def result(self, replication: int, events: list) -> RunResult:
        """The RunResult: every expected series and every registry KPI, in registry order."""
        missing = [n for n, v in self._series.items() if v is None]
        want = [*KPIS, *MILESTONES, *(f"{k}__{c}" for c in self._clouds for k in CLOUD_KPIS)]
        missing += [k for k in want if k not in self._kpis]
        extra = [k for k in self._kpis if k not in want]
        if missing or extra:
            raise ValueError(f"results: not reported {missing}; not in the registry {extra}")
        series = {n: v for n, v in self._series.items() if v is not None}
        return RunResult(replication, series, {k: self._kpis[k] for k in want}, events)
