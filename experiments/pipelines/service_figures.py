"""A run's monthly service plots: the chance of a short month, of an SLO breach, the SLO map.

Drawn by `figures.write_plots` with its context (`c`: the weekly data, scenario, output
folder, page and the captions being collected); each plot's title and caption state what
its data show.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from capsim.experiments.pipelines.figure_index import first_majority, month, short_threshold
from capsim.simcore import plots, stats


def _monthly_share(flags: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(months, [estimate, lo, hi] per month) of a replications x months table of flags."""
    n = flags.shape[0]
    k = flags.sum(axis=0).to_numpy()
    return flags.columns.to_numpy(), np.array([stats.proportion_ci(int(x), n) for x in k])


def _peak(months: np.ndarray, p: np.ndarray, start: np.datetime64) -> tuple[str, float, float]:
    """(month, value) of the highest share from `start` on, and the mean share from then."""
    keep = np.flatnonzero(months.astype("datetime64[M]") >= start)
    if not keep.size:  # a run that ends before its window: all of it
        keep = np.arange(months.size)
    i = keep[int(np.argmax(p[keep]))]
    return month(months[i]), float(p[i]), float(p[keep].mean())


def service_plots(c: Any, path: Path) -> list[Path]:
    """The three monthly plots; their captions go into `c.captions`."""
    # A month is short as the run's KPIs count it: unmet demand against the demand the
    # market would bring (unserved against demand for runs that predate unmet demand).
    dem, uns = (("demand_potential_tps", "unmet_tps") if "unmet_tps" in c.w.columns
                else ("demand_tps", "unserved_tps"))
    ts = pq.read_table(path, columns=["replication", "date", dem, uns, "slo_hours"],
                       filters=c.w.filters).to_pandas()
    ts["date"] = pd.to_datetime(ts["date"])
    ts["month"] = ts["date"].dt.to_period("M").dt.to_timestamp()
    g = ts.groupby(["replication", "month"])[[dem, uns]].sum()
    thr = short_threshold(c.scenario)
    months, ci = _monthly_share((g[uns] > thr * g[dem]).unstack("month"))
    n = int(ts["replication"].nunique())
    # Peaks and averages count from the evaluation window's start (the history before it
    # includes the fleet's first months).
    start = np.datetime64(c.scenario.scenario.evaluation_start or c.scenario.scenario.start,
                          "M")
    first = first_majority(months, ci[:, 0])
    share = float((ci[:, 0] >= 0.5).mean())
    what = (f"over {thr:.0%} of the month's demand {uns.split('_')[0]}" if thr >= 1e-4
            else "demand not fully served")
    when, top, _ = _peak(months, ci[:, 0], start)
    if first:
        title = f"More than half of replications fall short in {share:.0%} of months, from {first}"
    elif top > 0:
        title = (f"A short month is never more likely than not: at most {top:.0%} of "
                 f"replications, first in {when}")
    else:
        title = f"No replication has a short month ({what})"
    c.captions["shortfall_probability"] = (
        f"The share of the {n} replications in which a calendar month had {what}, with its "
        f"95% interval; from {start} the highest is {top:.0%} (from {when})"
        + (f", above half from {first}." if first else ", never above half."))
    made = [plots.share_over_time(
        c.path("shortfall_probability"), months, ci[:, 0], ci[:, 1], ci[:, 2],
        ylabel=f"P({what}) (%)", title=title, page=c.page)]
    # Monthly SLO: a month is breached when fewer hours than the target meet the SLO.
    target = c.scenario.service.slo_target_share.base
    gs = ts.groupby(["replication", "month"])["slo_hours"].agg(["sum", "count"])
    bmonths, cb = _monthly_share((gs["sum"] < target * 24 * gs["count"]).unstack("month"))
    bwhen, btop, often = _peak(bmonths, cb[:, 0], start)
    title = (f"A month with fewer than {target:.0%} of hours meeting the SLO: {often:.0%} of "
             f"replication-months from {start}, most likely in {bwhen} ({btop:.0%})"
             if btop > 0 else
             f"Every month of every replication has at least {target:.0%} of hours meeting "
             "the SLO")
    c.captions["slo_breach_probability"] = (
        f"The share of the {n} replications in which fewer than {target:.0%} of a month's "
        f"hours met the SLO, with its 95% interval; from {start} on average {often:.0%} of "
        f"months, at most {btop:.0%} (from {bwhen}).")
    made.append(plots.share_over_time(
        c.path("slo_breach_probability"), bmonths, cb[:, 0], cb[:, 1], cb[:, 2],
        ylabel=f"P(< {target:.0%} of hours meet the SLO) (%)", title=title,
        color=plots.PALETTE[4], page=c.page))
    made.append(_slo_heatmap(c, ts, n))
    return made


def _slo_heatmap(c: Any, ts: pd.DataFrame, n: int) -> Path:
    """Mean share of hours meeting the SLO, by year and calendar month."""
    ts["year"] = ts["date"].dt.year
    ts["mon"] = ts["date"].dt.month
    grid = (ts.groupby(["year", "mon"])["slo_hours"].mean() / 24).unstack("mon")
    grid = grid.reindex(columns=range(1, 13))
    # The worst month counts from the evaluation window's start (the history before it
    # includes the fleet's first months).
    start = c.scenario.scenario.evaluation_start or c.scenario.scenario.start
    cells = grid.stack()
    cells = cells[[dt.date(int(y), int(m), 1) >= start.replace(day=1) for y, m in cells.index]] \
        if cells.size else cells
    title = "Which months meet the SLO?"
    caption = ("Mean share of hours meeting the SLO by year and calendar month (darker is "
               "worse).")
    if cells.size:
        (yr, mo), v = cells.idxmin(), cells.min()
        worst = dt.date(int(yr), int(mo), 1)
        title = (f"Hours meeting the SLO by month: worst {worst:%b %Y} at {v:.0%} (mean of {n} "
                 f"replications, from {start:%Y-%m})")
        caption += (f" From {start:%Y-%m} the worst month is {worst:%Y-%m} at {v:.0%}; "
                    f"{float((cells < 0.99).mean()):.0%} of months fall below 99%.")
    c.captions["slo_heatmap"] = caption
    return plots.heatmap(
        c.path("slo_heatmap"), grid.to_numpy(), list(grid.index),
        [dt.date(2000, m, 1).strftime("%b") for m in grid.columns], title=title,
        label="share of hours meeting the SLO (%)", xlabel="calendar month",
        ylabel="year", page=c.page)
