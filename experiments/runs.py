"""Run pipeline shared by the CLI and experiment scripts: run -> store -> summary -> plots."""

from __future__ import annotations

import datetime as dt
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from models.capacity import BINARY_KPIS, KPIS, MILESTONES, CapacityModel
from models.scenario import Scenario, load, sha256
from simcore import plots, stats
from simcore.clock import Clock
from simcore.executors import make_executor
from simcore.montecarlo import replicate
from simcore.store import RunStore

KPI_BOUNDS = {
    "p_shortfall_any": (0.0, 1.0),
    "unserved_fraction": (0.0, 1.0),
    "slo_attainment": (0.0, 1.0),
    "stranded_chip_months": (0.0, np.inf),
    "aws_spend_10y_usd": (0.0, np.inf),
    "customers_throttled_peak": (0.0, np.inf),
    "p99_latency_s": (0.0, np.inf),
    "trainium_gw_2026_12_31": (0.0, np.inf),
}
"""Natural bounds: a t-interval on few replications is clipped to them."""

KPI_UNITS = {
    "p_shortfall_any": "probability",
    "unserved_fraction": "share of tokens",
    "slo_attainment": "share of hours",
    "first_adequate_date": "decimal year",
    "stranded_chip_months": "chip-months",
    "aws_spend_10y_usd": "USD",
    "customers_throttled_peak": "customers",
    "p99_latency_s": "seconds",
    "trainium_gw_2026_12_31": "GW facility",
}


def format_value(v: float | None, unit: str = "") -> str:
    """A KPI value for people: dollars in billions, decimal years, thousands separators."""
    if v is None or v != v:
        return "-"
    if unit == "USD":
        return f"${v / 1e9:,.1f}B"
    if unit == "decimal year":
        return f"{v:.2f}"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:,.2f}"


def version() -> str:
    """capsim's installed version (or 'dev' when run from a source tree)."""
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

    On Ctrl-C (or any error) the finished replications are kept, the tables are built
    from them, and the manifest says "partial". Returns the summary of a complete run.
    """
    clock = Clock.between(spec.scenario.scenario.start, spec.scenario.scenario.end)
    executor = make_executor(spec.executor, spec.workers, spec.scheduler)
    try:
        while True:
            replicate(CapacityModel, spec.scenario, replications=spec.replications,
                      seed=spec.seed, dates=clock.dates(), store=store, executor=executor,
                      skip=store.done(), progress=spec.progress)
            more = next_replications(spec, store.read_kpis())
            if more is None:
                break
            spec.replications = more
            store.update_manifest(replications=more)
    except BaseException:
        store.finalize("partial")
        store.update_manifest(finished=_now())
        if store.done():
            write_summary(store)
        raise
    finally:
        executor.close()
    store.finalize("complete")
    store.update_manifest(finished=_now())
    summary = write_summary(store)
    write_plots(store)
    return summary


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


def summarize(kpis: pd.DataFrame) -> dict:
    """KPI estimates: {"kpis": {...}, "milestones": {...}} with 95% intervals."""
    out: dict = {"replications": int(len(kpis)), "kpis": {}, "milestones": {}}
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
        if name in KPI_BOUNDS and all(np.isfinite(d["ci95"])):
            lo, hi = KPI_BOUNDS[name]
            d["ci95"] = [float(np.clip(v, lo, hi)) for v in d["ci95"]]
        if name == "first_adequate_date":
            d["share_never"] = d["n_missing"] / max(1, x.size)
        d["unit"] = KPI_UNITS.get(name, "")
        out["milestones" if name in MILESTONES else "kpis"][name] = d
    return out


def write_summary(store: RunStore) -> dict:
    """Compute and write summary.json from the run's kpis table."""
    m = store.manifest()
    kpis = store.read_kpis()
    summary = {"scenario": m["scenario"], "seed": m["seed"], "status": m["status"],
               **summarize(kpis)}
    if m.get("targets"):
        widths = half_widths(kpis, m["targets"])
        summary["targets"] = {k: {"half_width_wanted": t, "half_width": widths[k],
                                  "met": bool(widths[k] <= t)} for k, t in m["targets"].items()}
    store.write_json("summary.json", summary)
    return summary


def _matrix(ts: pd.DataFrame, col: str, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(dates, replications x periods) of `col`, averaged over blocks of `step` days."""
    wide = ts.pivot(index="replication", columns="date", values=col)
    x = wide.to_numpy(float)
    n = x.shape[1] // step * step
    blocks = x[:, :n].reshape(x.shape[0], -1, step).mean(axis=2)
    return wide.columns.to_numpy()[:n:step], blocks


def write_plots(store: RunStore) -> list[Path]:
    """Draw the run's standard plots into DIR/plots/."""
    out = store.path / "plots"
    out.mkdir(exist_ok=True)
    cols = ["replication", "date", "demand_tps", "capacity_tps", "served_tps",
            "energized_mw", "occupied_mw", "unserved_tps", "slo_hours", "chips_waiting"]
    ts = pq.read_table(store.path / "timeseries.parquet", columns=cols).to_pandas()
    ts["date"] = pd.to_datetime(ts["date"])
    made = []
    # Weekly points are plenty for a ten-year picture and keep memory small.
    d, demand = _matrix(ts, "demand_tps", 7)
    _, cap = _matrix(ts, "capacity_tps", 7)
    name = store.manifest()["scenario"]
    made.append(plots.fan_chart(
        out / "fan_chart.png", d, {"Claude demand on AWS": demand,
                                   "Trainium serving capacity": cap},
        ylabel="reference tokens/s (daily mean, log scale)", log=True,
        title=f"Capacity vs demand, {name} ({demand.shape[0]} replications)"))
    _, waiting = _matrix(ts, "chips_waiting", 7)
    made.append(plots.fan_chart(
        out / "stranded_chips.png", d, {"chips delivered, waiting for powered space": waiting},
        ylabel="chips", title="Stranded chips: delivered but not yet placed"))
    _, en = _matrix(ts, "energized_mw", 7)
    _, occ = _matrix(ts, "occupied_mw", 7)
    made.append(plots.fan_chart(
        out / "power.png", d, {"energized (powered) MW": en, "occupied by chips MW": occ},
        ylabel="facility MW", title="Datacenter power: energized vs populated"))
    # Monthly probability of a shortfall across replications.
    ts["month"] = ts["date"].dt.to_period("M").dt.to_timestamp()
    g = ts.groupby(["replication", "month"])[["demand_tps", "unserved_tps"]].sum()
    short = (g["unserved_tps"] > 1e-9 * g["demand_tps"]).unstack("month")
    n = short.shape[0]
    k = short.sum(axis=0).to_numpy()
    ci = np.array([stats.proportion_ci(int(x), n) for x in k])
    made.append(plots.share_over_time(
        out / "shortfall_probability.png", short.columns.to_numpy(), ci[:, 0], ci[:, 1], ci[:, 2],
        ylabel="P(demand not fully served in month)",
        title=f"Probability of a shortfall by month ({n} replications)"))
    # Monthly SLO: a month is breached when fewer hours than the target meet the SLO.
    from models.scenario import load

    target = load(store.path / "scenario.toml")[0].service.slo_target_share.base
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
        from models.scenario import ScenarioError

        raise ScenarioError(str(path / "scenario.toml"),
                            ["differs from the scenario this run started with (sha256 mismatch)"])
    return RunSpec(scenario, text, int(m["replications"]), int(m["seed"]), workers, executor,
                   scheduler, tuple(m.get("overrides", [])), progress,
                   dict(m.get("targets") or {}), m.get("max_replications"))
