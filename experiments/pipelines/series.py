"""Which daily series a run keeps in timeseries.parquet (`capsim run --series`).

Every series by default. `essential` keeps only those the run's own outputs read (the
summary's history, the plots, the report, `capsim compare`'s plot); a list of names
keeps those and the essential ones. A name keeps its per-group columns too
(`chips_installed` keeps `chips_installed__trainium2`, ...). The choice is recorded in
the manifest, so a resumed run keeps the same columns.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from capsim.experiments.pipelines.checks import UsageError
from capsim.models import kpis as registry
from capsim.models.scenario import Scenario

ESSENTIAL = ("demand_tps", "demand_potential_tps", "capacity_tps", "capacity_own_tps",
             "unmet_tps", "unserved_tps", "slo_hours", "compute_tps", "chips_shipped",
             "chips_in_transit", "chips_waiting", "chips_installed", "chips_failed",
             "chips_retired", "energized_mw", "occupied_mw", "occupied_it_mw",
             "customers_active", "customers_lost", "customers_throttled", "revenue_daily_usd",
             "lost_revenue_daily_usd", "run_rate_usd", "spend_daily_usd")
"""Series the run's plots, report and `compare` read (their per-group columns too)."""


def _known(name: str) -> bool:
    return name in registry.SERIES or name in registry.GROUP_SERIES or \
        registry.lookup(name, "series") is not None


def kept(scenario: Scenario, series: str | Sequence[str] | None) -> list[str] | None:
    """The series names (or stems) a run keeps, or None for every series.

    `series`: None or "all" (every series), "essential", or a list of names (each kept
    with the essential ones and those the scenario's observations are scored on).

    Raises:
        UsageError: a name that is no series (with the nearest names).
    """
    if series is None or series == "all":
        return None
    names: list[str] = []
    if series != "essential":
        if isinstance(series, str):
            series = [s.strip() for s in series.split(",") if s.strip()]
        if isinstance(series, bytes) or not all(isinstance(s, str) for s in series):
            raise UsageError(f"capsim run: series must be 'all', 'essential' or a list of "
                             f"series names, got {series!r}")
        for s in series:
            if not _known(s):
                close = difflib.get_close_matches(s, [*registry.SERIES, *registry.GROUP_SERIES],
                                                  n=3)
                raise UsageError(f"capsim run: --series: no series {s!r}"
                                 + (f"; did you mean {', '.join(close)}?" if close else "")
                                 + " (capsim kpis lists them)")
        names = list(series)
    from capsim.experiments.pipelines.history import load_observations
    from capsim.models.history import needed_series

    observed = needed_series(load_observations(scenario, drop_outside=True) or [])
    out: list[str] = []
    for n in (*ESSENTIAL, *observed, *names):
        if n not in out:
            out.append(n)
    return out
