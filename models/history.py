"""History scoring: a run's simulated series at the observations' dates, against the record.

For each observation, every replication gives one simulated value (the observed series
aggregated as the observation says). Per observation the history reports:

- the run's 90% band (5th-95th percentile of the replications) and whether the observed
  value lies in it (*inside*);
- the share of replications inside the observed range (`low` .. `high`): how often one
  simulated history passes through what was reported;
- two proper scores of the replications as a forecast of the observed value, both in the
  observation's unit and also relative to it: the CRPS of the ensemble, and the interval
  score of the 90% band (width + 20 x any miss). Lower is better.

A proper score is best in expectation for the forecast that matches how the record is
generated, so spread cannot buy it: a band wider than the errors warrant pays its width
(an observation at the median scores strictly worse with every widening, and over a
record an over-wide band loses to the right one). A wide band still scores better than a
narrow one that misses, by what the miss costs, and no more.

The counts are given by kind of observation (`observations` package: independent,
input-echo, plan), since only the independent ones test the model.

`distance` (a standardized gap of medians, which falls as the simulated spread grows) is
kept for history matching's implausibility (calibration), not for scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from capsim.models.observations import KINDS, Observation
from capsim.simcore import scoring

Z90 = 1.6448536269514722
"""Standard normal quantile of 0.95: a 90% interval is +-Z90 standard deviations."""
ALPHA = 0.1
"""The band is the central 1 - ALPHA (90%) of the replications."""
KIND_NOTE = {"independent": "", "input-echo": "give back inputs",
             "plan": "a stated plan the inputs follow"}
"""What a count of each kind means, for the history line."""


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
    if obs.aggregation == "sum":
        return x[:, first:day + 1].sum(axis=1)
    if obs.aggregation == "max":
        return x[:, first:day + 1].max(axis=1)
    return x[:, first:day + 1].mean(axis=1)


def _index(dates: np.ndarray, d) -> int:
    i = int(np.searchsorted(dates.astype("datetime64[D]"), np.datetime64(d, "D")))
    return min(max(i, 0), dates.size - 1)


def _positive(*xs: float) -> bool:
    return all(np.isfinite(x) and x > 0 for x in xs)


def distance(observed: float, low: float, high: float, sim: np.ndarray) -> float:
    """Standardized distance of the observation from the simulated median (calibration).

    |f(observed) - f(median)| / sqrt(sd_observed^2 + sd_simulated^2), f the log for
    positive quantities (else the identity), each sd read off a 90% interval. It falls as
    the simulated spread grows, so it is an implausibility for history matching, not a
    score of a forecast (`row` gives those).
    """
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


def _relative(x: float, value: float) -> float | None:
    return float(x / abs(value)) if value and np.isfinite(x) else None


def row(o: Observation, sim: np.ndarray) -> dict:
    """One observation's line of the history: band, share in range, CRPS, interval score."""
    sim = np.asarray(sim, float)
    fin = sim[np.isfinite(sim)]
    p05, p50, p95 = (np.percentile(fin, [5, 50, 95]) if fin.size else (np.nan,) * 3)
    crps = float(scoring.crps_sample(fin, o.value)) if fin.size else float("nan")
    isc = float(scoring.interval_score(p05, p95, o.value, ALPHA)) if fin.size else float("nan")
    return {"name": o.name, "kind": o.kind, "date": o.date.isoformat(), "observed": o.value,
            "low": o.low, "high": o.high, "unit": o.unit, "series": list(o.series),
            "aggregation": o.aggregation, "source": o.source,
            "data_date": o.data_date.isoformat() if o.data_date else None,
            "replications": int(fin.size),
            "p05": float(p05), "p50": float(p50), "p95": float(p95),
            "inside": bool(fin.size and p05 <= o.value <= p95),
            "share_in_range": float(scoring.share_inside(fin, o.low, o.high)),
            "crps": crps, "crps_relative": _relative(crps, o.value),
            "interval_score": isc, "interval_score_relative": _relative(isc, o.value),
            "band_width_relative": _relative(float(p95 - p05), o.value),
            "relative_error_median": float((p50 - o.value) / o.value) if o.value else None}


def _kind_summary(rows: list[dict]) -> dict:
    def mean(key: str) -> float | None:
        v = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
        return float(np.mean(v)) if v else None
    inside = sum(bool(r["inside"]) for r in rows)
    return {"total": len(rows), "inside": int(inside),
            "all_replications_in_range": sum(r["share_in_range"] == 1.0 for r in rows),
            "mean_share_in_range": mean("share_in_range"),
            "mean_crps_relative": mean("crps_relative"),
            "mean_interval_score_relative": mean("interval_score_relative")}


def score(observations: Sequence[Observation], values: dict[str, np.ndarray],
          fitted: set[str] | None = None) -> dict:
    """The history section of a summary: per observation its line, and counts by kind.

    Args:
        observations: the record points.
        values: per observation name, the simulated value of each replication.
        fitted: names used to fit the inputs (marked so a reader sees what is in-sample).
    """
    rows = []
    for o in observations:
        r = row(o, values[o.name])
        if fitted is not None:
            r["fitted"] = o.name in fitted
        rows.append(r)
    inside = sum(bool(r["inside"]) for r in rows)
    by_kind = {k: _kind_summary([r for r in rows if r["kind"] == k]) for k in KINDS
               if any(r["kind"] == k for r in rows)}
    return {"inside": int(inside), "total": len(rows),
            "share_inside": inside / len(rows) if rows else float("nan"),
            "band": "5th-95th percentile of the replications",
            "scores": "CRPS of the replications against the observed value; interval score "
                      "of the 90% band (width + 20 x any miss); both lower-is-better, also "
                      "relative to the observed value",
            "by_kind": by_kind, "observations": rows}


def headline(history: dict) -> str:
    """The history line: counts by kind, the share in range and the CRPS of independent ones.

    E.g. 'history (90% band): independent: 3 of 6 inside, 12% of replications in the
    observed range, CRPS 0.31 x value (outside: a, b, c); input-echo: 9 of 9 inside (give
    back inputs); plan: 1 of 1 inside'.
    """
    by_kind = history.get("by_kind") or {"independent": {"total": history["total"],
                                                          "inside": history["inside"]}}
    parts = []
    for k, c in by_kind.items():
        text = f"{k}: {c['inside']} of {c['total']} inside"
        if k == "independent":
            if c.get("mean_share_in_range") is not None:
                text += f", {c['mean_share_in_range']:.0%} of replications in the observed range"
            if c.get("mean_crps_relative") is not None:
                text += f", CRPS {c['mean_crps_relative']:.2f} x value"
            out = [r["name"] for r in history["observations"]
                   if r.get("kind", k) == k and not r["inside"]]
            text += f" (outside: {', '.join(out)})" if out else ""
        elif KIND_NOTE.get(k):
            text += f" ({KIND_NOTE[k]})"
        parts.append(text)
    return "history (90% band): " + "; ".join(parts)
