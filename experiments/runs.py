"""Run pipeline shared by the CLI and experiment scripts: run -> store -> summary -> plots."""

from __future__ import annotations

import datetime as dt
import functools
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from capsim.models import kpis as registry
from capsim.models.capacity import BINARY_KPIS, CLOUD_KPIS, KPIS, MILESTONES, CapacityModel
from capsim.models.posterior import posterior_draws
from capsim.models.scenario import Scenario, load, sha256
from capsim.simcore import plots, stats
from capsim.simcore.clock import Clock, decimal_year
from capsim.simcore.executors import make_executor
from capsim.simcore.montecarlo import replicate
from capsim.simcore.store import RunStore

KPI_BOUNDS = {n: m.bounds for n, m in {**registry.KPIS, **registry.CLOUD_KPIS}.items()}
"""Natural bounds (from the registry): a t-interval on few replications is clipped to them."""

KPI_UNITS = {n: m.unit for n, m in registry.KPIS.items()}
"""Units of the KPIs (from the registry, `capsim.models.kpis`)."""


def format_value(v: float | None, unit: str = "") -> str:
    """A KPI value for people: dollars in billions, decimal years, thousands separators."""
    if v is None or v != v:
        return "-"
    if unit == "USD":
        # The sign before the dollar: a commitment gap can be negative (spend beyond it).
        return f"{'-' if v < 0 else ''}${abs(v) / 1e9:,.1f}B"
    if unit == "decimal year":
        return f"{v:.2f}"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:,.2f}"


def version() -> str:
    """Capsim's installed version (or 'dev' when run from a source tree)."""
    try:
        return metadata.version("capsim")
    except metadata.PackageNotFoundError:
        return "dev"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class RunSpec:
    """What to run."""

    scenario: Scenario
    scenario_text: str
    replications: int
    seed: int
    workers: int
    executor: str = "processes"
    scheduler: str | None = None
    overrides: tuple[str, ...] = ()
    progress: bool | None = None
    targets: dict[str, float] | None = None  # KPI -> wanted 95% CI half-width
    max_replications: int | None = None


def manifest_for(spec: RunSpec) -> dict:
    """The manifest of a new run."""
    return {
        "capsim_version": version(),
        "scenario": spec.scenario.name,
        "scenario_sha256": sha256(spec.scenario_text),
        "overrides": list(spec.overrides),
        "seed": spec.seed,
        "replications": spec.replications,
        "executor": spec.executor,
        "workers": spec.workers,
        "targets": dict(spec.targets or {}),
        "max_replications": spec.max_replications,
        "started": _now(),
        "finished": None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "simpy": metadata.version("simpy"),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]),
    }


def execute(spec: RunSpec, store: RunStore) -> dict:
    """Run (or finish) the replications of `spec` into `store`, then summarise and plot.

    The order makes "complete" mean complete: replications, tables, summary, plots, and
    only then the manifest's status "complete" (a kill at any earlier moment leaves a
    "partial" run that `--resume` finishes). On Ctrl-C, SIGTERM or any error the finished
    replications are kept, the tables are built from them, and the manifest says
    "partial". A replication with an infinite or undefined KPI stops the run with a
    `finite.NonFiniteResult` (exit 2) and is not stored. Returns the summary.
    """
    from capsim.experiments import finite

    clock = Clock.between(spec.scenario.scenario.start, spec.scenario.scenario.end)
    label = spec.scenario.name
    check = functools.partial(finite.check_result, label=label, overrides=spec.overrides)
    posterior_draws(spec.scenario)  # a bad posterior fails here (exit 2), before any worker
    executor = make_executor(spec.executor, spec.workers, spec.scheduler)
    try:
        try:
            while True:
                replicate(CapacityModel, spec.scenario, replications=spec.replications,
                          seed=spec.seed, dates=clock.dates(), store=store, executor=executor,
                          skip=store.done(), progress=spec.progress, check=check,
                          describe=registry.describe)
                more = next_replications(spec, store.read_kpis())
                if more is None:
                    break
                spec.replications = more
                store.update_manifest(replications=more)
        except FloatingPointError as exc:
            raise finite.overflow_error(label, exc, spec.overrides) from None
        finally:
            executor.close()
        store.finalize("partial", keep_parts=True)
        summary = write_summary(store, status="complete")
        plotted = write_plots(store)
        store.complete(finished=_now(), plots=sorted(p.name for p in plotted))
    except BaseException:
        _keep_partial(store)
        raise
    return summary


def _keep_partial(store: RunStore) -> None:
    """After an interruption or error: tables and summary of what is done, status partial.

    Best effort: when the disk is full or read-only these writes fail too, and the parts
    (which are what `--resume` needs) are already safe.
    """
    try:
        store.finalize("partial")
        store.update_manifest(finished=_now())
        if store.done():
            write_summary(store)
    except (OSError, ValueError):
        pass


def half_widths(kpis: pd.DataFrame, names) -> dict[str, float]:
    """Half-width of each named KPI's 95% interval (inf while it cannot be computed)."""
    s = summarize(kpis)
    out = {}
    for name in names:
        d = s["kpis"].get(name) or s["milestones"].get(name)
        lo, hi = d["ci95"] if d else (np.nan, np.nan)
        out[name] = (hi - lo) / 2 if np.isfinite([lo, hi]).all() else np.inf
    return out


def next_replications(spec: RunSpec, kpis: pd.DataFrame) -> int | None:
    """How many replications a precision-driven run needs next, or None when done.

    The half-width shrinks like 1/sqrt(n), so n * (width / target)^2 estimates the need;
    10% is added so that one more round is usually enough, growth is at most 4x a round,
    and the cap is respected.
    """
    if not spec.targets:
        return None
    n = len(kpis)
    cap = spec.max_replications or n
    widths = half_widths(kpis, spec.targets)
    ratios = [widths[k] / t for k, t in spec.targets.items()]
    if all(r <= 1 for r in ratios) or n >= cap:
        return None
    worst = max(ratios)
    want = n * 2 if not np.isfinite(worst) else int(np.ceil(n * worst**2 * 1.1))
    # Widths from few replications are noisy: grow at most 4x a round to avoid overshooting.
    want = min(want, 4 * n)
    return int(min(cap, max(want, n + max(2, spec.workers))))


def summarize(kpis: pd.DataFrame, horizon: tuple[float, float] | None = None) -> dict:
    """KPI estimates: {"kpis": {...}, "milestones": {...}} with 95% intervals.

    `horizon` (decimal years of the start and end) bounds first_adequate_date's interval.
    """
    out: dict = {"replications": int(len(kpis)), "kpis": {}, "milestones": {}}
    bounds = dict(KPI_BOUNDS)
    if horizon is not None:
        bounds["first_adequate_date"] = bounds["first_short_month"] = horizon
    for name in KPIS + MILESTONES:
        if name not in kpis:
            continue
        x = kpis[name].to_numpy(float)
        d = stats.describe(x)
        if name in BINARY_KPIS:
            p, lo, hi = stats.proportion_ci(int(np.nansum(x)), int(np.isfinite(x).sum()))
            d.update(mean=p, ci95=[lo, hi], interval="Wilson score")
            # Quantiles of a 0/1 outcome are 0 or 1: no interpolation between them.
            fin = x[np.isfinite(x)]
            if fin.size:
                d.update({f"p{q:02d}": float(np.percentile(fin, q, method="inverted_cdf"))
                          for q in (5, 50, 95)})
        if name in bounds and all(np.isfinite(d["ci95"])):
            lo, hi = bounds[name]
            d["ci95"] = [float(np.clip(v, lo, hi)) for v in d["ci95"]]
        if name in ("first_adequate_date", "first_short_month"):
            d["share_never"] = d["n_missing"] / max(1, x.size)
        d["unit"] = KPI_UNITS.get(name, "")
        out["milestones" if name in MILESTONES else "kpis"][name] = d
    by_cloud: dict = {}
    for col in kpis.columns:
        metric, sep, cloud = col.partition("__")
        if sep and metric in CLOUD_KPIS:
            d = stats.describe(kpis[col].to_numpy(float))
            if all(np.isfinite(d["ci95"])):  # all are amounts >= 0
                d["ci95"] = [max(0.0, float(v)) for v in d["ci95"]]
            d["unit"] = CLOUD_KPIS[metric]
            by_cloud.setdefault(cloud, {})[metric] = d
    if by_cloud:
        out["by_cloud"] = by_cloud
    return out


def _horizon(path: Path) -> tuple[float, float] | None:
    """(start, end) of a run's scenario in decimal years, or None if it cannot be read."""
    from capsim.models.scenario import ScenarioError

    try:
        meta = load(path)[0].scenario
    except (ScenarioError, OSError):
        return None
    return decimal_year(meta.start), decimal_year(meta.end)


def write_summary(store: RunStore, status: str | None = None) -> dict:
    """Compute and write summary.json from the run's kpis table.

    `status` is the one the run will have (default: the manifest's now).
    """
    m = store.manifest()
    kpis = store.read_kpis()
    summary = {"scenario": m["scenario"], "seed": m["seed"], "status": status or m["status"],
               **summarize(kpis, _horizon(store.path / "scenario.toml"))}
    if m.get("targets"):
        widths = half_widths(kpis, m["targets"])
        summary["targets"] = {k: {"half_width_wanted": t, "half_width": widths[k],
                                  "met": bool(widths[k] <= t)} for k, t in m["targets"].items()}
    scored = _history(store)
    if scored is not None:
        summary["history"] = scored
    store.write_json("summary.json", summary)
    return summary


def _history(store: RunStore) -> dict | None:
    """The run's history scored against the scenario's observations (None without them)."""
    from capsim.experiments.history import score_run

    if not (store.path / "timeseries.parquet").exists():
        return None
    return score_run(store, load(store.path / "scenario.toml")[0])


class _Weekly:
    """A run's daily series as (replications x periods) arrays, read one column at a time.

    The table can hold ~100 replications x 3,650 days x 90 columns: reading only the
    column at hand keeps memory to one column of daily values, whatever the table's width.
    Every replication covers the same dates (the run-directory contract).
    """

    def __init__(self, path: Path, step: int = 7):
        self.path, self.step = path, step
        self.columns = set(pq.read_schema(path).names)
        t = pq.read_table(path, columns=["replication", "date"])
        rep, day = t["replication"].to_numpy(), t["date"].to_numpy()
        self.order = np.lexsort((day, rep))
        self.replications = int(np.unique(rep).size)
        self.days = rep.size // max(1, self.replications)
        n = self.days // step * step
        self.daily_dates = day[self.order][:self.days].astype("datetime64[D]")
        self.dates = self.daily_dates[:n:step]

    def daily(self, col: str) -> np.ndarray:
        """(replications x days) of `col`."""
        x = pq.read_table(self.path, columns=[col])[col].to_numpy()
        return x[self.order].astype(float).reshape(self.replications, self.days)

    def weekly(self, x: str | np.ndarray) -> np.ndarray:
        """A column (name) or a daily matrix, averaged over blocks of `step` days."""
        x = self.daily(x) if isinstance(x, str) else x
        n = self.days // self.step * self.step
        return x[:, :n].reshape(x.shape[0], -1, self.step).mean(axis=2)

    def median(self, col: str) -> np.ndarray:
        """Median across replications of the weekly means of `col`."""
        return np.nanmedian(self.weekly(col), axis=0)


def _enabled(scenario: Scenario, w: _Weekly) -> tuple[dict[str, str], dict[str, str]]:
    """({cloud: label}, {generation: cloud}) of the enabled clouds the table has columns of."""
    clouds = {c: cl.label for c, cl in scenario.clouds.items()
              if cl.enabled and f"compute_tps__{c}" in w.columns}
    gens = {g: gen.cloud for g, gen in scenario.supply.generations.items()
            if gen.cloud in clouds and f"compute_tps__{g}" in w.columns}
    return clouds, gens


def _capacity_by_generation(w: _Weekly, scenario: Scenario, out: Path, tag: str) -> Path | None:
    clouds, gens = _enabled(scenario, w)
    if not gens:
        return None
    many = len(clouds) > 1
    layers = {(f"{g} ({clouds[c]})" if many else g): w.median(f"compute_tps__{g}") / 1e9
              for g, c in gens.items()}
    lines = {"Claude demand on the modelled clouds (median)": w.median("demand_tps") / 1e9,
             "serving capacity, all enabled clouds (median)": w.median("capacity_tps") / 1e9}
    return plots.stacked_area(
        out / "capacity_by_generation.png", w.dates, layers, lines,
        ylabel="billion reference tokens/s (weekly mean)",
        title=f"Installed compute by chip generation (medians), {tag}",
        colors=plots.grouped_colors(list(gens.values())),
        line_styles={"serving capacity, all enabled clouds (median)": "--"})


def _capacity_by_cloud(w: _Weekly, scenario: Scenario, out: Path, tag: str) -> Path | None:
    clouds, _ = _enabled(scenario, w)
    if not clouds:
        return None
    return plots.fan_chart(
        out / "capacity_by_cloud.png", w.dates,
        {label: w.weekly(f"compute_tps__{c}") for c, label in clouds.items()},
        ylabel="installed compute, reference tokens/s (weekly mean, log scale)", log=True,
        title=f"Installed compute by cloud (training and serving), {tag}")


CHIP_STATES = {"in_transit": "in transit", "waiting": "delivered, waiting for power",
               "installed": "installed", "failed": "failed (in repair)", "retired": "retired"}


def _chips_by_state(w: _Weekly, out: Path, tag: str) -> Path | None:
    cols = [f"chips_{st}" for st in CHIP_STATES] + ["chips_shipped"]
    if not set(cols) <= w.columns:
        return None
    layers = {label: w.median(f"chips_{st}") / 1e6 for st, label in CHIP_STATES.items()}
    p = plots.PALETTE
    return plots.stacked_area(
        out / "chips_by_state.png", w.dates, layers,
        {"shipped, cumulative (median)": w.median("chips_shipped") / 1e6},
        ylabel="million chips", title=f"Chips by state (medians), {tag}",
        colors=(p[0], p[1], p[2], p[3], p[5]), line_styles={"shipped, cumulative (median)": ":"})


def _spend_vs_commitment(w: _Weekly, scenario: Scenario, out: Path, tag: str) -> Path | None:
    clouds, _ = _enabled(scenario, w)
    clouds = {c: label for c, label in clouds.items() if f"spend_daily_usd__{c}" in w.columns}
    if not clouds:
        return None
    start = scenario.scenario.start
    panels, levels = {}, {}
    for c, label in clouds.items():
        cl = scenario.clouds[c]
        w0 = cl.commitment_start
        w1 = w0 + dt.timedelta(days=round(cl.commitment_years * 365.25))
        # Spend counts from the commitment's start (or the run's, if the window began earlier).
        before = w.daily_dates < np.datetime64(max(start, w0), "D")
        spend = w.daily(f"spend_daily_usd__{c}")
        spend[:, before] = 0.0
        cum = np.cumsum(spend, axis=1) / 1e9
        cum[:, before] = np.nan
        title = f"{label}: cumulative spend vs commitment"
        panels[title] = {f"spend since {max(start, w0):%Y-%m-%d}": w.weekly(cum)}
        note = f"; spend before {start} not in the run" if w0 < start else ""
        commit = cl.commitment_usd.base
        levels[title] = [plots.Level(f"commitment ${commit / 1e9:,.0f}B over {w0:%Y-%m} to "
                                     f"{w1:%Y-%m}{note}", commit / 1e9, w0, w1)] if commit else []
    return plots.fan_panels(
        out / "spend_vs_commitment.png", w.dates, panels, ylabel="$B (cumulative)",
        levels=levels, title=f"Cloud spend vs commitments, {tag}")


def _revenue(w: _Weekly, out: Path, tag: str) -> Path | None:
    if not {"run_rate_usd", "revenue_daily_usd", "lost_revenue_daily_usd"} <= w.columns:
        return None
    year = 365.25 / 1e9  # dollars per day -> $B per year
    panels = {
        "Revenue run-rate, Anthropic-wide (30-day)": {"run-rate": w.weekly("run_rate_usd") / 1e9},
        "Revenue on the modelled clouds: earned vs lost to unserved tokens": {
            "earned, per year": w.weekly("revenue_daily_usd") * year,
            "lost, per year (unserved demand)": w.weekly("lost_revenue_daily_usd") * year},
    }
    return plots.fan_panels(out / "revenue.png", w.dates, panels, ylabel="$B per year",
                            title=f"Revenue, {tag}")


def write_plots(store: RunStore, out: Path | None = None) -> list[Path]:
    """Draw the run's standard plots into `out` (default DIR/plots/)."""
    out = out if out is not None else store.path / "plots"
    out.mkdir(exist_ok=True)
    path = store.path / "timeseries.parquet"
    scenario = load(store.path / "scenario.toml")[0]
    # Weekly points are plenty for a ten-year picture and keep memory small.
    w = _Weekly(path, 7)
    name = store.manifest()["scenario"]
    tag = f"{name} ({w.replications} replications)"
    made = [plots.fan_chart(
        out / "fan_chart.png", w.dates,
        {"Claude demand on the modelled clouds": w.weekly("demand_tps"),
         "serving capacity with the training loan": w.weekly("capacity_tps"),
         **({"serving capacity without the loan": w.weekly("capacity_own_tps")}
            if "capacity_own_tps" in w.columns else {})},
        ylabel="reference tokens/s (weekly mean, log scale)", log=True,
        title=f"Capacity vs demand, {tag}")]
    made.append(plots.fan_chart(
        out / "stranded_chips.png", w.dates,
        {"chips delivered, waiting for powered space": w.weekly("chips_waiting")},
        ylabel="chips", title=f"Stranded chips: delivered but not yet placed, {tag}"))
    made.append(plots.fan_chart(
        out / "power.png", w.dates, {"energized (powered) MW": w.weekly("energized_mw"),
                                     "occupied by chips MW": w.weekly("occupied_mw")},
        ylabel="facility MW", title=f"Datacenter power: energized vs populated, {tag}"))
    # Each returns None when the table lacks its columns (a run from an older capsim).
    extra = (_capacity_by_generation(w, scenario, out, tag),
             _capacity_by_cloud(w, scenario, out, tag), _chips_by_state(w, out, tag),
             _spend_vs_commitment(w, scenario, out, tag), _revenue(w, out, tag))
    made += [p for p in extra if p is not None]
    cols = ["replication", "date", "demand_tps", "unserved_tps", "slo_hours"]
    ts = pq.read_table(path, columns=cols).to_pandas()
    ts["date"] = pd.to_datetime(ts["date"])
    # Monthly probability of a shortfall across replications.
    ts["month"] = ts["date"].dt.to_period("M").dt.to_timestamp()
    g = ts.groupby(["replication", "month"])[["demand_tps", "unserved_tps"]].sum()
    threshold = scenario.service.short_month_threshold
    short = (g["unserved_tps"] > threshold * g["demand_tps"]).unstack("month")
    n = short.shape[0]
    k = short.sum(axis=0).to_numpy()
    ci = np.array([stats.proportion_ci(int(x), n) for x in k])
    made.append(plots.share_over_time(
        out / "shortfall_probability.png", short.columns.to_numpy(), ci[:, 0], ci[:, 1], ci[:, 2],
        ylabel=f"P(more than {threshold:.0%} of the month's demand unserved)",
        title=f"Probability of a shortfall by month ({n} replications)"))
    # Monthly SLO: a month is breached when fewer hours than the target meet the SLO.
    target = scenario.service.slo_target_share.base
    gs = ts.groupby(["replication", "month"])["slo_hours"].agg(["sum", "count"])
    breach = (gs["sum"] < target * 24 * gs["count"]).unstack("month")
    kb = breach.sum(axis=0).to_numpy()
    cb = np.array([stats.proportion_ci(int(x), n) for x in kb])
    made.append(plots.share_over_time(
        out / "slo_breach_probability.png", breach.columns.to_numpy(), cb[:, 0], cb[:, 1], cb[:, 2],
        ylabel=f"P(< {target:.0%} of hours meet the SLO)",
        title=f"Probability of an SLO breach by month ({n} replications)", color=plots.PALETTE[4]))
    # SLO heatmap: mean share of hours meeting the SLO, by year and calendar month.
    ts["year"] = ts["date"].dt.year
    ts["mon"] = ts["date"].dt.month
    grid = (ts.groupby(["year", "mon"])["slo_hours"].mean() / 24).unstack("mon")
    made.append(plots.heatmap(
        out / "slo_heatmap.png", grid.to_numpy(), list(grid.index), list(grid.columns),
        title=f"Share of hours meeting the SLO by month (mean of {n} replications)",
        label="share of hours"))
    kp = store.read_kpis()
    made.append(plots.ecdf_grid(out / "kpi_ecdf.png",
                                {c: kp[c].to_numpy() for c in KPIS + MILESTONES if c in kp},
                                title="KPI distributions across replications (ECDF)"))
    return made


def load_spec_from_run(path: Path, workers: int, executor: str, scheduler: str | None,
                       progress: bool | None) -> RunSpec:
    """The RunSpec recorded in an existing run directory (for --resume)."""
    store = RunStore.open(path)
    m = store.manifest()
    scenario, text = load(path / "scenario.toml")
    if sha256(text) != m.get("scenario_sha256"):
        from capsim.models.scenario import ScenarioError

        raise ScenarioError(str(path / "scenario.toml"),
                            ["differs from the scenario this run started with (sha256 mismatch)"])
    return RunSpec(scenario, text, int(m["replications"]), int(m["seed"]), workers, executor,
                   scheduler, tuple(m.get("overrides", [])), progress,
                   dict(m.get("targets") or {}), m.get("max_replications"))
