"""capsim's Python API: load a scenario, run it, open a run directory, compare, sweep.

The command line (`capsim run`, `capsim compare`, ...) and the experiment scripts are thin
layers over these functions, so a notebook and the shell do the same thing the same way::

    import capsim

    sc = capsim.load(overrides=["demand.growth_multiplier=1.5"])
    run = capsim.run(sc, replications=8, seed=2026)
    run.kpis["unserved_fraction"].describe()
    base = capsim.run(replications=8, seed=2026)
    capsim.compare(base, run).table()
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from capsim.models.scenario import Scenario, ScenarioError, to_toml
from capsim.models.scenario import load as _load
from capsim.simcore.store import RunStore, StoreError, is_run_dir

__all__ = ["Comparison", "Run", "Scenario", "ScenarioError", "StoreError", "calibrate",
           "compare", "global_sensitivity", "load", "open_run", "plan", "run", "sensitivity",
           "sweep"]

DEFAULT_REPLICATIONS = 100
"""Replications of `capsim run` when none are given (~1 minute on 2 cores)."""
DEFAULT_SEED = 2026
"""Root seed when none is given."""


def load(scenario: str | os.PathLike[str] | Scenario | None = None,
         overrides: Sequence[str] = ()) -> Scenario:
    """A validated scenario: an embedded name, a TOML path, or None for the default.

    `overrides` are `key=value` strings, as `capsim run --set` takes them. A `Scenario`
    passed in is returned as it is (with overrides applied to its resolved TOML).

    Raises:
        ScenarioError: naming the file, the key and what is wrong.
    """
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        return _from_text(scenario, overrides)
    return _load(None if scenario is None else str(scenario), list(overrides))[0]


def _from_text(scenario: Scenario, overrides: Sequence[str]) -> Scenario:
    from capsim.models.scenario import apply_overrides, parse_toml, validate_dict

    label = f"<scenario {scenario.name}>"
    data = apply_overrides(label, parse_toml(label, to_toml(scenario)), list(overrides))
    return validate_dict(label, data)


@dataclass
class Run:
    """A run directory opened for reading: tables as pandas, the summary as a dict.

    Tables are read when first asked for and then kept.
    """

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not is_run_dir(self.path):
            raise StoreError(f"{self.path}: not a capsim run directory (no readable manifest.json)")

    def __repr__(self) -> str:
        m = self.manifest
        return (f"Run({str(self.path)!r}, scenario={m.get('scenario')!r}, seed={m.get('seed')}, "
                f"replications={m.get('replications_done')}, status={m.get('status')!r})")

    @property
    def manifest(self) -> dict[str, Any]:
        """manifest.json: versions, seed, replications done, status."""
        return json.loads((self.path / "manifest.json").read_text())

    @property
    def status(self) -> str:
        """"complete" or "partial"."""
        return str(self.manifest.get("status"))

    @property
    def seed(self) -> int:
        """The run's root seed."""
        return int(self.manifest["seed"])

    @cached_property
    def summary(self) -> dict[str, Any]:
        """summary.json: KPI estimates with 95% intervals."""
        return json.loads((self.path / "summary.json").read_text())

    @cached_property
    def kpis(self) -> pd.DataFrame:
        """One row per replication, indexed by replication."""
        return pd.read_parquet(self.path / "kpis.parquet").set_index("replication").sort_index()

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """One row per (replication, date): daily series."""
        return RunStore(self.path).read_timeseries()

    def series(self, *columns: str) -> pd.DataFrame:
        """Only some columns of the daily series (with replication and date): cheaper."""
        cols = ["replication", "date", *[c for c in columns if c not in ("replication", "date")]]
        return RunStore(self.path).read_timeseries(cols)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event log: power-ons, tranches, orders, surges."""
        return RunStore(self.path).read_events()

    @cached_property
    def scenario(self) -> Scenario:
        """The fully resolved scenario that ran."""
        return _load(self.path / "scenario.toml")[0]

    @property
    def plots(self) -> list[Path]:
        """The plot files of the run, sorted by name."""
        return sorted((self.path / "plots").glob("*.*"))

    def kpi(self, name: str) -> dict[str, Any]:
        """One KPI's estimate from the summary (mean, ci95, p05, p50, p95, unit)."""
        s = self.summary
        for section in ("kpis", "milestones"):
            if name in s.get(section, {}):
                return dict(s[section][name])
        raise KeyError(f"no KPI {name!r} in {self.path}/summary.json")

    def report(self, out: str | os.PathLike[str] | None = None,
               sensitivity: str | os.PathLike[str] | None = None) -> Path:
        """Write the self-contained HTML report (default DIR/report.html).

        `sensitivity`: a sweep directory (or its sensitivity_<kpi>.json) whose three
        strongest drivers the report's answer names.
        """
        from capsim.experiments.pipelines import report

        return report.write(self.path, None if out is None else Path(out),
                            None if sensitivity is None else Path(sensitivity))

    def plot(self, fmt: str = "png", dpi: int = 150) -> list[Path]:
        """Redraw the run's plots into DIR/plots/ as png or svg files."""
        from capsim.experiments.pipelines.figures import write_plots

        return write_plots(RunStore.open(self.path), fmt, dpi)


def open_run(path: str | os.PathLike[str]) -> Run:
    """Open an existing run directory for reading.

    Raises:
        StoreError: the directory holds no capsim run.
    """
    return Run(Path(path))


def run(scenario: str | os.PathLike[str] | Scenario | None = None, *,
        replications: int = DEFAULT_REPLICATIONS, seed: int = DEFAULT_SEED,
        workers: int | None = None, executor: str = "processes", scheduler: str | None = None,
        out: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
        force: bool = False, progress: bool | None = None,
        targets: dict[str, float] | None = None, max_replications: int | None = None) -> Run:
    """Run a scenario's Monte Carlo replications into a run directory and open it.

    Args:
        scenario: embedded name, TOML path, a loaded `Scenario`, or None for the default.
        replications: how many (each its own seeded streams).
        seed: root seed; the same seed gives the same results on any executor.
        workers: parallel workers (default: all cores; 1 with executor "serial").
        executor: "serial", "processes" or "dask".
        scheduler: a dask scheduler address (with executor "dask").
        out: run directory (default: a new temporary directory).
        overrides: `key=value` changes to the scenario, as `--set`.
        force: replace an existing capsim run directory at `out`.
        progress: progress bar on stderr (None: when a terminal is attached).
        targets: KPI -> wanted 95% interval half-width (adds replications until met).
        max_replications: cap for `targets`.

    Returns:
        The finished run, opened.

    Raises:
        ScenarioError: bad scenario or overrides.
        StoreError: `out` cannot be used.
    """
    from capsim.experiments.pipelines import runs

    sc = load(scenario, overrides)
    text = to_toml(sc)
    if replications < 1:
        raise ValueError(f"replications(={replications}) must be >= 1")
    if executor == "serial":
        workers = 1
    spec = runs.RunSpec(sc, text, replications, seed, workers or os.cpu_count() or 1, executor,
                        scheduler, tuple(overrides), progress, targets,
                        max(max_replications or replications, replications) if targets else None)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix=f"capsim-{sc.name}-"))
    store = RunStore.create(path, runs.manifest_for(spec), force=force)
    try:
        store.write_text("scenario.toml", text)
        runs.execute(spec, store)
    finally:
        store.unlock()
    return Run(path)


def _path_of(r: Run | str | os.PathLike[str]) -> Path:
    return r.path if isinstance(r, Run) else Path(r)


@dataclass
class Comparison:
    """Run B against run A, KPI by KPI (B - A); paired when seeds and replications match."""

    a: Path
    b: Path
    data: dict[str, Any] = field(repr=False)

    @property
    def paired(self) -> bool:
        """True when the two runs share seed and replications (common random numbers)."""
        return bool(self.data["paired"])

    def frame(self) -> pd.DataFrame:
        """One row per KPI: means, difference, its 95% interval, p-value."""
        rows = []
        for name, r in self.data["kpis"].items():
            lo, hi = r["diff_ci95"]
            rows.append({"kpi": name, "a_mean": r["a_mean"], "b_mean": r["b_mean"],
                         "diff_mean": r["diff_mean"], "diff_lo": lo, "diff_hi": hi,
                         "p_value": r["p_value"], "unit": r.get("unit", "")})
        return pd.DataFrame(rows).set_index("kpi")

    def table(self) -> str:
        """The plain-text table `capsim compare` prints."""
        from capsim.experiments.pipelines import compare as _compare

        return _compare.table(self.data)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Overlay of both runs' demand and capacity fans and the unserved difference."""
        from capsim.experiments.pipelines import compare as _compare

        return _compare.plot(self.data, Path(path))


def compare(a: Run | str | os.PathLike[str], b: Run | str | os.PathLike[str]) -> Comparison:
    """Compare run B against run A (paired when they share seed and replications)."""
    from capsim.experiments.pipelines import compare as _compare

    pa_, pb_ = _path_of(a), _path_of(b)
    return Comparison(pa_, pb_, _compare.compare_runs(pa_, pb_))


def sweep(params: dict[str, tuple[float, float]], scenario: str | os.PathLike[str] | None = None,
          *, samples: int = 32, method: str = "lhs", replications: int = 4,
          seed: int = DEFAULT_SEED, workers: int | None = None,
          out: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
          force: bool = False) -> pd.DataFrame:
    """Sample scenario inputs over ranges ({key: (low, high)}) and run each point.

    Every point runs the same replication seeds (common random numbers). Returns the
    table written to OUT/sweep.parquet: one row per point and replication.
    """
    from capsim.experiments.pipelines import sweep as _sweep

    name = None if scenario is None else str(scenario)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-sweep-"))
    return _sweep.run_sweep(name, list(overrides), dict(params), samples, method, replications,
                            seed, workers or os.cpu_count() or 1, path, force=force)


def sensitivity(sweep_dir: str | os.PathLike[str], kpi: str = "unserved_fraction",
                bootstrap: int = 200) -> dict[str, Any]:
    """Rank a sweep's inputs by partial rank correlation with `kpi` (bootstrap intervals)."""
    from capsim.experiments.pipelines import sweep as _sweep

    res = _sweep.analyse(Path(sweep_dir), kpi, bootstrap)
    return {k: v for k, v in res.items() if k not in ("x", "y", "bad")}



def calibrate(scenario: str | os.PathLike[str] | Scenario | None = None, *,
              out: str | os.PathLike[str] | None = None,
              observations: str | os.PathLike[str] | None = None,
              holdout_after: str | dt.date | None = None, points: int | None = None,
              seed: int = DEFAULT_SEED, workers: int | None = None, cutoff: float = 3.0,
              overrides: Sequence[str] = (), progress: bool | None = None,
              reuse: str | os.PathLike[str] | None = None,
              discrepancy: float = 0.1) -> dict[str, Any]:
    """Condition a scenario's uncertain inputs on its observations (history matching).

    Writes OUT (default: a new temporary directory): posterior.parquet, fit.csv,
    summary.json and plots/. `capsim.run(..., overrides=[f'scenario.posterior="{OUT}"'])`
    (or `capsim run --posterior OUT`) then forecasts from the posterior.

    Args:
        scenario: embedded name, TOML path, a loaded `Scenario`, or None for the default.
        out: directory to write.
        observations: an observation file (default: the scenario's own).
        holdout_after: fit only observations up to this date; report the rest out of sample.
        points: design points, one simulation of the history window each.
        seed: seed of the design and of the simulations.
        workers: parallel processes (default: all cores).
        cutoff: implausibility cut-off.
        overrides: `key=value` changes to the scenario, as `--set`.
        progress: progress bar on stderr (None: when a terminal is attached).
        reuse: an earlier calibration directory whose simulated design is matched again
            (same scenario, observations, seed and points), e.g. with a holdout.
        discrepancy: model-discrepancy sd on the log scale.

    Returns:
        The calibration summary (as summary.json), with `out` added.
    """
    from capsim.experiments.pipelines import calibrate as _cal

    sc = load(scenario, overrides)
    if isinstance(holdout_after, str):
        holdout_after = dt.date.fromisoformat(holdout_after)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-calibrate-"))
    summary = _cal.calibrate(sc, out=path, observations=None if observations is None
                             else Path(observations), holdout_after=holdout_after,
                             points=points or _cal.DEFAULT_POINTS, seed=seed,
                             workers=workers or os.cpu_count() or 1, cutoff=cutoff,
                             progress=progress, reuse=None if reuse is None else Path(reuse),
                             discrepancy=discrepancy)
    return {**summary, "out": str(path)}


def plan(scenario: str | os.PathLike[str] | None = None, *, max_shortfall: float = 0.10,
         objective: str = "spend", budget: int = 40, seed: int = DEFAULT_SEED,
         workers: int | None = None, out: str | os.PathLike[str] | None = None,
         overrides: Sequence[str] = (), force: bool = False, progress: bool | None = None,
         **settings: Any) -> dict[str, Any]:
    """Search the scenario's `[levers]` for the cheapest plan with P(short month) <= max_shortfall.

    `objective` is "spend", "spend_plus_lost" or "stranded". Other `settings` are fields
    of `capsim.experiments.pipelines.plan.PlanSpec` (reps, max_reps, check_reps, threshold,
    window, robust, states, executor). Returns plan.json as a dict; `out` (default: a new
    temporary directory) holds plan.toml, schedule.csv, candidates.parquet, plots/pareto.png
    and the fresh-seed check runs. An unfinished `out` is resumed.

    Raises:
        ScenarioError: bad scenario, overrides, levers or settings.
    """
    from capsim.experiments.pipelines import plan as _plan

    spec = _plan.PlanSpec(None if scenario is None else str(scenario), list(overrides),
                          max_shortfall, objective, budget, seed,
                          workers=workers or os.cpu_count() or 1, progress=progress, **settings)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-plan-"))
    return _plan.plan(spec, path, force=force)


def global_sensitivity(scenario: str | os.PathLike[str] | None = None, *, method: str = "sobol",
                       params: Sequence[str] = (), samples: int | None = None,
                       replications: int = 1, seed: int = DEFAULT_SEED,
                       workers: int | None = None, executor: str = "processes",
                       out: str | os.PathLike[str] | None = None,
                       overrides: Sequence[str] = (), kpis: Sequence[str] | None = None,
                       force: bool = False, progress: bool | None = None) -> dict[str, Any]:
    """Sobol' or Morris indices of KPIs over the scenario's uncertain inputs (all, or `params`).

    As `capsim sensitivity --method sobol|morris`. An unfinished `out` is resumed. Returns
    sensitivity.json as a dict.
    """
    from capsim.experiments.pipelines import sensitivity as _gsa

    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-gsa-"))
    if not (path / "design.parquet").exists() or force:
        name = None if scenario is None else str(scenario)
        _gsa.start(name, list(overrides), method, list(params), samples, replications, seed,
                   path, list(kpis) if kpis else None, force=force).unlock()
    return _gsa.resume(path, workers or os.cpu_count() or 1, executor, progress)
