"""History scoring: a run's simulated series at the observations' dates, against the record.

For each observation, every replication gives one simulated value (the observed series
aggregated as the observation says); the replications' 5th-95th percentiles are the run's
90% band, and the observation is *inside* when its value lies in that band. The score is
a standardized distance on the log scale (for positive quantities; linear otherwise):
|observed - simulated median| / sqrt(sd_observed^2 + sd_simulated^2), each sd read off a
90% interval (half-width / 1.645); below ~2 is a good match, above 3 a poor one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from capsim.models.observations import Observation

Z90 = 1.6448536269514722
"""Standard normal quantile of 0.95: a 90% interval is +-Z90 standard deviations."""


def needed_series(observations: Sequence[Observation]) -> list[str]:
    """Every series name the observations read, once each, in order."""
    out: list[str] = []
    for o in observations:
        out += [s for s in o.series if s not in out]
    return out


def simulate(obs: Observation, series: Callable[[str], np.ndarray], dates: np.ndarray
             ) -> np.ndarray:
    """Per replication, the simulated value compared with `obs`.

    Args:
        obs: the observation.
        series: returns a (replications x days) array of a named daily series.
        dates: the run's days (datetime64[D]), one per column.
    """
    x = sum(np.asarray(series(s), float) for s in obs.series)
    x = np.atleast_2d(np.asarray(x, float))
    day = _index(dates, obs.date)
    if obs.aggregation == "value":
        return x[:, day]
    assert obs.start is not None
    first = _index(dates, obs.start)
    if obs.aggregation == "increase":
        before = x[:, first - 1] if first > 0 else np.zeros(x.shape[0])
        return x[:, day] - before
    return x[:, first:day + 1].mean(axis=1)


def _index(dates: np.ndarray, d) -> int:
    i = int(np.searchsorted(dates.astype("datetime64[D]"), np.datetime64(d, "D")))
    return min(max(i, 0), dates.size - 1)


def _positive(*xs: float) -> bool:
    return all(np.isfinite(x) and x > 0 for x in xs)


def distance(observed: float, low: float, high: float, sim: np.ndarray) -> float:
    """Standardized distance of the observation from the simulated values (see module doc)."""
    sim = np.asarray(sim, float)
    sim = sim[np.isfinite(sim)]
    if sim.size == 0:
        return float("inf")
    p05, p50, p95 = np.percentile(sim, [5, 50, 95])
    use_log = _positive(observed, low, high, p05, p50, p95)

    def f(v: float) -> float:
        return float(np.log(v)) if use_log else float(v)
    sd_obs = (f(high) - f(low)) / (2 * Z90)
    sd_sim = (f(p95) - f(p05)) / (2 * Z90)
    den = float(np.hypot(sd_obs, sd_sim))
    gap = abs(float(f(observed) - f(p50)))
    if den <= 0:
        return 0.0 if gap == 0 else float("inf")
    return gap / den


def score(observations: Sequence[Observation], values: dict[str, np.ndarray],
          fitted: set[str] | None = None) -> dict:
    """The history section of a summary: per observation the band, the score, inside or not.

    Args:
        observations: the record points.
        values: per observation name, the simulated value of each replication.
        fitted: names used to fit the inputs (marked so a reader sees what is in-sample).
    """
    rows = []
    for o in observations:
        sim = np.asarray(values[o.name], float)
        fin = sim[np.isfinite(sim)]
        p05, p50, p95 = (np.percentile(fin, [5, 50, 95]) if fin.size else (np.nan,) * 3)
        row = {"name": o.name, "date": o.date.isoformat(), "observed": o.value,
               "low": o.low, "high": o.high, "unit": o.unit, "series": list(o.series),
               "aggregation": o.aggregation, "source": o.source,
               "p05": float(p05), "p50": float(p50), "p95": float(p95),
               "score": distance(o.value, o.low, o.high, fin),
               "inside": bool(fin.size and p05 <= o.value <= p95),
               "relative_error_median": float((p50 - o.value) / o.value) if o.value else None}
        if fitted is not None:
            row["fitted"] = o.name in fitted
        rows.append(row)
    inside = sum(bool(r["inside"]) for r in rows)
    return {"inside": int(inside), "total": len(rows),
            "share_inside": inside / len(rows) if rows else float("nan"),
            "band": "5th-95th percentile of the replications", "observations": rows}


def headline(history: dict) -> str:
    """One line such as 'history: 15 of 16 observations inside the 90% band'."""
    line = (f"history: {history['inside']} of {history['total']} observations inside the 90% "
            "band")
    out = [r["name"] for r in history["observations"] if not r["inside"]]
    return line + (f" (outside: {', '.join(out)})" if out else "")
