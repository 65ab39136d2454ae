"""No garbage results: every replication's KPIs and series are finite, or the run stops.

Validation refuses what cannot be meant (see `capsim.models.validation`); inputs that pass
it and still drive the model beyond floating point (an overflow to infinity) stop the run
with exit 2 before the bad replication is stored, naming the values the user changed.
A KPI may be missing (NaN) only where the model defines it so, listed in `MAY_BE_MISSING`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from capsim.models.scenario import ScenarioError
from capsim.simcore.simulation import RunResult

MAY_BE_MISSING = {
    "first_adequate_date": "capacity never adequate within the horizon",
    "sustained_adequacy_date": "no run of adequate months long enough in the window",
    "first_short_month": "no month of the evaluation window is short",
    "p99_latency_s": "no request served in the evaluation window",
    "ttft_p99_s": "no request served in the evaluation window",
    "trainium_gw_2026_12_31": "2026-12-31 outside the horizon",
    "revenue_per_mw_year_2026_usd": "2026 outside the run",
    "p_spend_breach": "no finance.spend_share_of_revenue in the scenario",
    "spend_breach_usd": "no finance.spend_share_of_revenue in the scenario",
    "revenue_per_mw_year_peak_ratio": "no full calendar year after 2026 in the run",
}
"""KPIs that are NaN by definition in some replications (the reason in words)."""


class NonFiniteResult(ScenarioError):
    """A replication gave an infinite or undefined number: exit 2, naming the inputs."""


def _blame(overrides: Sequence[str]) -> str:
    if overrides:
        return ("a scenario value is beyond what the model can compute; check the values set: "
                + ", ".join(overrides))
    return "a scenario value is beyond what the model can compute; check the scenario's values"


def check_result(result: RunResult, label: str, overrides: Sequence[str] = ()) -> None:
    """Raise NonFiniteResult if `result` holds an infinity or an undefined KPI.

    Raises:
        NonFiniteResult: naming the replication, the KPI or series, and the inputs.
    """
    for name, v in result.kpis.items():
        v = float(v)
        if np.isinf(v) or (np.isnan(v) and name.partition("__")[0] not in MAY_BE_MISSING):
            raise NonFiniteResult(label, [
                f"replication {result.replication}: KPI {name} is {v}: {_blame(overrides)}"])
    for name, x in result.timeseries.items():
        x = np.asarray(x)
        if x.dtype.kind == "f" and np.isinf(x).any():
            raise NonFiniteResult(label, [
                f"replication {result.replication}: series {name} reaches {x[np.isinf(x)][0]}: "
                f"{_blame(overrides)}"])


def overflow_error(label: str, exc: FloatingPointError, overrides: Sequence[str] = ()
                   ) -> NonFiniteResult:
    """The NonFiniteResult for a numpy overflow raised inside a replication."""
    return NonFiniteResult(label, [f"numeric overflow in the model ({exc}): {_blame(overrides)}"])
