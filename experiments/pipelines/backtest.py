"""`capsim backtest`: calibrate at several origins, forecast what came later, score it.

For each origin D (by default every quarter end from 2024-12-31 to the quarter of the last
observation that has a later one to forecast), the scenario's inputs take the
distributions of vintage D (`capsim.models.inputs.at_vintage`: the latest written from data
up to D; an input with none is refused), are calibrated on the observations dated up to D
(`capsim calibrate --holdout-after D`), and every later observation is forecast from the
posterior predictive: the retained design points' simulated values (one replication each,
its growth path included). Each forecast is scored (`capsim.simcore.scoring`): CRPS, inside
the 90% band or not, the interval score, the error of the median and the band's width, each
relative to the observed value where it is a ratio. Two naive baselines are scored on the
same points, from the observations of the same series up to D: a log-linear trend through
the last two, and the growth rate of the last year (the last observation against the one
nearest a year before it) carried forward. Skill is 1 - CRPS(model) / CRPS(baseline) (a
baseline is a point forecast: its CRPS is its absolute error).

Origins whose priors are the same share one simulated design (the match differs). Each
origin's rows are kept as they finish (`capsim.simcore.resultlog`), so an interrupted
backtest resumes from the next origin. The directory written:
- backtest.parquet, backtest.csv: one row per (origin, later observation);
- summary.json, summary.md: per origin and overall: held-out coverage, mean CRPS skill
  against each baseline, band width; the settings and wall time;
- plots/<series>.png: per observed series the record, each origin's fan and the baselines;
- origins/<D>/: each origin's calibration (see `capsim.experiments.pipelines.calibrate`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from capsim.experiments.pipelines import backtest_plots
from capsim.experiments.pipelines import calibrate as cal
from capsim.experiments.pipelines.backtest_plots import series_key
from capsim.experiments.pipelines.checks import DEFAULT_SEED
from capsim.experiments.pipelines.history import load_observations
from capsim.models.inputs import at_vintage
from capsim.models.observations import Observation
from capsim.models.scenario import Scenario, ScenarioError, sha256, to_toml
from capsim.simcore import scoring
from capsim.simcore.resultlog import ResultLog
from capsim.simcore.store import atomic_write_bytes, dumps

FIRST_ORIGIN = dt.date(2024, 12, 31)
DEFAULT_POINTS = 1500
"""Design points per distinct set of priors (see the module doc and `capsim backtest`)."""
ALPHA = 0.1
"""The band is the central 1 - ALPHA = 90% of the posterior predictive."""
YEAR = 365.25


def quarter_end(d: dt.date) -> dt.date:
    """The last day of the quarter `d` lies in."""
    q_month = 3 * ((d.month - 1) // 3 + 1)
    first_next = dt.date(d.year + (q_month == 12), q_month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)


def default_origins(obs: list[Observation], first: dt.date = FIRST_ORIGIN) -> list[dt.date]:
    """Quarter ends from `first` to the last observation's quarter, each with a later point."""
    last = max(o.date for o in obs)
    out, d = [], quarter_end(first)
    while d <= quarter_end(last):
        if any(o.date > d for o in obs):
            out.append(d)
        d = quarter_end(d + dt.timedelta(days=1))
    return out


def baselines(obs: list[Observation], target: Observation, origin: dt.date
              ) -> tuple[float, float]:
    """(log-linear trend through the last two, last year's growth carried forward) at target.

    From the observations of the target's series dated up to `origin`; NaN where there are
    fewer than two or a value is not positive.
    """
    past = sorted((o for o in obs if series_key(o) == series_key(target) and o.known_by(origin)),
                  key=lambda o: o.date)
    if len(past) < 2 or any(o.value <= 0 for o in past):
        return float("nan"), float("nan")
    last = past[-1]

    def grow(a: Observation, b: Observation) -> float:
        rate = np.log(b.value / a.value) / ((b.date - a.date).days / YEAR)
        return float(b.value * np.exp(rate * (target.date - b.date).days / YEAR))

    trend = grow(past[-2], last)
    year_ago = min(past[:-1], key=lambda o: abs((last.date - o.date).days - YEAR))
    return trend, grow(year_ago, last)


def score_origin(origin: dt.date, obs: list[Observation], design: pd.DataFrame
                 ) -> list[dict[str, Any]]:
    """One row per observation not public by `origin`: the model's and the baselines' scores.

    That is every later observation, and those about an earlier day but published after it.
    """
    kept = design[design["retained"]]
    rows = []
    for o in obs:
        if o.known_by(origin):
            continue
        x = kept[o.name].to_numpy(float)
        lo, hi = scoring.central_band(x, 1 - ALPHA)
        p50 = float(np.nanmedian(x)) if np.isfinite(x).any() else float("nan")
        crps = float(scoring.crps_sample(x, o.value))
        trend, growth = baselines(obs, o, origin)
        y = o.value
        row = {
            "origin": origin.isoformat(), "observation": o.name, "series": series_key(o),
            "date": o.date.isoformat(), "horizon_days": (o.date - origin).days,
            "unit": o.unit, "observed": y, "obs_low": o.low, "obs_high": o.high,
            "n_draws": int(np.isfinite(x).sum()), "p05": float(lo), "p50": p50,
            "p95": float(hi), "crps": crps, "crps_relative": crps / abs(y) if y else np.nan,
            "in_band": bool(scoring.in_band(lo, hi, y)),
            "share_in_observed_range": float(scoring.share_inside(x, o.low, o.high)),
            "interval_score": float(scoring.interval_score(lo, hi, y, ALPHA)),
            "median_error": (p50 - y) / y if y else np.nan,
            "band_width": (hi - lo) / abs(y) if y else np.nan,
            "trend": trend, "growth": growth,
            "crps_trend": abs(trend - y), "crps_growth": abs(growth - y),
        }
        for b, base in (("trend", abs(trend - y)), ("growth", abs(growth - y))):
            row[f"skill_{b}"] = 1 - crps / base if np.isfinite(base) and base > 0 else np.nan
        rows.append(row)
    return rows


def summarize(table: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """Per origin and overall: coverage, mean skill against each baseline, band width.

    Mean skill over a set of points is 1 - mean(CRPS/|y|) / mean(baseline CRPS/|y|) over
    the points where the baseline exists (a ratio of relative CRPS, so units mix).
    """
    def block(t: pd.DataFrame) -> dict[str, Any]:
        out: dict[str, Any] = {"points": int(len(t)),
                               "in_band": int(t["in_band"].sum()),
                               "coverage": float(t["in_band"].mean()) if len(t) else None,
                               "median_band_width": float(t["band_width"].median())
                               if len(t) else None,
                               "median_abs_median_error": float(t["median_error"].abs().median())
                               if len(t) else None}
        for b in ("trend", "growth"):
            ok = t[np.isfinite(t[f"crps_{b}"]) & (t["observed"] != 0)]
            base = (ok[f"crps_{b}"] / ok["observed"].abs()).mean()
            model = ok["crps_relative"].mean()
            out[f"skill_{b}"] = float(1 - model / base) if len(ok) and base > 0 else None
            out[f"points_{b}"] = int(len(ok))
        return out

    origins = {o: {**block(t), **meta["origins"].get(o, {})}
               for o, t in table.groupby("origin", sort=True)}
    series = {s: block(t) for s, t in table.groupby("series", sort=True)}
    both = {o: {s: block(g) for s, g in t.groupby("series", sort=True)}
            for o, t in table.groupby("origin", sort=True)}
    return {**{k: v for k, v in meta.items() if k != "origins"},
            "overall": block(table), "origins": origins, "series": series,
            "origins_by_series": both}


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a readable table."""
    def f(v: Any, pct: bool = False) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "-"
        return f"{100 * v:.0f}%" if pct else f"{v:+.2f}"

    lines = [f"# Backtest of {summary['scenario']}", "",
             f"{summary['method']}", "",
             "| origin | held-out points | in 90% band | skill vs trend | skill vs last "
             "year's growth | median band width / value | acceptance | ESS |",
             "|---|---|---|---|---|---|---|---|"]
    for o, r in summary["origins"].items():
        lines.append(f"| {o} | {r['points']} | {r['in_band']} ({f(r['coverage'], True)}) | "
                     f"{f(r['skill_trend'])} | {f(r['skill_growth'])} | "
                     f"{f(r['median_band_width'], True)} | {f(r.get('acceptance'), True)} | "
                     f"{r.get('ess', 0):.0f} |")
    r = summary["overall"]
    lines += ["", f"Overall: {r['in_band']} of {r['points']} held-out points in their 90% band "
              f"({f(r['coverage'], True)}); skill {f(r['skill_trend'])} against the trend, "
              f"{f(r['skill_growth'])} against last year's growth; median band width "
              f"{f(r['median_band_width'], True)} of the value.", "",
              "Per origin and series:", "",
              "| origin | series | points | in 90% band | skill vs trend | skill vs last year's "
              "growth | median error of the median | median band width / value |",
              "|---|---|---|---|---|---|---|---|"]
    for o, by in summary["origins_by_series"].items():
        for name, r in by.items():
            lines.append(f"| {o} | {name.split('|')[0][:40]} ({name.split('|')[1]}) | "
                         f"{r['points']} | {r['in_band']} | {f(r['skill_trend'])} | "
                         f"{f(r['skill_growth'])} | {f(r['median_abs_median_error'], True)} | "
                         f"{f(r['median_band_width'], True)} |")
    return "\n".join(lines) + "\n"


def backtest(scenario: Scenario, *, out: Path, observations: str | Path | None = None,
             origins: list[dt.date] | None = None, points: int = DEFAULT_POINTS,
             seed: int = DEFAULT_SEED, workers: int = 1, cutoff: float = 3.0,
             discrepancy: float = 0.1, progress: bool | None = None) -> dict[str, Any]:
    """Run (or resume) a backtest into `out`; the summary.

    Raises:
        ScenarioError: no observations, an origin with nothing later to forecast or
            nothing to fit, or inputs with no distribution as old as an origin (named).
    """
    t0 = time.time()
    obs = load_observations(scenario, observations)
    if not obs:
        raise ScenarioError(scenario.name, ["no observations to backtest against"])
    origins = sorted(origins or default_origins(obs))
    for d in origins:  # refuse at once, before anything is simulated
        at_vintage(scenario, d)
    bad = [d for d in origins if all(o.known_by(d) for o in obs)
           or not any(o.known_by(d) for o in obs)]
    if bad:
        raise ScenarioError(scenario.name, [f"origin {d}: needs observations on or before it "
                                            "and after it" for d in bad])
    out = Path(out)
    log = ResultLog(out / "rows", prefix="origin", every=10 ** 9, seconds=float("inf"))
    done = set(log.read()["origin"]) if len(log.read()) else set()
    meta_path = out / "origins.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    designs: dict[str, Path] = {}
    for d in origins:
        key = d.isoformat()
        vint = sha256(to_toml(at_vintage(scenario, d)[0]))
        where = out / "origins" / key
        if key in done and key in meta:
            designs.setdefault(vint, where)
            continue
        s = cal.calibrate(scenario, out=where, observations=observations, holdout_after=d,
                          points=points, seed=seed, workers=workers, cutoff=cutoff,
                          progress=progress, reuse=designs.get(vint), discrepancy=discrepancy)
        if s["status"] != "complete":
            break  # interrupted: what is stored resumes next time
        designs.setdefault(vint, where)
        for row in score_origin(d, obs, pd.read_parquet(where / "design.parquet")):
            log.append(row)
        log.flush()
        meta[key] = {"fitted": len(s["fitted"]), "acceptance": s["acceptance"],
                     "ess": s["ess"], "retained": s["accepted"], "cutoff_used": s["cutoff_used"],
                     "priors": sorted(set(s["vintages"].values())),
                     "reused_design": s["reused_design"] is not None}
        atomic_write_bytes(meta_path, dumps(meta).encode())
    table = log.read()
    return _write(out, scenario, obs, table, origins, meta, time.time() - t0,
                  dict(points=points, seed=seed, workers=workers, cutoff=cutoff,
                       discrepancy=discrepancy))


def _write(out: Path, scenario: Scenario, obs: list[Observation], table: pd.DataFrame,
           origins: list[dt.date], meta: dict, wall: float, settings: dict) -> dict[str, Any]:
    complete = len(table) and {d.isoformat() for d in origins} <= set(table["origin"])
    table = table.sort_values(["origin", "date", "observation"]).reset_index(drop=True)
    atomic_write_bytes(out / "backtest.csv", table.to_csv(index=False).encode())
    atomic_write_bytes(out / "backtest.parquet", cal._parquet_bytes(table))
    info = {"scenario": scenario.name, "method": (
        "at each origin: the inputs' distributions of that vintage, history matching on the "
        "observations up to it, the posterior predictive of every later one scored with CRPS "
        f"and the central {100 * (1 - ALPHA):.0f}% band; baselines: log-linear trend through "
        "the last two observations of the series, and last year's growth carried forward"),
        "status": "complete" if complete else "partial (resume with the same command)",
        "origins_requested": [d.isoformat() for d in origins], **settings,
        "wall_seconds": round(wall, 1), "origins": meta}
    summary = summarize(table, info) if len(table) else {**info, "overall": {}, "origins": {}}
    if len(table):
        summary["figures"] = backtest_plots.plot_series(out / "plots", obs, table)
        atomic_write_bytes(out / "summary.md", markdown(summary).encode())
    atomic_write_bytes(out / "summary.json", dumps(summary).encode())
    return summary
