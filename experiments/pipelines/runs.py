"""Run pipeline shared by the CLI and experiment scripts: run -> store -> summary -> plots."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from capsim.experiments.pipelines.figure_index import plot_files
from capsim.experiments.pipelines.kpi_text import format_value  # noqa: F401 (read here)
from capsim.models import kpis as registry
from capsim.models.capacity import BINARY_KPIS, CLOUD_KPIS, KPIS, MILESTONES, CapacityModel
from capsim.models.posterior import describe as describe_posterior
from capsim.models.posterior import posterior_draws
from capsim.models.scenario import Scenario, load, sha256
from capsim.simcore import stats
from capsim.simcore.clock import Clock, decimal_year
from capsim.simcore.executors import make_executor
from capsim.simcore.montecarlo import replicate
from capsim.simcore.store import DamagedPart, RunStore, StoreError

log = logging.getLogger(__name__)

KPI_BOUNDS = {n: m.bounds for n, m in {**registry.KPIS, **registry.CLOUD_KPIS}.items()}
"""Natural bounds (from the registry): a t-interval on few replications is clipped to them."""

KPI_UNITS = {n: m.unit for n, m in registry.KPIS.items()}
"""Units of the KPIs (from the registry, `capsim.models.kpis`)."""


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
    series: list[str] | None = None  # the series kept (see pipelines.series); None: all


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
        "inputs": describe_posterior(spec.scenario),
        "series": spec.series,
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
    from capsim.experiments.pipelines import finite

    clock = Clock.between(spec.scenario.scenario.start, spec.scenario.scenario.end)
    label = spec.scenario.name
    check = functools.partial(finite.check_result, label=label, overrides=spec.overrides)
    posterior_draws(spec.scenario)  # a bad posterior fails here (exit 2), before any worker
    executor = make_executor(spec.executor, spec.workers, spec.scheduler)
    log.debug("capsim: %s: %s to %s, executor %s with %d worker(s), overrides: %s", label,
              spec.scenario.scenario.start, spec.scenario.scenario.end, spec.executor,
              spec.workers, " ".join(spec.overrides) or "none")
    t0 = time.perf_counter()
    try:
        rerun: set[int] = set()
        try:
            while True:
                replicate(CapacityModel, spec.scenario, replications=spec.replications,
                          seed=spec.seed, dates=clock.dates(), store=store, executor=executor,
                          skip=store.done(), progress=spec.progress, check=check,
                          describe=registry.describe)
                more = next_replications(spec, store.read_kpis())
                if more is not None:
                    spec.replications = more
                    store.update_manifest(replications=more)
                elif _joined(store, rerun):
                    break
        except FloatingPointError as exc:
            raise finite.overflow_error(label, exc, spec.overrides) from None
        finally:
            executor.close()
        t1 = time.perf_counter()
        summary = write_summary(store, status="complete")
        t2 = time.perf_counter()
        plotted = write_plots(store)
        log.debug("capsim: %d replications in %.1f s, tables and summary in %.1f s, %d plots "
                  "in %.1f s", summary.get("replications", 0), t1 - t0, t2 - t1, len(plotted),
                  time.perf_counter() - t2)
        store.complete(finished=_now(), plots=plot_files(plotted))
    except BaseException:
        _keep_partial(store)
        raise
    return summary


def _joined(store: RunStore, rerun: set[int]) -> bool:
    """Join the parts into the tables; False when a damaged part must run again first.

    A part found damaged by the join (bytes changed on disk) is deleted and its
    replication runs again, once; damaged a second time, the run stops (exit 2).
    """
    try:
        store.finalize("partial", keep_parts=True)
    except DamagedPart as exc:
        if exc.replication in rerun:
            raise StoreError(f"{exc}; damaged again after running it again (is the disk "
                             "failing?)") from None
        rerun.add(exc.replication)
        print(f"capsim: {exc}; replication {exc.replication} runs again", file=sys.stderr)
        store.discard(exc.replication)
        return False
    return True


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
    except (OSError, ValueError, StoreError):
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

    `horizon` (decimal years of the start and end) bounds the dates' intervals.
    """
    out: dict = {"replications": int(len(kpis)), "kpis": {}, "milestones": {}}
    bounds = dict(KPI_BOUNDS)
    if horizon is not None:
        bounds["first_adequate_date"] = bounds["first_short_month"] = horizon
        bounds["sustained_adequacy_date"] = horizon
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
        if name in ("first_adequate_date", "first_short_month", "sustained_adequacy_date"):
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
    from capsim.experiments.pipelines.history import score_run

    if not (store.path / "timeseries.parquet").exists():
        return None
    return score_run(store, load(store.path / "scenario.toml")[0])


def write_plots(store: RunStore, out: Path | None = None, fmt: str = "png",
                dpi: int = 150) -> list[Path]:
    """Draw the run's standard plots into `out` (default DIR/plots/; see pipelines/figures.py)."""
    from capsim.experiments.pipelines.figures import write_plots as _write

    return _write(store, fmt, dpi, out)


def load_spec_from_run(path: Path, workers: int, executor: str, scheduler: str | None,
                       progress: bool | None) -> RunSpec:
    """The RunSpec recorded in an existing run directory (for --resume)."""
    from capsim.models.scenario import ScenarioError

    store = RunStore.open(path)
    m = store.manifest()
    fields = _manifest_fields(path, m)
    if not (path / "scenario.toml").is_file():
        raise StoreError(f"{path}: has no scenario.toml, so the run cannot be resumed; "
                         "start it again with --force")
    scenario, text = load(path / "scenario.toml")
    if sha256(text) != m.get("scenario_sha256"):
        raise ScenarioError(str(path / "scenario.toml"),
                            ["differs from the scenario this run started with (sha256 mismatch)"])
    return RunSpec(scenario, text, fields["replications"], fields["seed"], workers, executor,
                   scheduler, fields["overrides"], progress, fields["targets"],
                   fields["max_replications"])


def _manifest_fields(path: Path, m: dict) -> dict:
    """The manifest's fields a resume needs, checked (a damaged one is a StoreError)."""
    def bad(key: str, want: str) -> StoreError:
        return StoreError(f"{path / 'manifest.json'}: {key} is {m.get(key)!r}, not {want}; "
                          "the manifest is damaged (start the run again with --force)")

    out: dict = {}
    for key in ("replications", "seed"):
        v = m.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "replications"
                                                                   else 0):
            raise bad(key, "a whole number" + (" >= 1" if key == "replications" else " >= 0"))
        out[key] = v
    over = m.get("overrides", [])
    if not isinstance(over, list) or not all(isinstance(o, str) for o in over):
        raise bad("overrides", "a list of KEY=VALUE texts")
    out["overrides"] = tuple(over)
    targets = m.get("targets") or {}
    if not isinstance(targets, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0
            for v in targets.values()):
        raise bad("targets", "a table of KPI names and half-widths > 0")
    out["targets"] = dict(targets)
    cap = m.get("max_replications")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise bad("max_replications", "a whole number >= 1 or null")
    out["max_replications"] = cap
    return out
