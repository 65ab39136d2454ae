"""The `capsim` sub-commands: each parses nothing, calls `capsim.api` and prints.

The checks, defaults and errors are the API's (`capsim.experiments.pipelines.checks`);
what stays here is the command line's own: the default output names under runs/, the
read-only fallbacks of `plot` and `report`, the messages and the exit codes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

from capsim.experiments import questions
from capsim.experiments.cli import tables
from capsim.experiments.cli.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TARGET_NOT_MET,
    EXIT_TERMINATED,
    Terminated,
    environment_error,
)
from capsim.experiments.pipelines import checks
from capsim.experiments.pipelines.checks import DEFAULT_REPLICATIONS, UsageError
from capsim.models.scenario import DEFAULT_SCENARIO, to_toml
from capsim.simcore.executors import WorkerLost
from capsim.simcore.store import atomic_write_bytes, dumps

from capsim import api

log = logging.getLogger("capsim")
"""Messages of the command line: progress and notes (info), warnings; `--quiet` and
`--verbose` set its level (errors are printed by `errors.exit_code`)."""


def _stamp() -> str:
    return f"{dt.datetime.now():%Y%m%d-%H%M%S}"


def _progress(a: argparse.Namespace) -> bool | None:
    """False with --no-progress or --quiet; None (a bar when stderr is a terminal) else."""
    return False if a.no_progress or not log.isEnabledFor(logging.INFO) else None


def _note(text: str) -> None:
    """A line of a command's output that --quiet leaves out (the answer and tables stay)."""
    if log.isEnabledFor(logging.INFO):
        print(text)


# ------------------------------------------------------------------------------- run
def cmd_run(a: argparse.Namespace) -> int:
    """Run (or resume) a scenario's replications into a run directory."""
    started: list[api.Started] = []

    def on_start(s: api.Started) -> None:
        started.append(s)
        if s.spec is None:
            log.info(f"capsim: {s.path}: complete but missing {', '.join(s.missing[:3])}"
                     f"{' ...' if len(s.missing) > 3 else ''}; writing them from its tables")
        else:
            log.info(f"capsim: {s.spec.scenario.name}: {s.spec.replications} replications, seed "
                     f"{s.spec.seed}, {s.spec.workers} worker(s) -> {s.path}")

    common = dict(workers=a.workers, executor=a.executor, scheduler=a.scheduler,
                  progress=_progress(a), on_start=on_start)
    try:
        if a.resume is not None:
            given = [name for name, v in (("a scenario", a.scenario), ("--set", a.overrides),
                                          ("--out", a.out), ("--force", a.force),
                                          ("--target-ci", a.targets),
                                          ("--max-replications", a.max_replications),
                                          ("--prior", a.prior), ("--posterior", a.posterior),
                                          ("--series", a.series)) if v]
            if given:
                raise UsageError(f"capsim run: --resume DIR takes no {', '.join(given)} (the "
                                 "run directory records them)")
            run = api.resume(a.resume, replications=a.replications, seed=a.seed, **common)
        else:
            n = a.replications if a.replications is not None else DEFAULT_REPLICATIONS
            targets = checks.parse_targets(a.targets)
            checks.replication_cap(targets, a.max_replications, n)  # before any loading
            overrides = checks.with_posterior(a.overrides, a.posterior, a.prior)
            out = a.out or Path("runs") / f"{api.load(a.scenario, overrides).name}-{_stamp()}"
            run = api.run(a.scenario, replications=n,
                          seed=a.seed if a.seed is not None else api.DEFAULT_SEED, out=out,
                          overrides=a.overrides, posterior=a.posterior, prior=a.prior,
                          force=a.force, targets=targets, max_replications=a.max_replications,
                          series=a.series, **common)
    except KeyboardInterrupt as exc:
        if not started or started[0].spec is None:
            raise
        what = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        log.warning(f"capsim: {what}; {_kept(started[0].path)} kept in {started[0].path} (status "
                    f"partial); finish with: capsim run --resume {started[0].path}")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except (OSError, WorkerLost) as exc:
        msg = str(exc) if isinstance(exc, WorkerLost) else environment_error(exc)
        if msg is None or not started or started[0].spec is None:
            raise
        log.warning(f"capsim: {msg}; {_kept(started[0].path)} kept in {started[0].path} (status "
                    f"partial); when fixed, finish with: capsim run --resume {started[0].path}")
        return EXIT_ENVIRONMENT
    if a.all:
        print(tables.kpi_table(run.summary) + "\n")
    spec = started[0].spec
    code = EXIT_OK if spec is None else _after_run(run.summary, run.path, spec.max_replications)
    if a.report:
        html = api.report(run.path)
        _note(f"report: {html}")
    else:
        _note(f"the answer in words, with plots: capsim report {run.path}")
    _note("")
    print(_answer_text(run))
    print(tables.headline_table(run.summary))
    return code


def _answer_text(run: api.Run) -> str:
    """The answer in one or two sentences, wrapped to the table's width."""
    import textwrap

    from capsim.experiments.pipelines.answer import short_answer
    from capsim.experiments.pipelines.figures import short_threshold

    try:
        threshold: float | None = short_threshold(run.scenario)
    except Exception:  # an old run whose scenario no longer loads: say it without the number
        threshold = None
    return textwrap.fill(short_answer(run.summary, threshold), tables.WIDTH)


def _after_run(summary: dict, out: Path, cap: int | None) -> int:
    """The history headline, the precision targets and the run directory; the exit code."""
    if summary.get("history"):
        from capsim.models.history import headline

        _note(headline(summary["history"]))
    unmet = False
    for name, t in summary.get("targets", {}).items():
        state = "met" if t["met"] else "NOT met (cap reached)"
        unmet = unmet or not t["met"]
        _note(f"target {name}: half-width {t['half_width']:.4g} vs wanted "
              f"{t['half_width_wanted']:.4g}: {state} with {summary['replications']} replications")
    _note(f"run directory: {out}  (summary.json, kpis.parquet, timeseries.parquet, plots/)")
    if unmet:
        log.warning(f"capsim: --target-ci not met within {cap} replications "
                    f"(exit {EXIT_TARGET_NOT_MET}); raise --max-replications or widen the target")
        return EXIT_TARGET_NOT_MET
    return EXIT_OK


def _kept(path: Path) -> str:
    from capsim.experiments.pipelines.launch import kept

    n = kept(path)
    return f"{n} replication{'' if n == 1 else 's'}"


# ------------------------------------------------------------------------ calibrate
def cmd_calibrate(a: argparse.Namespace) -> int:
    """Condition the scenario's uncertain inputs on the public record."""
    checks.check_calibration(a.out, a.force, a.cutoff, a.discrepancy)
    log.info(f"capsim calibrate: {a.points} design points, seed {a.seed}, {a.workers} worker(s) "
             f"-> {a.out}")
    s = api.calibrate(a.scenario, out=a.out, observations=a.observations,
                      holdout_after=a.holdout_after, points=a.points, seed=a.seed,
                      workers=a.workers, cutoff=a.cutoff, overrides=a.overrides,
                      progress=_progress(a), reuse=a.reuse, discrepancy=a.discrepancy,
                      force=a.force)
    print(tables.calibration_report(s))
    return 0 if s["status"] == "complete" else 130


def cmd_backtest(a: argparse.Namespace) -> int:
    """Backtest the scenario from several origins against the record and naive baselines."""
    log.info(f"capsim backtest: {a.points} design points per set of priors, seed {a.seed}, "
             f"{a.workers} worker(s) -> {a.out}")
    s = api.backtest(a.scenario, out=a.out, observations=a.observations,
                     origins=a.origins or None, points=a.points, seed=a.seed,
                     workers=a.workers, cutoff=a.cutoff, discrepancy=a.discrepancy,
                     overrides=a.overrides, progress=_progress(a), force=a.force)
    md = Path(s["out"]) / "summary.md"
    print(md.read_text() if md.is_file() else "capsim backtest: no origin finished")
    return 0 if s["status"] == "complete" else 130


# ------------------------------------------------------------------ scenario files
def cmd_scenarios(a: argparse.Namespace) -> int:
    """List the embedded scenarios."""
    for name in api.scenarios():
        sc = api.load(name)
        mark = " (default)" if name == DEFAULT_SCENARIO else ""
        print(f"{name}{mark}: {sc.scenario.title} [{sc.scenario.start} .. {sc.scenario.end}]")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    """Validate a scenario (with overrides) and print what it holds."""
    sc = api.load(a.scenario, a.overrides)
    files = checks.named_files(sc)
    text = to_toml(sc)
    n_params = text.count("source =") - len(sc.levers)  # a lever has a source too
    on = [n for n, c in sc.clouds.items() if c.enabled]
    off = [n for n, c in sc.clouds.items() if not c.enabled]
    print(f"{a.scenario or DEFAULT_SCENARIO}: ok: scenario {sc.name!r}, {sc.scenario.start} .. "
          f"{sc.scenario.end}, {len(sc.supply.generations)} chip generations, "
          f"{len(sc.datacenters.campuses)} campuses, {n_params} sourced parameters, "
          f"{len(sc.levers)} levers; clouds on: "
          f"{', '.join(on)}" + (f"; off: {', '.join(off)}" if off else "") + f"; {files}")
    return 0


# ------------------------------------------------------------ reading a finished run
def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def cmd_plot(a: argparse.Namespace) -> int:
    """Redraw the plots of a finished run (elsewhere when the run is read-only)."""
    checks.run_dir(a.run_dir, "plot")
    out = a.out
    if out is None:
        out = a.run_dir / "plots"
        if not _writable(a.run_dir) or (out.exists() and not _writable(out)):
            out = Path(f"{a.run_dir.resolve().name}-plots")
            log.info(f"capsim plot: {a.run_dir} is read-only; drawing into {out}")
    for p in api.plot(a.run_dir, fmt=a.format, dpi=a.dpi, out=out):
        print(p)
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    """Write the report of a finished run (beside it when the run is read-only)."""
    checks.run_dir(a.run_dir, "report")
    out = a.out
    if out is None and not _writable(a.run_dir):
        out = Path(f"{a.run_dir.resolve().name}-report.html")
        log.info(f"capsim report: {a.run_dir} is read-only; writing {out}")
    print(api.report(a.run_dir, out=out, sensitivity=a.sensitivity))
    return 0


def cmd_keys(a: argparse.Namespace) -> int:
    """List a scenario's keys as `--set` takes them, with value, unit and source."""
    from capsim.experiments.pipelines.listing import scenario_keys

    scenario, pattern = a.scenario, a.pattern
    if pattern is None and scenario is not None and scenario not in api.scenarios() \
            and not Path(scenario).exists():  # `capsim keys PATTERN`: the default scenario
        scenario, pattern = None, scenario
    rows = scenario_keys(api.load(scenario, a.overrides), pattern)
    if not rows:
        raise UsageError(f"capsim keys: no key matches {pattern!r}")
    for r in rows:
        unit = f"  [{r.unit}]" if r.unit else ""
        print(f"{r.key} = {r.value}{unit}")
        if r.source:
            print(f"    source: {r.source}")
    return EXIT_OK


def cmd_kpis(a: argparse.Namespace) -> int:
    """List the registry's KPIs and series with unit, kind and definition."""
    from capsim.experiments.pipelines.listing import metrics

    rows = metrics(a.pattern)
    if not rows:
        raise UsageError(f"capsim kpis: no KPI or series matches {a.pattern!r}")
    table = None
    for r in rows:
        if r.table != table:
            table = r.table
            print(f"\n{table}:" if table != rows[0].table else f"{table}:")
        print(f"  {r.name}  [{r.unit}, {r.kind}]\n      {r.definition}")
    return EXIT_OK


def cmd_compare(a: argparse.Namespace) -> int:
    """Compare two runs: table, optional JSON and plot (the runs are only read)."""
    cmp = api.compare(a.run_a, a.run_b)
    for m in cmp.data["warnings"]:
        log.warning(f"capsim compare: warning: {m}")
    print(cmp.table())
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(cmp.data).encode())
        print(f"\njson: {a.json}")
    if a.plot is not None:
        # The runs are only read: a bare --plot (const "", which argparse turns into
        # Path(".")) draws into the current directory.
        target = a.plot if a.plot != Path("") else Path(
            f"compare_{a.run_a.resolve().name}_vs_{a.run_b.resolve().name}.png")
        print(f"plot: {cmp.plot(target)}")
    return 0


# ------------------------------------------------------------------------ questions
EXPERIMENTS = questions.NAMES
"""Question scripts: each is `experiments/questions/<name>.py` with DESCRIPTION and main(argv)."""


def cmd_experiment(a: argparse.Namespace) -> int:
    """List the experiment scripts, or run one."""
    import importlib

    if a.list or a.name is None:
        for name in EXPERIMENTS:
            mod = importlib.import_module(f"capsim.experiments.questions.{name}")
            print(f"{name:18s} {mod.DESCRIPTION}")
        return 0
    if a.name not in EXPERIMENTS:
        import difflib

        close = difflib.get_close_matches(a.name, EXPERIMENTS, n=1)
        raise UsageError(f"capsim experiment: unknown experiment {a.name!r}"
                         + (f"; did you mean {close[0]!r}?" if close else "")
                         + f" (known: {', '.join(EXPERIMENTS)})")
    return importlib.import_module(f"capsim.experiments.questions.{a.name}").main(a.args)


# ---------------------------------------------------------- sweep, sensitivity, plan
def cmd_sweep(a: argparse.Namespace) -> int:
    """Run a sampled parameter sweep."""
    from capsim.experiments.pipelines.sweep import parse_params

    params = parse_params(a.params)
    scenario_name = api.load(a.scenario, a.overrides).name
    out = a.out or Path("runs") / f"sweep-{scenario_name}-{_stamp()}"
    log.info(f"capsim: sweep of {', '.join(params)}: {a.samples} points x {a.replications} "
             f"replications -> {out}")
    result = api.sweep(params, a.scenario, samples=a.samples, method=a.method,
                       replications=a.replications, seed=a.seed, workers=a.workers, out=out,
                       overrides=a.overrides, force=a.force, progress=_progress(a))
    print(f"{len(result.table)} rows: {out / 'sweep.parquet'}; next: capsim sensitivity {out}")
    return 0


def cmd_sensitivity(a: argparse.Namespace) -> int:
    """Sobol'/Morris over a scenario's uncertain inputs, or PRCC of a sweep directory."""
    from capsim.experiments.pipelines import sensitivity as gsa
    from capsim.simcore.store import is_run_dir

    if a.groups:
        return _grouped(a)
    kind = None
    if a.target is not None and Path(a.target).is_dir() and is_run_dir(Path(a.target)):
        kind = _dir_kind(Path(a.target))
    settings = dict(workers=a.workers, executor=a.executor, progress=_progress(a))
    if kind == "sensitivity":  # resume (if partial) and analyse a design directory
        if a.method not in (None, "sobol", "morris"):
            raise UsageError(f"capsim sensitivity: {a.target} is a Sobol'/Morris design")
        r = api.global_sensitivity(out=a.target, **settings)
    elif kind is not None or a.method == "prcc":
        if kind != "sweep":
            raise UsageError(f"capsim sensitivity: {a.target or 'no directory'}: PRCC needs a "
                             "sweep directory (capsim sweep ... --out DIR)")
        return _prcc(a)
    else:
        method = a.method or "sobol"
        name = api.load(a.target, a.overrides).name
        out = a.out or Path("runs") / f"sensitivity-{name}-{method}-{_stamp()}"

        begun: list[dict] = []

        def on_start(m: dict) -> None:
            begun.append(m)
            log.info(f"capsim: {method} design over {len(m['params'])} uncertain inputs: "
                     f"{m['points']} points x {a.replications} replication(s) -> {out} "
                     f"(resume with: capsim sensitivity {out})")

        try:
            r = api.global_sensitivity(a.target, method=method, params=a.params,
                                       samples=a.samples, replications=a.replications,
                                       seed=a.seed, out=out, overrides=a.overrides,
                                       kpis=a.kpis, force=a.force, resume=False,
                                       on_start=on_start, **settings)
        except KeyboardInterrupt:
            if not begun:  # still making the design: as any interruption
                raise
            log.warning(f"capsim: interrupted; finish with: capsim sensitivity {out}")
            return 130
    print(gsa.report(r))
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(r).encode())
    return 0


def _grouped(a: argparse.Namespace) -> int:
    """`capsim sensitivity --groups`: grouped, converging indices of a scenario."""
    from capsim.experiments.pipelines import sensitivity_groups as sg

    name = api.load(a.target, a.overrides).name
    out = a.out or Path("runs") / f"sensitivity-{name}-groups"
    r = api.grouped_sensitivity(a.target, overrides=a.overrides, kpis=a.kpis,
                                replications=a.replications, seed=a.seed,
                                samples=a.samples or 32, max_points=a.max_points,
                                target=a.half_width, trajectories=a.trajectories,
                                workers=a.workers, executor=a.executor, out=out,
                                force=a.force, progress=_progress(a))
    print(sg.report(r))
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(r).encode())
    return 0


def _dir_kind(path: Path) -> str:
    """The `kind` a capsim directory's manifest records ("run" for a plain run)."""
    import json

    return str(json.loads((path / "manifest.json").read_text()).get("kind", "run"))


def _prcc(a: argparse.Namespace) -> int:
    """Rank a sweep's parameters by PRCC and look for a scenario-discovery box."""
    from capsim.experiments.pipelines.sweep import prcc_record

    r = api.sensitivity(a.target, (a.kpis or ["unserved_fraction"])[0], a.bootstrap, write=True)
    for m in r["warnings"]:
        log.warning(f"capsim sensitivity: warning: {m}")
    print(tables.prcc_text(r))
    print(f"tornado: {r['files']['tornado']}")
    print(f"scenario discovery plot: {r['files']['discovery']}")
    print(f"result: {r['files']['record']}")
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(prcc_record(r)).encode())
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    """Search the levers; check the best plan on fresh seeds; write the plan directory."""
    from capsim.experiments.pipelines.plan_outputs import report

    name = api.load(a.scenario, a.overrides).name
    out = a.out or Path("runs") / f"plan-{name}-{_stamp()}"

    begun: list[bool] = []

    def on_start() -> None:
        begun.append(True)
        log.info(f"capsim plan: {name}: {a.budget} candidates -> {out} (an interrupted search "
                 f"resumes with the same command and --out {out})")

    try:
        r = api.plan(a.scenario, max_shortfall=a.max_shortfall, objective=a.objective,
                     budget=a.budget, seed=a.seed, workers=a.workers, out=out,
                     overrides=a.overrides, force=a.force, progress=_progress(a),
                     on_start=on_start, reps=a.reps, max_reps=a.max_reps,
                     check_reps=a.check_reps, executor=a.executor, threshold=a.threshold,
                     window=a.window, robust=a.robust, states=a.states, risk=a.risk,
                     max_risk=a.max_risk, certify_max=a.certify_max)
    except KeyboardInterrupt:
        if not begun:
            raise
        log.warning(f"capsim plan: interrupted; resume with --out {out}")
        return 130
    print(report(r, out))
    return 0


def cmd_value_of_information(a: argparse.Namespace) -> int:
    """The ranked value of the scenario's candidate next observations, and its figure."""
    from capsim.experiments.pipelines.voi_outputs import report as voi_report

    name = api.load(a.scenario, a.overrides).name
    r = api.value_of_information(a.scenario, overrides=a.overrides, states=a.states,
                                 plans=a.plans, plan_dir=a.plan_dir, seed=a.seed,
                                 workers=a.workers, executor=a.executor,
                                 out=a.out or Path("runs") / f"voi-{name}", force=a.force)
    print(voi_report(r))
    return 0


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "experiment": cmd_experiment,
            "report": cmd_report, "sweep": cmd_sweep, "plan": cmd_plan,
            "sensitivity": cmd_sensitivity, "scenarios": cmd_scenarios, "validate": cmd_validate,
            "plot": cmd_plot, "calibrate": cmd_calibrate, "keys": cmd_keys, "kpis": cmd_kpis,
            "backtest": cmd_backtest, "value-of-information": cmd_value_of_information}
"""Sub-command name -> function of the parsed arguments returning the exit code."""
