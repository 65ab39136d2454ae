"""Starting and resuming a run: the checks and steps before `runs.execute`.

`capsim.api.run` and `capsim.api.resume` (and so `capsim run`) go through here: one place
for the defaults, the argument checks, the memory check for N workers, the dask check,
and the run directory's creation.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from capsim.experiments.pipelines import checks, figure_index, outputs, repair, runs
from capsim.experiments.pipelines import series as series_kept
from capsim.experiments.pipelines.checks import DEFAULT_REPLICATIONS, DEFAULT_SEED, UsageError
from capsim.models.scenario import DEFAULT_SCENARIO, Scenario, to_toml
from capsim.models.scenario import load as _load
from capsim.simcore.store import RunStore


@dataclass(frozen=True)
class Started:
    """What a run is about to do, for a caller that reports it (the CLI's first line).

    `spec` is None for a complete run whose missing outputs are redrawn (`missing`).
    """

    path: Path
    spec: runs.RunSpec | None
    missing: tuple[str, ...] = ()


OnStart = Callable[[Started], None]


def scenario_of(scenario: str | os.PathLike[str] | Scenario | None = None,
                overrides: Sequence[str] = ()) -> Scenario:
    """A validated scenario: an embedded name, a TOML path, or None for the default.

    A `Scenario` passed in is returned as it is (with overrides applied to its TOML).

    Raises:
        ScenarioError: naming the file, the key and what is wrong.
    """
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        from capsim.models.scenario import apply_overrides, parse_toml, validate_dict

        label = f"<scenario {scenario.name}>"
        data = apply_overrides(label, parse_toml(label, to_toml(scenario)), list(overrides))
        return validate_dict(label, data)
    return _load(None if scenario is None else str(scenario), list(overrides))[0]


def run(scenario: str | os.PathLike[str] | Scenario | None = None, *,
        replications: int = DEFAULT_REPLICATIONS, seed: int = DEFAULT_SEED,
        workers: int | None = None, executor: str = "processes", scheduler: str | None = None,
        out: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
        force: bool = False, progress: bool | None = None,
        targets: dict[str, float] | None = None, max_replications: int | None = None,
        posterior: str | os.PathLike[str] | None = None, prior: bool = False,
        on_start: OnStart | None = None,
        series: str | Sequence[str] | None = None) -> tuple[Path, dict]:
    """Check, create and run a new run directory (see `capsim.api.run`); its path, summary."""
    checks.run_arguments(replications=replications, seed=seed, workers=workers,
                         executor=executor, overrides=overrides, targets=targets,
                         max_replications=max_replications)
    cap = checks.replication_cap(targets, max_replications, replications)
    if out is not None:
        outputs.output_dir(out, "run --out")
    overrides = checks.with_posterior(overrides, posterior, prior)
    sc = scenario_of(scenario, overrides)
    if replications < 1:
        raise ValueError(f"replications(={replications}) must be >= 1")
    source = None if scenario is None or isinstance(scenario, Scenario) else str(scenario)
    spec, store = start(
        sc, source=source, replications=replications, seed=seed,
        workers=workers_for(executor, workers), executor=executor, scheduler=scheduler,
        out=None if out is None else Path(out), overrides=overrides, force=force,
        progress=progress, targets=targets or None, cap=cap,
        series=series_kept.kept(sc, series))
    return store.path, execute(spec, store, on_start)


def start(scenario: Scenario, *, source: str | None, replications: int, seed: int,
          workers: int, executor: str, scheduler: str | None, out: Path | None,
          overrides: Sequence[str], force: bool, progress: bool | None,
          targets: dict[str, float] | None, cap: int | None,
          series: list[str] | None = None) -> tuple[runs.RunSpec, RunStore]:
    """Check a new run, create its directory (locked) and write its scenario.toml.

    `source` names the scenario in a memory error (None: the default scenario's name).

    Raises:
        ScenarioError: the replications need more memory than `workers` of them get, or
            the posterior or observation file the scenario names cannot be used.
        UsageError: the dask executor without dask.
        StoreError: `out` cannot be used.
    """
    checks.check_workers(scenario, workers, source or DEFAULT_SCENARIO)
    # The files the scenario names are read and checked before the run directory exists:
    # a bad posterior or observation file is refused with nothing left on disk.
    checks.named_files(scenario)
    text = to_toml(scenario)
    spec = runs.RunSpec(scenario, text, replications, seed, workers, executor, scheduler,
                        tuple(overrides), progress, targets, cap, series)
    checks.check_executor(executor, scheduler=scheduler)
    path = out if out is not None else Path(tempfile.mkdtemp(prefix=f"capsim-{scenario.name}-"))
    # The scenario goes in with the manifest: a run directory is resumable from the
    # moment it exists.
    store = RunStore.create(path, runs.manifest_for(spec), force=force,
                            own_plot=figure_index.own_plot,
                            files={"scenario.toml": text})
    return spec, store


def reopen(path: Path, *, replications: int | None, seed: int | None, workers: int,
           executor: str, scheduler: str | None, progress: bool | None
           ) -> tuple[runs.RunSpec, RunStore]:
    """The spec and locked store of a run to finish; `replications`, `seed` must agree.

    Raises:
        ScenarioError: the run's scenario.toml changed since it started.
        UsageError: a seed or replication count other than the run's.
    """
    spec = runs.load_spec_from_run(path, workers, executor, scheduler, progress)
    for opt, mine, theirs in (("--seed", seed, spec.seed),
                              ("--replications", replications, spec.replications)):
        if mine is not None and mine != theirs:
            raise UsageError(f"capsim run: --resume {path}: {opt} {mine} disagrees with "
                             f"the run's {theirs}; leave {opt} out to finish the run as "
                             "it was started")
    return spec, RunStore.open(path, lock=True)


def execute(spec: runs.RunSpec, store: RunStore, on_start: OnStart | None) -> dict:
    """Report the start, run the replications, unlock; the summary."""
    try:
        if on_start is not None:
            on_start(Started(store.path, spec))
        return runs.execute(spec, store)
    finally:
        store.unlock()


def resume(path: Path, *, replications: int | None, seed: int | None, workers: int,
           executor: str, scheduler: str | None, progress: bool | None,
           on_start: OnStart | None) -> dict:
    """Finish a partial run, or redraw the lost outputs of a complete one; the summary."""
    checks.run_arguments(replications=replications, seed=seed, workers=workers,
                         executor=executor, replications_none_ok=True)
    checks.check_executor(executor, scheduler=scheduler)
    spec, store = reopen(path, replications=replications, seed=seed, workers=workers,
                         executor=executor, scheduler=scheduler, progress=progress)
    try:
        store.tidy()  # temporary files a kill left; damaged parts (they run again)
        if store.manifest().get("status") == "complete":
            damage = store.tables_problem(spec.replications)
            if damage is None:
                return _complete_outputs(store, on_start)
            # "complete" is believed only with every replication in the tables: the
            # run is finished again, its missing replications run from their streams.
            print(f"capsim: {path}: marked complete, but {damage}; the missing "
                  "replications run again", file=sys.stderr)
            store.update_manifest(status="partial")
    except BaseException:
        store.unlock()
        raise
    store.update_manifest(executor=executor, workers=workers)
    # A report of the partial run would describe fewer replications than the tables:
    # it goes, and `capsim report` writes the finished run's.
    (store.path / "report.html").unlink(missing_ok=True)
    return execute(spec, store, on_start)


def _complete_outputs(store: RunStore, on_start: OnStart | None) -> dict:
    """A complete run: redraw a lost summary or plots, else a UsageError."""
    try:
        missing = repair.missing_outputs(store)
        if not missing:
            raise UsageError(f"capsim run: {store.path}: run is already complete")
        if on_start is not None:
            on_start(Started(store.path, None, tuple(missing)))
        try:
            return repair.complete_outputs(store)
        except FileNotFoundError as exc:
            raise UsageError(f"capsim run: {exc}") from None
    finally:
        store.unlock()


def workers_for(executor: str, workers: int | None) -> int:
    """Workers of an executor: 1 for "serial", else `workers` or every core."""
    return 1 if executor == "serial" else (workers or checks.default_workers())


def kept(path: Path) -> int:
    """Finished replications in a run directory (after an interruption)."""
    return len(RunStore(path).done())
