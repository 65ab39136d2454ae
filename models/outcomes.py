"""Outcome measures over the evaluation window: short months and their spells, the loan.

Kept apart from the model's wiring so that each definition is one small function with a
test of its own; the names and units are in `capsim.models.kpis`.
"""

from __future__ import annotations

import numpy as np
from capsim.models.scenario import Scenario
from capsim.simcore.clock import Clock, decimal_year


def window_days(scenario: Scenario, clock: Clock) -> tuple[int, int]:
    """Day indices [first, last) of the evaluation window on the run's daily grid.

    The window runs from ``[scenario] evaluation_start`` (default: the start) to
    ``evaluation_end`` (default: the horizon end), clipped to the run. A run that ends
    before its window starts (cut short, e.g. to the history years) is evaluated over the
    whole run, so that its KPIs are defined.
    """
    meta = scenario.scenario
    lo = (meta.evaluation_start or meta.start) - meta.start
    hi = (meta.evaluation_end or meta.end) - meta.start
    first = int(np.clip(lo.days, 0, clock.days))
    last = int(np.clip(hi.days, first, clock.days))
    if last <= first:
        return 0, clock.days
    return first, last


def stress_start_h(scenario: Scenario, clock: Clock) -> float:
    """Hour from which the stress knobs act: ``[scenario] evaluation_start``, else the start.

    The evaluation start is the announcement; the history before it is the unstressed one.
    """
    meta = scenario.scenario
    return max(0.0, clock.hours(meta.evaluation_start or meta.start))


def longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of consecutive True values."""
    best = run = 0
    for f in np.asarray(flags, bool):
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def first_sustained(ok: np.ndarray, months: int) -> int | None:
    """Index of the first month that starts `months` or more consecutive True values."""
    run = 0
    for i, f in enumerate(np.asarray(ok, bool)):
        run = run + 1 if f else 0
        if run >= months:
            return i - months + 1
    return None


def shortfall(dates: np.ndarray, demand: np.ndarray, unserved: np.ndarray,
              threshold: float, sustained_months: int = 12) -> dict[str, float]:
    """Short-month KPIs of daily demand and unmet rates on `dates` (the window's days).

    A calendar month (or the part of it inside the window) is short when its unmet
    tokens (`unserved`) exceed `threshold` x its demand. Returns p_shortfall_any (0 or 1),
    short_month_share, first_short_month (decimal year, NaN when none),
    longest_short_spell_months, first_adequate_date (the start of the first month from
    which no month is short: the window's first month when none is, NaN when the last is),
    sustained_adequacy_date (the start of the first run of at least `sustained_months`
    months none of which is short, NaN when the window has none) and
    p_never_sustained_adequate (1 when it has none).
    """
    if len(dates) == 0:
        nan = float("nan")
        return {"p_shortfall_any": nan, "short_month_share": nan, "first_short_month": nan,
                "longest_short_spell_months": nan, "first_adequate_date": nan,
                "sustained_adequacy_date": nan, "p_never_sustained_adequate": nan}
    month = np.asarray(dates).astype("datetime64[M]")
    months, idx = np.unique(month, return_inverse=True)
    m_dem = np.bincount(idx, weights=demand)
    m_uns = np.bincount(idx, weights=unserved)
    short = m_uns > threshold * m_dem
    if not short.any():
        first_ok = decimal_year(months[0])
    elif short[-1]:
        first_ok = float("nan")
    else:
        first_ok = decimal_year(months[np.nonzero(short)[0][-1] + 1])
    sustained = first_sustained(~short, sustained_months)
    return {
        "p_shortfall_any": float(short.any()),
        "short_month_share": float(short.mean()),
        "first_short_month": decimal_year(months[np.argmax(short)]) if short.any()
        else float("nan"),
        "longest_short_spell_months": float(longest_run(short)),
        "first_adequate_date": first_ok,
        "sustained_adequacy_date": (decimal_year(months[sustained]) if sustained is not None
                                    else float("nan")),
        "p_never_sustained_adequate": float(sustained is None),
    }


def loan_shares(capacity: np.ndarray, own: np.ndarray, reservation: np.ndarray
                ) -> tuple[float, float]:
    """(loan_share, training_deficit_share) over the days given.

    capacity: serving capacity with the loan; own: without it; reservation: training's
    reservation (all daily means, tokens/s). The loan is capacity - own.
    """
    loan = np.maximum(np.asarray(capacity) - np.asarray(own), 0.0).sum()
    cap, res = float(np.sum(capacity)), float(np.sum(reservation))
    return (float(np.clip(loan / cap, 0, 1)) if cap > 0 else 0.0,
            float(np.clip(loan / res, 0, 1)) if res > 0 else 0.0)
