"""capsim's Python API: load a scenario, run it, open a run directory, compare, sweep.

The command line (`capsim run`, `capsim compare`, ...) and the experiment scripts are thin
layers over these functions, so a notebook and the shell do the same thing the same way
(the same defaults and checks, from `capsim.experiments.pipelines.checks`)::

    import capsim

    sc = capsim.load(overrides=["demand.growth_multiplier=1.5"])
    run = capsim.run(sc, replications=8, seed=2026)
    run.kpis["unserved_fraction"].describe()
    base = capsim.run(replications=8, seed=2026)
    capsim.compare(base, run).table()
"""

from __future__ import annotations

import atexit
import datetime as dt
import html
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from capsim.experiments.pipelines import checks, rundir
from capsim.experiments.pipelines.checks import (
    DEFAULT_MAX_REPLICATIONS,
    DEFAULT_REPLICATIONS,
    DEFAULT_SEED,
    UsageError,
)
from capsim.experiments.pipelines.launch import Started
from capsim.experiments.pipelines.rundir import Run, plot, report
from capsim.models.scenario import Scenario, ScenarioError
from capsim.simcore.store import StoreError

__all__ = ["DEFAULT_MAX_REPLICATIONS", "DEFAULT_REPLICATIONS", "DEFAULT_SEED", "Comparison",
           "Run", "Scenario", "ScenarioError", "Started", "StoreError", "Sweep", "UsageError",
           "backtest", "calibrate", "compare", "global_sensitivity", "grouped_sensitivity",
           "load", "open_run", "plan", "plot", "report", "resume", "run", "scenarios",
           "sensitivity", "sweep", "value_of_information"]


def load(scenario: str | os.PathLike[str] | Scenario | None = None,
         overrides: Sequence[str] = ()) -> Scenario:
    """A validated scenario: an embedded name, a TOML path, or None for the default.

    `overrides` are `key=value` strings, as `capsim run --set` takes them. A `Scenario`
    passed in is returned as it is (with overrides applied to its resolved TOML).

    Raises:
        ScenarioError: naming the file, the key and what is wrong.
    """
    from capsim.experiments.pipelines.launch import scenario_of

    return scenario_of(scenario, overrides)


def scenarios() -> list[str]:
    """The names of the embedded scenarios, sorted (`load(name)` loads one)."""
    from capsim.models.scenario import embedded_names

    return embedded_names()


def open_run(path: str | os.PathLike[str]) -> Run:
    """Open an existing run directory for reading.

    Raises:
        StoreError: the directory holds no capsim run (or `path` is not a path).
    """
    if not isinstance(path, str | os.PathLike):
        raise StoreError(f"open_run: a run directory's path is a str or os.PathLike, got "
                         f"{path!r}")
    return Run(Path(path))


def run(scenario: str | os.PathLike[str] | Scenario | None = None, *,
        replications: int = DEFAULT_REPLICATIONS, seed: int = DEFAULT_SEED,
        workers: int | None = None, executor: str = "processes", scheduler: str | None = None,
        out: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
        force: bool = False, progress: bool | None = None,
        targets: dict[str, float] | None = None, max_replications: int | None = None,
        posterior: str | os.PathLike[str] | None = None, prior: bool = False,
        on_start: Callable[[Started], None] | None = None, keep: bool = False,
        series: str | Sequence[str] | None = None) -> Run:
    """Run a scenario's Monte Carlo replications into a run directory and open it.

    Without `out` the run goes to a new temporary directory that is removed when a
    `with capsim.run(...) as run:` block ends, or when the Python process exits, unless
    `keep=True` (a run with `out` is always kept).

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
        max_replications: cap for `targets` (default DEFAULT_MAX_REPLICATIONS, or
            `replications` if that is larger).
        posterior: draw the uncertain inputs from a calibration's posterior (its
            directory or posterior.parquet), as `--posterior`. Without it a scenario
            that names a posterior (the default does: the one shipped with capsim)
            draws from that.
        prior: draw the uncertain inputs from the priors instead, as `--prior`.
        on_start: called once the run directory is made, before the first replication.
        keep: keep the temporary directory of a run without `out`.
        series: the daily series timeseries.parquet keeps: None or "all" (every one),
            "essential" (those the run's plots, report and history read), or a list of
            names kept with the essential ones (a name keeps its per-group columns).

    Returns:
        The finished run, opened.

    Raises:
        ScenarioError: bad scenario or overrides, or more memory than `workers` get.
        UsageError: an argument of the wrong type or out of range (named); a cap without
            targets or below `replications`; dask not installed.
        StoreError: `out` cannot be used.
    """
    from capsim.experiments.pipelines import launch

    path, summary = launch.run(
        scenario, replications=replications, seed=seed, workers=workers, executor=executor,
        scheduler=scheduler, out=out, overrides=overrides, force=force, progress=progress,
        targets=targets, max_replications=max_replications, posterior=posterior,
        prior=prior, on_start=on_start, series=series)
    opened = rundir.opened(path, summary)
    if out is None and not keep:
        _remove_at_exit(path)
        opened.temporary = True
    return opened


def _remove_at_exit(path: Path) -> None:
    atexit.register(shutil.rmtree, path, True)


def resume(path: str | os.PathLike[str], *, replications: int | None = None,
           seed: int | None = None, workers: int | None = None, executor: str = "processes",
           scheduler: str | None = None, progress: bool | None = None,
           on_start: Callable[[Started], None] | None = None) -> Run:
    """Finish a partial run directory (as `capsim run --resume DIR`) and open it.

    A complete run whose summary or plots are missing gets them redrawn from its tables.
    `replications` and `seed`, if given, must be the run's.

    Raises:
        UsageError: the run is complete and whole, or `seed`/`replications` disagree.
        ScenarioError: the run's scenario.toml changed since it started.
    """
    from capsim.experiments.pipelines import launch

    summary = launch.resume(Path(path), replications=replications, seed=seed,
                            workers=launch.workers_for(executor, workers), executor=executor,
                            scheduler=scheduler, progress=progress, on_start=on_start)
    return rundir.opened(Path(path), summary)


def _path_of(r: Run | str | os.PathLike[str]) -> Path:
    return r.path if isinstance(r, Run) else Path(r)


@dataclass
class Comparison:
    """Run B against run A, KPI by KPI (B - A); paired when seeds and replications match."""

    a: Path
    b: Path
    data: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return (f"Comparison(a={str(self.a)!r}, b={str(self.b)!r}, paired={self.paired}, "
                f"kpis={len(self.data['kpis'])})")

    def _repr_html_(self) -> str:
        from capsim.experiments.pipelines.compare import diff_value as d
        from capsim.experiments.pipelines.kpi_text import short_value as v

        rows = []
        for k, r in list(self.data["kpis"].items())[:12]:  # the largest effects first
            u = r.get("unit", "")
            lo, hi = r.get("diff_ci95") or (None, None)
            rows.append(f"<tr><td>{html.escape(k)}</td><td>{v(r.get('a_mean'), u)}</td>"
                        f"<td>{v(r.get('b_mean'), u)}</td><td>{d(r.get('diff_mean'), u)}</td>"
                        f"<td>{d(lo, u)} to {d(hi, u)}</td></tr>")
        head = html.escape(self.data.get("headline", ""))
        return (f"<p>{html.escape(repr(self))}</p><p>{head}</p><table><tr><th>KPI</th><th>A</th>"
                f"<th>B</th><th>B - A</th><th>95% CI</th></tr>{''.join(rows)}</table>")

    @property
    def paired(self) -> bool:
        """True when the two runs share seed and replications (common random numbers)."""
        return bool(self.data["paired"])

    def frame(self) -> pd.DataFrame:
        """One row per KPI, largest effect first: means, difference, 95% interval, p-value."""
        rows = []
        for name, r in self.data["kpis"].items():
            lo, hi = r["diff_ci95"]
            rows.append({"kpi": name, "a_mean": r["a_mean"], "b_mean": r["b_mean"],
                         "diff_mean": r["diff_mean"], "diff_lo": lo, "diff_hi": hi,
                         "effect_size": r.get("effect_size"), "p_value": r["p_value"],
                         "unit": r.get("unit", "")})
        return pd.DataFrame(rows).set_index("kpi")

    def table(self) -> str:
        """The plain-text table `capsim compare` prints."""
        from capsim.experiments.pipelines import compare as _compare

        return _compare.table(self.data)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Overlay of both runs' demand and capacity fans and the unserved difference.

        Raises:
            UsageError: `path` ends neither in .png nor in .svg.
        """
        from capsim.experiments.pipelines import compare as _compare
        from capsim.experiments.pipelines.outputs import output_file

        target = Path(path)
        checks.plot_file(target)
        output_file(target, "compare --plot", parents=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        return _compare.plot(self.data, target)


def compare(a: Run | str | os.PathLike[str], b: Run | str | os.PathLike[str]) -> Comparison:
    """Compare run B against run A (paired when they share seed and replications).

    Raises:
        UsageError: a path that is no run, or a run with no finished replication.
    """
    from capsim.experiments.pipelines import compare as _compare

    pa_, pb_ = _path_of(a), _path_of(b)
    checks.run_dir(pa_, "compare", finished=False)
    checks.run_dir(pb_, "compare", finished=False)
    return Comparison(pa_, pb_, _compare.compare_runs(pa_, pb_))


def _counts(command: str, **given: tuple) -> None:
    """Check whole-number arguments: name=(value, minimum[, None allowed]), stated limits.

    Raises:
        UsageError: naming the argument, its range and the value.
    """
    for name, (value, minimum, *none_ok) in given.items():
        checks.whole(name, value, minimum, bool(none_ok and none_ok[0]), command)


@dataclass
class Sweep:
    """A finished sweep: its directory and its table (one row per point and replication).

    `capsim.sensitivity(sweep)` ranks its inputs. Like a run, a sweep without `out` lives in
    a temporary directory removed at the end of a `with` block or of the process, unless
    made with `keep=True`.
    """

    path: Path
    table: pd.DataFrame = field(repr=False)
    temporary: bool = field(default=False, repr=False)

    def __repr__(self) -> str:
        points = self.table["point"].nunique() if "point" in self.table else len(self.table)
        return f"Sweep({str(self.path)!r}, points={points}, rows={len(self.table)})"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.table.head(10).to_html()

    def __enter__(self) -> Sweep:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    def __fspath__(self) -> str:
        return str(self.path)



def sweep(params: dict[str, tuple[float, float]], scenario: str | os.PathLike[str] | None = None,
          *, samples: int = 32, method: str = "lhs", replications: int = 4,
          seed: int = DEFAULT_SEED, workers: int | None = None,
          out: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
          force: bool = False, progress: bool | None = None, keep: bool = False) -> Sweep:
    """Sample scenario inputs over ranges ({key: (low, high)}) and run each point.

    Every point runs the same replication seeds (common random numbers). Returns a `Sweep`:
    its directory and the table written to OUT/sweep.parquet (one row per point and
    replication), which `sensitivity()` takes.

    Raises:
        UsageError: bounds that are not finite numbers with low < high.
    """
    from capsim.experiments.pipelines import sweep as _sweep

    checks.sweep_ranges(params)
    _counts("capsim.sweep", samples=(samples, 2), replications=(replications, 1),
            seed=(seed, 0), workers=(workers, 1, True))
    checks.run_arguments(replications=replications, seed=seed, workers=workers,
                         executor="processes", overrides=overrides)
    ranges = {key: (float(lo), float(hi)) for key, (lo, hi) in params.items()}
    name = None if scenario is None else str(scenario)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-sweep-"))
    table = _sweep.run_sweep(name, list(overrides), ranges, samples, method, replications,
                             seed, workers or checks.default_workers(), path, force=force,
                             progress=progress)
    temporary = out is None and not keep
    if temporary:
        _remove_at_exit(path)
    return Sweep(path, table, temporary)


def sensitivity(sweep_dir: Sweep | str | os.PathLike[str], kpi: str = "unserved_fraction",
                bootstrap: int = 200, *, write: bool = False) -> dict[str, Any]:
    """Rank a sweep's inputs by partial rank correlation with `kpi` (bootstrap intervals).

    With `write` (as `capsim sensitivity DIR`), the tornado and scenario-discovery plots go
    to DIR/plots/ and the result to DIR/sensitivity_<kpi>.json; "files" names them.
    """
    from capsim.experiments.pipelines import sweep as _sweep
    from capsim.models import kpis as registry

    _counts("capsim.sensitivity", bootstrap=(bootstrap, 20))
    if not isinstance(kpi, str):
        raise UsageError(f"capsim.sensitivity: kpi must be a KPI's name, got {kpi!r}")
    if kpi not in registry.KPIS:
        import difflib

        close = difflib.get_close_matches(kpi, list(registry.KPIS), n=3)
        raise UsageError(f"sensitivity: no KPI {kpi!r}"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))
    sweep_dir = sweep_dir.path if isinstance(sweep_dir, Sweep) else sweep_dir
    res = _sweep.analyse(Path(sweep_dir), kpi, bootstrap)
    files = _sweep.write_prcc(Path(sweep_dir), res) if write else None
    out = {k: v for k, v in res.items() if k not in ("x", "y", "bad")}
    return out if files is None else {**out, "files": files}


def calibrate(scenario: str | os.PathLike[str] | Scenario | None = None, *,
              out: str | os.PathLike[str] | None = None,
              observations: str | os.PathLike[str] | None = None,
              holdout_after: str | dt.date | None = None, points: int | None = None,
              seed: int = DEFAULT_SEED, workers: int | None = None, cutoff: float = 3.0,
              overrides: Sequence[str] = (), progress: bool | None = None,
              reuse: str | os.PathLike[str] | None = None,
              discrepancy: float = 0.1, force: bool = False) -> dict[str, Any]:
    """Condition a scenario's uncertain inputs on its observations (history matching).

    Writes OUT (default: a new temporary directory): posterior.parquet, fit.csv,
    summary.json and plots/. `capsim.run(..., posterior=OUT)` (or `capsim run --posterior
    OUT`) then forecasts from the posterior.

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
        force: write into a non-empty `out`.

    Returns:
        The calibration summary (as summary.json), with `out` added.

    Raises:
        UsageError: a non-empty `out` without `force`, a cut-off <= 0 or a discrepancy < 0.
    """
    from capsim.experiments.pipelines import calibrate as _cal

    _counts("capsim.calibrate", points=(points, 10, True), seed=(seed, 0),
            workers=(workers, 1, True))
    checks.check_calibration(None if out is None else Path(out), force, cutoff, discrepancy)
    sc = load(scenario, overrides)
    if isinstance(holdout_after, str):
        holdout_after = dt.date.fromisoformat(holdout_after)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-calibrate-"))
    summary = _cal.calibrate(sc, out=path, observations=None if observations is None
                             else Path(observations), holdout_after=holdout_after,
                             points=points or _cal.DEFAULT_POINTS, seed=seed,
                             workers=workers or checks.default_workers(), cutoff=cutoff,
                             progress=progress, reuse=None if reuse is None else Path(reuse),
                             discrepancy=discrepancy)
    return {**summary, "out": str(path)}


def backtest(scenario: str | os.PathLike[str] | Scenario | None = None, *,
             out: str | os.PathLike[str] | None = None,
             observations: str | os.PathLike[str] | None = None,
             origins: Sequence[str | dt.date] | None = None, points: int | None = None,
             seed: int = DEFAULT_SEED, workers: int | None = None, cutoff: float = 3.0,
             discrepancy: float = 0.1, overrides: Sequence[str] = (),
             progress: bool | None = None, force: bool = False) -> dict[str, Any]:
    """Calibrate at several origins with priors of each origin's vintage; score the forecasts.

    Writes OUT (default: a new temporary directory): backtest.parquet and .csv,
    summary.json and summary.md, plots/ and origins/ (each origin's calibration). Run
    again into the same OUT, it resumes after the last origin it finished.

    Args:
        scenario: embedded name, TOML path, a loaded `Scenario`, or None for the default.
        out: directory to write (or to resume).
        observations: an observation file (default: the scenario's own).
        origins: dates (default: every quarter end from 2024-12-31 with a later point).
        points: design points per distinct set of priors.
        seed: seed of the designs and the simulations.
        workers: parallel processes (default: all cores).
        cutoff: implausibility cut-off of the history match.
        discrepancy: model-discrepancy sd on the log scale.
        overrides: `key=value` changes to the scenario, as `--set`.
        progress: progress bar on stderr (None: when a terminal is attached).
        force: write into a non-empty `out` that is not a backtest.

    Returns:
        The backtest summary (as summary.json), with `out` added.

    Raises:
        UsageError: a non-empty `out` that is not a backtest (without `force`), bad settings.
        ScenarioError: inputs with no distribution as old as an origin (named), or an
            origin with nothing to fit or to forecast.
    """
    from capsim.experiments.pipelines import backtest as _bt

    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-backtest-"))
    resuming = (path / "origins.json").is_file() or (path / "rows").is_dir()
    checks.check_calibration(None if resuming else path, force, cutoff, discrepancy)
    sc = load(scenario, overrides)
    dates = [dt.date.fromisoformat(d) if isinstance(d, str) else d for d in origins or ()]
    summary = _bt.backtest(sc, out=path, observations=None if observations is None
                           else Path(observations), origins=dates or None,
                           points=points or _bt.DEFAULT_POINTS, seed=seed,
                           workers=workers or checks.default_workers(), cutoff=cutoff,
                           discrepancy=discrepancy, progress=progress)
    return {**summary, "out": str(path)}


def plan(scenario: str | os.PathLike[str] | None = None, *, max_shortfall: float = 0.10,
         objective: str = "spend", budget: int = 40, seed: int = DEFAULT_SEED,
         workers: int | None = None, out: str | os.PathLike[str] | None = None,
         overrides: Sequence[str] = (), force: bool = False, progress: bool | None = None,
         on_start: Callable[[], None] | None = None, **settings: Any) -> dict[str, Any]:
    """Search the scenario's `[levers]` for the cheapest plan that meets the shortage target.

    The target is, by default, the expected unmet demand share at most the scenario's
    `[plan] max_unmet_share` (`risk="short_month"`: P(short month) <= max_shortfall).
    `objective` is "spend", "spend_plus_forgone", "spend_plus_lost" or "stranded". Other
    `settings` are fields of `capsim.experiments.pipelines.plan.PlanSpec` (reps, max_reps,
    check_reps, threshold, window, risk, max_risk, robust, states, executor). Returns
    plan.json as a dict; `out` (default: a new temporary directory) holds plan.toml,
    schedule.csv, candidates.parquet, plots/pareto.png and the fresh-seed check runs. An
    unfinished `out` is resumed. `on_start` is called once the settings are checked, before
    the search.

    Raises:
        ScenarioError: bad scenario, overrides, levers or settings.
    """
    from capsim.experiments.pipelines import plan as _plan

    _counts("capsim.plan", budget=(budget, 1), seed=(seed, 0), workers=(workers, 1, True),
            **{k: (settings[k], m) for k, m in (("reps", 2), ("max_reps", 2),
                                                ("check_reps", 2), ("robust", 0),
                                                ("states", 4)) if k in settings})
    spec = _plan.PlanSpec(None if scenario is None else str(scenario), list(overrides),
                          max_shortfall, objective, budget, seed,
                          workers=workers or checks.default_workers(), progress=progress,
                          **settings)
    spec.check()
    if on_start is not None:
        on_start()
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-plan-"))
    return _plan.plan(spec, path, force=force)


def grouped_sensitivity(scenario: str | os.PathLike[str] | None = None, *,
                        overrides: Sequence[str] = (), kpis: Sequence[str] | None = None,
                        replications: int = 1, seed: int = DEFAULT_SEED, samples: int = 32,
                        max_points: int = 6000, target: float = 0.05, trajectories: int = 8,
                        workers: int | None = None, executor: str = "processes",
                        out: str | os.PathLike[str] | None = None, force: bool = False,
                        progress: bool | None = None) -> dict[str, Any]:
    """Grouped, converging Sobol' indices after Morris screening (`capsim sensitivity --groups`).

    N doubles from `samples` until every total order 95% half-width of `kpis` (default the
    headline shortage KPI) is at most `target`, within `max_points` design points. The same
    `out` again reuses the replications already run. Returns sensitivity_groups.json.
    """
    from capsim.experiments.pipelines import sensitivity_groups as _sg

    spec = _sg.GroupSpec(None if scenario is None else str(scenario), list(overrides),
                         list(kpis or []), replications, seed, samples, max_points, target,
                         trajectories, workers=workers or checks.default_workers(),
                         executor=executor, progress=progress)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-gsa-"))
    return _sg.grouped(spec, path, force=force)


def value_of_information(scenario: str | os.PathLike[str] | None = None, *,
                         overrides: Sequence[str] = (), states: int = 48, plans: int = 5,
                         plan_dir: str | os.PathLike[str] | None = None,
                         seed: int = DEFAULT_SEED, workers: int | None = None,
                         executor: str = "processes",
                         out: str | os.PathLike[str] | None = None, force: bool = False
                         ) -> dict[str, Any]:
    """EVPI and the EVSI of each candidate observation (`capsim value-of-information`).

    Every plan (those of `plan_dir`, a finished `capsim plan` directory, or the own policy
    and `plans - 1` lever settings) runs `states` replications on the same seeds. Returns
    value_of_information.json; `out` holds it and plots/value_of_information.png.
    """
    from capsim.experiments.pipelines import voi as _voi

    spec = _voi.VoiSpec(None if scenario is None else str(scenario), list(overrides), states,
                        plans, None if plan_dir is None else str(plan_dir), seed,
                        workers=workers or checks.default_workers(), executor=executor)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-voi-"))
    return _voi.value_of_information(spec, path, force=force)


def global_sensitivity(scenario: str | os.PathLike[str] | None = None, *, method: str = "sobol",
                       params: Sequence[str] = (), samples: int | None = None,
                       replications: int = 1, seed: int = DEFAULT_SEED,
                       workers: int | None = None, executor: str = "processes",
                       out: str | os.PathLike[str] | None = None,
                       overrides: Sequence[str] = (), kpis: Sequence[str] | None = None,
                       force: bool = False, progress: bool | None = None,
                       resume: bool = True,
                       on_start: Callable[[dict[str, Any]], None] | None = None
                       ) -> dict[str, Any]:
    """Sobol' or Morris indices of KPIs over the scenario's uncertain inputs (all, or `params`).

    As `capsim sensitivity --method sobol|morris`. An unfinished `out` is resumed (with
    `resume` False, an existing `out` is refused unless `force`, as `capsim sensitivity
    SCENARIO` does). `on_start` gets the new design's manifest before its points run.
    Returns sensitivity.json as a dict.
    """
    from capsim.experiments.pipelines import sensitivity as _gsa

    _counts("capsim.global_sensitivity", samples=(samples, 2, True),
            replications=(replications, 1))
    checks.run_arguments(replications=replications, seed=seed, workers=workers,
                         executor=executor, overrides=overrides)
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="capsim-gsa-"))
    if not resume or not (path / "design.parquet").exists() or force:
        name = None if scenario is None else str(scenario)
        store = _gsa.start(name, list(overrides), method, list(params), samples, replications,
                           seed, path, list(kpis) if kpis else None, force=force)
        m = store.manifest()
        store.unlock()
        if on_start is not None:
            on_start(m)
    return _gsa.resume(path, workers or checks.default_workers(), executor, progress)
