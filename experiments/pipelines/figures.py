"""The plots of a run directory: what `capsim run` and `capsim plot` draw.

Each plot answers one question; its title states the finding where the data give one
(computed here from the run), else the question. Every figure carries a footer with the
scenario, the seed and the replications (`plots.Page`). `FIGURES` lists them in the
report's order, grouped by question, with a one-line caption saying what to look for
(`figure_index` holds that list).
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from capsim.experiments.pipelines import headroom, kpi_text
from capsim.experiments.pipelines.figure_index import (  # noqa: F401 (read here by callers)
    CAPTIONS,
    FIGURES,
    GROUPS,
    Figure,
    first_majority,
    month,
    short_threshold,
)
from capsim.experiments.pipelines.kpi_text import short_value
from capsim.experiments.pipelines.service_figures import service_plots
from capsim.models.scenario import Scenario, load
from capsim.simcore import plots
from capsim.simcore.store import RunStore, atomic_write_bytes

MAX_DRAWN = 1000
"""Most replications whose daily series a run's plots read (memory: replications x days)."""


class _Weekly:
    """A run's daily series as (replications x periods) arrays, read one column at a time.

    The table can hold ~100 replications x 3,650 days x 90 columns: reading only the
    column at hand keeps memory to one column of daily values, whatever the table's width.
    Every replication covers the same dates (the run-directory contract).
    """

    def __init__(self, path: Path, step: int = 7, keep: list[int] | None = None):
        self.path, self.step = path, step
        # `keep`: read only these replications (row groups outside them are skipped).
        self.filters = None if keep is None else [("replication", "in", keep)]
        self.columns = set(pq.read_schema(path).names)
        t = pq.read_table(path, columns=["replication", "date"], filters=self.filters)
        rep, day = t["replication"].to_numpy(), t["date"].to_numpy()
        self.order = np.lexsort((day, rep))
        self.replications = int(np.unique(rep).size)
        self.days = rep.size // max(1, self.replications)
        n = self.days // step * step
        self.daily_dates = day[self.order][:self.days].astype("datetime64[D]")
        self.dates = self.daily_dates[:n:step]

    def daily(self, col: str) -> np.ndarray:
        """(replications x days) of `col`."""
        x = pq.read_table(self.path, columns=[col], filters=self.filters)[col].to_numpy()
        return x[self.order].astype(float).reshape(self.replications, self.days)

    def weekly(self, x: str | np.ndarray) -> np.ndarray:
        """A column (name) or a daily matrix, averaged over blocks of `step` days."""
        x = self.daily(x) if isinstance(x, str) else x
        n = self.days // self.step * self.step
        return x[:, :n].reshape(x.shape[0], -1, self.step).mean(axis=2)

    def median(self, col: str) -> np.ndarray:
        """Median across replications of the weekly means of `col`."""
        return np.nanmedian(self.weekly(col), axis=0)

    def mean(self, col: str) -> np.ndarray:
        """Mean across replications of the weekly means of `col`."""
        return np.nanmean(self.weekly(col), axis=0)


def _col(w: _Weekly, *names: str) -> str | None:
    """The first of `names` the table has (series were renamed: *_daily_usd, *_usd)."""
    return next((n for n in names if n in w.columns), None)


@dataclass
class _Ctx:
    """What every plot of a run needs: data, scenario, output folder, format, page."""

    w: _Weekly
    scenario: Scenario
    out: Path
    fmt: str
    page: plots.Page
    summary: dict
    captions: dict[str, str] = field(default_factory=dict)
    """Each drawn plot's caption, computed from its data (written to captions.json)."""

    def path(self, name: str) -> Path:
        return self.out / f"{name}.{self.fmt}"


def _enabled(scenario: Scenario, w: _Weekly) -> tuple[dict[str, str], dict[str, str]]:
    """({cloud: label}, {generation: cloud}) of the enabled clouds the table has columns of."""
    clouds = {c: cl.label for c, cl in scenario.clouds.items()
              if cl.enabled and f"compute_tps__{c}" in w.columns}
    gens = {g: gen.cloud for g, gen in scenario.supply.generations.items()
            if gen.cloud in clouds and f"compute_tps__{g}" in w.columns}
    return clouds, gens


TPS = "reference tokens/s, weekly mean"


def _fan_chart(c: _Ctx) -> Path:
    w = c.w
    demand = w.weekly("demand_tps")
    cap = w.weekly("capacity_tps")
    series = {"Claude demand on the modelled clouds": demand,
              "serving capacity with training's loan": cap}
    colors = [plots.PALETTE[0], plots.PALETTE[2]]
    bands: list[bool | None] = [True, True]
    styles = ["-", "-"]
    if "capacity_own_tps" in w.columns:
        own = w.weekly("capacity_own_tps")
        series["serving capacity without training's loan"] = own
        colors.append(plots.PALETTE[4])
        bands.append(False)
        styles.append("--")
        lower, what = "serving capacity without training's loan", "without training's loan"
        short = (demand > own).mean(axis=0)
    else:
        clouds, _ = _enabled(c.scenario, w)
        cols = [f"compute_tps__{k}" for k in clouds]
        if cols:
            total = np.sum([w.weekly(col) for col in cols], axis=0)
            series["all installed compute (training and serving)"] = total
            colors.append(plots.PALETTE[5])
            bands.append(None)
            styles.append(":")
        lower, what = "serving capacity with training's loan", "with training's loan"
        short = (w.weekly("unserved_tps") > 1e-9 * demand).mean(axis=0)
    first = first_majority(w.dates, short)
    dm, lm = np.nanmedian(demand, axis=0), np.nanmedian(series[lower], axis=0)
    above = np.flatnonzero(dm > lm)
    if first:
        title = (f"Does capacity keep up? Serving capacity {what} falls below demand in most "
                 f"replications by {first}")
    elif above.size:
        title = (f"Median demand is above median serving capacity {what} in {above.size} of "
                 f"{dm.size} weeks, first in {month(w.dates[above[0]])}")
    else:
        title = (f"Serving capacity {what} stays above demand in most replications through "
                 f"{month(w.dates[-1])}")
    c.captions["fan_chart"] = (
        f"Demand and serving capacity, medians with 50% and 90% bands of {w.replications} "
        "replications, weekly, on a log axis; "
        + (f"median demand is above median capacity {what} in {above.size} weeks (shaded), "
           f"first in {month(w.dates[above[0]])}." if above.size else
           f"median demand stays below median capacity {what} in every week, so nothing is "
           "shaded.")
        + (" The gap between the two capacity lines is what training lends."
           if "capacity_own_tps" in w.columns else ""))
    gap = plots.Gap("Claude demand on the modelled clouds", lower,
                    f"demand above capacity {what} (medians)")
    # Under it, headroom at the peak hour on a linear scale: where a shortfall happens.
    low = headroom.panel(w)
    panel, top, title = (None, None, title) if low is None else (low[0], title, low[1])
    return plots.fan_chart(c.path("fan_chart"), w.dates, series, ylabel=f"tokens/s ({TPS})",
                           title=title, log=True, colors=colors, bands=bands, styles=styles,
                           gaps=[gap], panel=panel, top_title=top, page=c.page)


def _stranded_chips(c: _Ctx) -> Path:
    w = c.w
    x = w.weekly("chips_waiting")
    med = np.nanmedian(x, axis=0)
    i = int(np.nanargmax(med)) if np.isfinite(med).any() else 0
    waits = bool(med.size and med[i] > 0)
    title = (f"Chips waiting for powered space peak at {plots.human(med[i])} in "
             f"{month(w.dates[i])} (median)" if waits
             else "No chip waits for powered space in the median replication")
    c.captions["stranded_chips"] = (
        "Chips delivered and integrated but with no powered space yet, median with bands; "
        + (f"the median peaks at {plots.human(med[i])} chips in {month(w.dates[i])}."
           if waits else "the median stays at zero."))
    return plots.fan_chart(c.path("stranded_chips"), w.dates,
                           {"chips delivered, waiting for powered space": x},
                           ylabel="chips waiting (chips, weekly mean)", title=title,
                           page=c.page)


def _power(c: _Ctx) -> Path:
    w = c.w
    en, occ = w.weekly("energized_mw"), w.weekly("occupied_mw")
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = float(np.nanmean(np.nanmedian(occ / en, axis=0)))
    if not np.isfinite(filled):
        title = "Is powered space filled with chips?"
    elif filled >= 0.97:
        title = (f"Chips fill {filled:.0%} of energized power (median of replications, "
                 "averaged over the run): power, not chips, binds")
    else:
        title = (f"Chips fill {filled:.0%} of energized power (median of replications, "
                 "averaged over the run); the rest waits for chips")
    c.captions["power"] = (
        "Energized facility MW against MW occupied by chips (medians, weekly)"
        + (f"; chips fill {filled:.0%} of energized power on average: "
           + ("power binds." if filled >= 0.97 else "the rest is powered space waiting for "
              "chips.") if np.isfinite(filled) else "."))
    return plots.fan_chart(
        c.path("power"), w.dates, {"energized": en, "occupied by chips": occ},
        ylabel="facility power (MW, weekly mean)", title=title,
        colors=[plots.PALETTE[3], plots.PALETTE[0]], bands=False, styles=["-", "--"],
        page=c.page)


def _capacity_by_generation(c: _Ctx) -> Path | None:
    w = c.w
    clouds, gens = _enabled(c.scenario, w)
    if not gens:
        return None
    many = len(clouds) > 1
    layers = {(f"{g} ({clouds[k]})" if many else g): w.mean(f"compute_tps__{g}")
              for g, k in gens.items()}
    lines = {"Claude demand (median)": w.median("demand_tps"),
             "serving capacity with training's loan (median)": w.median("capacity_tps")}
    end = {name: float(v[-1]) for name, v in layers.items() if len(v)}
    total = sum(end.values())
    title = "Which chip generations carry the load?"
    if total > 0:
        lead = max(end, key=end.__getitem__)
        title = (f"{lead} carries {end[lead] / total:.0%} of installed compute at the end of "
                 f"the run ({month(w.dates[-1])}, means)")
    c.captions["capacity_by_generation"] = (
        "Top: installed compute by generation (means) against demand and serving capacity "
        "(medians) on a log axis; bottom: each generation's share"
        + (f". On the last week {', '.join(f'{k} {v / total:.0%}' for k, v in end.items())}."
           if total > 0 else "."))
    return plots.composition(
        c.path("capacity_by_generation"), w.dates, layers, lines,
        ylabel=f"compute ({TPS})", total_label="installed compute, all generations (mean)",
        share_title="Share of each generation in installed compute (means)",
        title=title,
        colors=plots.grouped_colors(list(gens.values())),
        line_styles={"serving capacity with training's loan (median)": "--"}, page=c.page)


def _capacity_by_cloud(c: _Ctx) -> Path | None:
    clouds, _ = _enabled(c.scenario, c.w)
    if not clouds:
        return None
    series = {label: c.w.weekly(f"compute_tps__{k}") for k, label in clouds.items()}
    end = {label: float(np.nanmedian(x[:, -1])) for label, x in series.items()}
    said = ", ".join(f"{k} {plots.human(v)} tokens/s" for k, v in end.items())
    c.captions["capacity_by_cloud"] = (
        f"Installed compute per cloud (training and serving), median and bands; on the last "
        f"week (median) {said}.")
    return plots.fan_chart(
        c.path("capacity_by_cloud"), c.w.dates, series,
        ylabel=f"installed compute ({TPS}, log scale)", log=True,
        title=f"Installed compute on {month(c.w.dates[-1])} (median): {said}", page=c.page)


CHIP_STATES = {"in_transit": "in transit", "waiting": "delivered, waiting for power",
               "installed": "installed", "failed": "failed (in repair)", "retired": "retired"}
HELD = "held at the supplier for lack of power (not shipped)"


def _chips_by_state(c: _Ctx) -> Path | None:
    w = c.w
    cols = [f"chips_{st}" for st in CHIP_STATES] + ["chips_shipped"]
    if not set(cols) <= w.columns:
        return None
    # Means, not medians: the mean of a sum is the sum of the means, so the stack equals
    # the mean of chips shipped exactly (chip conservation holds in every replication).
    layers = {label: w.mean(f"chips_{st}") for st, label in CHIP_STATES.items()}
    shipped = w.mean("chips_shipped")
    waiting = layers[CHIP_STATES["waiting"]]
    i = int(np.nanargmax(waiting)) if np.isfinite(waiting).any() else 0
    share = layers["installed"][-1] / shipped[-1] if shipped.size and shipped[-1] > 0 else None
    title = ("Where are the chips? Mean chips by state" if share is None else
             f"{share:.0%} of the chips shipped are installed at the end of the run; waiting "
             f"for power peaks at {plots.human(waiting[i])} ({month(w.dates[i])}, means)")
    c.captions["chips_by_state"] = (
        "Mean chips in each state, stacked; the stack equals the mean of chips shipped "
        f"(dotted). The waiting band peaks at {plots.human(waiting[i])} chips in "
        f"{month(w.dates[i])}.")
    p = plots.PALETTE
    colors = [p[0], p[1], p[2], p[3], p[5]]
    # Chips due that the power-aware policy holds at the supplier (not built, not shipped):
    # stacked on top, above the shipped line.
    held = w.mean("chips_held") if "chips_held" in w.columns else None
    if held is not None and np.nanmax(held, initial=0.0) > 0:
        layers[HELD] = held
        colors.append(p[4])
        j = int(np.nanargmax(held))
        verb = "reach" if j == held.size - 1 else "peak at"
        title = (f"Chips held at the supplier {verb} {plots.human(held[j])} in "
                 f"{month(w.dates[j])}, against {plots.human(layers['installed'][j])} "
                 f"installed then; waiting for power peaks at {plots.human(waiting[i])} "
                 "(means)")
        c.captions["chips_by_state"] += (
            f" Chips held at the supplier (not yet shipped) are stacked on top; they peak "
            f"at {plots.human(held[j])} in {month(w.dates[j])}.")
    return plots.stacked_area(
        c.path("chips_by_state"), w.dates, layers,
        {"shipped, cumulative (mean)": w.mean("chips_shipped")},
        ylabel="chips (mean of replications)", title=title,
        colors=colors, line_styles={"shipped, cumulative (mean)": ":"}, page=c.page)


def _spend_vs_commitment(c: _Ctx) -> Path | None:
    w, scenario = c.w, c.scenario
    clouds, _ = _enabled(scenario, w)
    spend_col = {k: _col(w, f"spend_daily_usd__{k}", f"spend_usd__{k}") for k in clouds}
    clouds = {k: label for k, label in clouds.items() if spend_col[k] is not None}
    if not clouds:
        return None
    start = scenario.scenario.start
    panels, levels = {}, {}
    passed = []
    for k, label in clouds.items():
        cl = scenario.clouds[k]
        w0 = cl.commitment_start
        w1 = w0 + dt.timedelta(days=round(cl.commitment_years * 365.25))
        # Spend counts from the commitment's start (or the run's, if the window began earlier).
        before = w.daily_dates < np.datetime64(max(start, w0), "D")
        spend = w.daily(str(spend_col[k]))
        spend[:, before] = 0.0
        cum = np.cumsum(spend, axis=1)
        cum[:, before] = np.nan
        title = f"{label}: cumulative spend vs commitment"
        panels[title] = {f"spend since {max(start, w0):%Y-%m-%d}": w.weekly(cum)}
        note = f"; spend before {start} not in the run" if w0 < start else ""
        commit = cl.commitment_usd.base
        levels[title] = [plots.Level(f"commitment {plots.human(commit, 'usd')} over {w0:%Y-%m} "
                                     f"to {w1:%Y-%m}{note}", commit, w0, w1)] if commit else []
        if commit:
            with warnings.catch_warnings():  # weeks before the commitment have no value
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(w.weekly(cum), axis=0)
            when = first_majority(w.dates, np.nan_to_num(med / commit), 1.0)
            passed.append(f"{label} in {when}" if when else f"{label} not within the run")
    title = ("Median spend reaches the commitment: " + "; ".join(passed) if passed
             else "Does spend on each cloud meet its commitment?")
    c.captions["spend_vs_commitment"] = (
        "Cumulative spend against each commitment over its window (dashed level), median "
        "with bands" + (f"; the median reaches it: {'; '.join(passed)}." if passed else "."))
    return plots.fan_panels(
        c.path("spend_vs_commitment"), w.dates, panels, ylabel="cumulative spend (USD)",
        levels=levels, title=title, yfmt="usd", page=c.page)


def _revenue(c: _Ctx) -> Path | None:
    w = c.w
    earned = _col(w, "revenue_daily_usd", "revenue_usd")
    lost_col = _col(w, "lost_revenue_daily_usd", "lost_revenue_usd")
    if "run_rate_usd" not in w.columns or earned is None or lost_col is None:
        return None
    year = 365.25  # dollars per day -> per year
    kp = c.summary.get("kpis", {})
    lost = kp.get("lost_revenue_total_usd") or kp.get("lost_revenue_usd")
    title = (f"Revenue lost to unserved demand: {plots.human(lost['p50'], 'usd')} over the run "
             f"in the median replication, {plots.human(lost['mean'], 'usd')} on average"
             if lost and lost.get("p50") is not None else "How much revenue does a shortfall cost?")
    c.captions["revenue"] = (
        "Anthropic-wide run-rate, revenue earned on the modelled clouds, and revenue lost to "
        "unserved tokens, each on its own scale"
        + (f"; lost over the run: {plots.human(lost['p50'], 'usd')} in the median "
           f"replication, {plots.human(lost['mean'], 'usd')} on average."
           if lost and lost.get("p50") is not None else "."))
    panels = {
        f"Revenue run-rate, Anthropic-wide, {kpi_text.implied(c.scenario)} (revenue on the "
        "modelled clouds / their share of Claude demand; 30-day mean)": {
            "run-rate": w.weekly("run_rate_usd")},
        "Revenue earned on the modelled clouds": {
            "earned, annualised": w.weekly(earned) * year},
        "Revenue lost to unserved tokens on the modelled clouds": {
            "lost, annualised": w.weekly(lost_col) * year},
    }
    return plots.fan_panels(c.path("revenue"), w.dates, panels, ylabel="revenue (USD per year)",
                            title=title, colors=[plots.PALETTE[1]], yfmt="usd", page=c.page)


def _customers(c: _Ctx) -> Path | None:
    w = c.w
    need = ("customers_active", "customers_throttled", "customers_lost", "demand_potential_tps")
    if any(n not in w.columns for n in need):
        return None
    kp = c.summary.get("kpis", {})
    lost = kp.get("customers_lost_to_competitors") or {}
    month = kp.get("enterprise_throttled_monthly_share") or {}
    if lost.get("p50") is not None and month.get("mean") is not None:
        title = (f"{plots.human(lost['p50'])} enterprise customers lost to competitors in the "
                 f"median replication; {plots.human(month['mean'], 'share')} of customers "
                 "throttled at least once in an average month")
    else:
        title = "Who is throttled, and who leaves?"
    with np.errstate(invalid="ignore", divide="ignore"):
        left = 1.0 - w.weekly("demand_tps") / w.weekly("demand_potential_tps")
    nobody = not np.nanmax(w.weekly("customers_lost"), initial=0.0) > 0
    c.captions["customers"] = (
        "Enterprise customers active and throttled in the worst hour of each day, customers "
        "lost to competitors so far, and the share of demand that left with lost customers "
        "and consumers; " + ("no customer leaves in any replication." if nobody else
                             f"{plots.human(lost.get('p50') or 0)} customers lost in the "
                             "median replication."))
    panels = {
        "Enterprise customers (worst hour of the day)": {
            "active": w.weekly("customers_active"),
            "throttled": w.weekly("customers_throttled")},
        "Customers lost to competitors since the start": {
            "lost (running total)": w.weekly("customers_lost")},
        "Share of demand that left with lost customers and consumers": {
            "demand lost": np.nan_to_num(left, nan=0.0)},
    }
    return plots.fan_panels(c.path("customers"), w.dates, panels,
                            ylabel=["customers (weekly mean)", "customers (running total)",
                                    "share of demand (weekly mean)"], title=title,
                            colors=[plots.PALETTE[0], plots.PALETTE[3]], page=c.page)


KIND_OF_UNIT = {"USD": "usd", "probability": "share", "decimal year": "month"}


def _kpi_ecdf(c: _Ctx, store: RunStore) -> Path:
    """The headline KPIs' spread across replications (0/1 indicators left out), labelled."""
    kp = store.read_kpis()
    entries = {**c.summary.get("kpis", {}), **c.summary.get("milestones", {})}
    names = [k for k in kpi_text.headline_names(c.summary)
             if k in kp and entries[k].get("unit") != "probability"] or \
        [k for k in entries if k in kp][:12]
    units = {kpi_text.label(k): kpi_text.unit_shown(entries[k].get("unit", "")) for k in names}
    kinds = {kpi_text.label(k): "share" if entries[k].get("unit", "").startswith("share")
             else KIND_OF_UNIT.get(entries[k].get("unit", ""), "count") for k in names}
    title = "How are the headline KPIs spread across replications? (ECDF)"
    if names:
        d, u = entries[names[0]], entries[names[0]].get("unit", "")
        title = (f"Across {len(kp)} replications the middle 90% of {kpi_text.label(names[0])} "
                 f"runs from {short_value(d.get('p05'), u)} to {short_value(d.get('p95'), u)}"
                 f" ({kpi_text.unit_shown(u)})")
    c.captions["kpi_ecdf"] = (
        f"The distributions of {len(names)} headline KPIs across {len(kp)} replications "
        "(probabilities are in the table): read a percentile off the vertical axis; steep "
        "means certain, flat means uncertain.")
    return plots.ecdf_grid(c.path("kpi_ecdf"),
                           {kpi_text.label(k): kp[k].to_numpy() for k in names},
                           title=title, units=units, kinds=kinds, page=c.page)


def footer(manifest: dict, replications: int, run_dir: Path) -> str:
    """The footer line of a run's plots: scenario, seed, replications, status, capsim."""
    # The plots of a finishing run are drawn before its status turns "complete" (that is
    # written last), so "partial" is judged by the count of replications.
    wanted = manifest.get("replications")
    partial = isinstance(wanted, int) and replications < wanted
    return (f"scenario {manifest.get('scenario')} | seed {manifest.get('seed')} | "
            f"{replications} replications{' (partial)' if partial else ''} | capsim "
            f"{manifest.get('capsim_version', '?')} | {run_dir.resolve().name}")


def write_plots(store: RunStore, fmt: str = "png", dpi: int = 150,
                out: Path | None = None) -> list[Path]:
    """Draw the run's standard plots into `out` (default DIR/plots/) as `fmt` files.

    Returns the paths written.
    """
    if fmt not in plots.FORMATS:
        raise ValueError(f"plot format must be one of {', '.join(plots.FORMATS)}, not {fmt!r}")
    out = out if out is not None else store.path / "plots"
    out.mkdir(parents=True, exist_ok=True)
    path = store.path / "timeseries.parquet"
    scenario = load(store.path / "scenario.toml")[0]
    # Daily series are drawn from at most MAX_DRAWN replications (the lowest numbers), so
    # that memory stays bounded however long the run; the footer says so. The KPI
    # distributions use every replication.
    reps = sorted(int(r) for r in store.read_kpis()["replication"].unique())
    keep = reps[:MAX_DRAWN] if len(reps) > MAX_DRAWN else None
    # Weekly points are plenty for a ten-year picture and keep memory small.
    w = _Weekly(path, 7, keep)
    sp = store.path / "summary.json"
    summary = json.loads(sp.read_text()) if sp.exists() else {}
    note = f" (daily series of {w.replications:,} of them)" if keep is not None else ""
    page = plots.Page(footer(store.manifest(), len(reps), store.path) + note, dpi)
    c = _Ctx(w, scenario, out, fmt, page, summary)
    made = [_fan_chart(c), _stranded_chips(c), _power(c)]
    # Each returns None when the table lacks its columns (a run from an older capsim).
    extra = (_capacity_by_generation(c), _capacity_by_cloud(c), _chips_by_state(c),
             _spend_vs_commitment(c), _revenue(c), _customers(c))
    made += [p for p in extra if p is not None]
    made += service_plots(c, path)
    made.append(_kpi_ecdf(c, store))
    if summary.get("history"):
        from capsim.experiments.pipelines.history_plots import history_figure

        drawn = history_figure(c.path("history"), summary["history"], page)
        made += [drawn] if drawn is not None else []
    drawn_names = {p.stem for p in made}
    captions = {k: v for k, v in c.captions.items() if k in drawn_names}
    atomic_write_bytes(out / CAPTIONS, json.dumps(captions, indent=1).encode())
    return made
