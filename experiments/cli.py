"""The `capsim` command.

Exit codes: 0 ok, 2 bad input (one line per problem, no traceback), 1 internal error
(short message; details in a log file), 130 interrupted (the run is kept as "partial").
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

from capsim.experiments._args import int_at_least
from capsim.models.scenario import DEFAULT_SCENARIO, ScenarioError, embedded_names, load
from capsim.simcore.executors import EXECUTORS
from capsim.simcore.store import StoreError

DEFAULT_REPLICATIONS = 100  # ~1 minute on 2 cores for the default scenario
DEFAULT_SEED = 2026


class UsageError(Exception):
    """Bad command-line input: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    p = _Parser(prog="capsim", description="Will AI compute capacity keep up with demand? "
                "Monte Carlo discrete-event simulation.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a scenario's Monte Carlo replications")
    r.add_argument("scenario", nargs="?", default=None,
                   help=f"TOML file or embedded scenario name (default: {DEFAULT_SCENARIO})")
    r.add_argument("--replications", "-n", type=int_at_least(1, "--replications"),
                   default=DEFAULT_REPLICATIONS, help=f"default {DEFAULT_REPLICATIONS}")
    r.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED,
                   help=f"root seed (default {DEFAULT_SEED})")
    r.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                   default=os.cpu_count() or 1, help="parallel workers (default: all cores)")
    r.add_argument("--executor", choices=EXECUTORS, default="processes",
                   help="where replications run (default: local processes)")
    r.add_argument("--scheduler", default=None,
                   help="dask scheduler address (with --executor dask)")
    r.add_argument("--out", "-o", type=Path, default=None,
                   help="run directory (default: runs/<scenario>-<timestamp>)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. demand.growth_multiplier=1.5")
    r.add_argument("--force", action="store_true", help="replace an existing run directory")
    r.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help="finish the replications of a partial run directory")
    r.add_argument("--target-ci", dest="targets", action="append", default=[],
                   metavar="KPI=HALFWIDTH",
                   help="add replications until the KPI's 95%% interval half-width is at most "
                        "HALFWIDTH (starting from --replications, up to --max-replications)")
    r.add_argument("--max-replications", type=int_at_least(1, "--max-replications"), default=2000,
                   help="cap for --target-ci (default 2000)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    sub.add_parser("scenarios", help="list the embedded scenarios")
    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario", nargs="?", default=None)
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    c = sub.add_parser("compare", help="compare run B against run A (paired when seeds match)")
    c.add_argument("run_a", type=Path)
    c.add_argument("run_b", type=Path)
    c.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="write the comparison as JSON")
    c.add_argument("--plot", type=Path, default=None, metavar="FILE",
                   help="overlay plot (default: B/plots/compare_vs_<A>.png)")

    e = sub.add_parser("experiment", help="run an experiment script (--list shows them)")
    e.add_argument("--list", action="store_true", help="list the experiments")
    e.add_argument("name", nargs="?", default=None)
    e.add_argument("args", nargs=argparse.REMAINDER, help="the experiment's own arguments")

    sw = sub.add_parser("sweep", help="sample scenario inputs over ranges (LHS or Sobol)")
    sw.add_argument("scenario", nargs="?", default=None)
    sw.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=LOW:HIGH")
    sw.add_argument("--samples", type=int_at_least(2, "--samples"), default=32)
    sw.add_argument("--method", choices=("lhs", "sobol"), default="lhs")
    sw.add_argument("--replications", "-n", type=int_at_least(1, "--replications"), default=4,
                    help="per design point, the same for every point (default 4)")
    sw.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED)
    sw.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                    default=os.cpu_count() or 1)
    sw.add_argument("--out", "-o", type=Path, default=None)
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    sw.add_argument("--force", action="store_true")

    se = sub.add_parser("sensitivity", help="Sobol'/Morris over a scenario's uncertain inputs, "
                        "or PRCC of a sweep directory")
    se.add_argument("target", nargs="?", default=None, metavar="SCENARIO|DIR",
                    help="a scenario (sobol, morris), a sweep directory (prcc) or a sensitivity "
                         "directory (resume and analyse)")
    se.add_argument("--method", choices=("sobol", "morris", "prcc"), default=None,
                    help="default: prcc for a sweep directory, sobol for a scenario")
    se.add_argument("--kpi", dest="kpis", action="append", default=None, metavar="NAME",
                    help="KPI(s) to analyse (default unserved_fraction; sobol/morris also "
                         "short_month_share and spend_usd)")
    se.add_argument("--bootstrap", type=int_at_least(20, "--bootstrap"), default=200)
    se.add_argument("--json", type=Path, default=None, metavar="FILE")
    se.add_argument("--param", dest="params", action="append", default=[], metavar="KEY",
                    help="an uncertain input (or a dotted prefix such as demand.) to vary; "
                         "default: all")
    se.add_argument("--samples", type=int_at_least(2, "--samples"), default=None,
                    help="sobol: base samples N (N x (inputs + 2) points, default 16); "
                         "morris: trajectories (default 10)")
    se.add_argument("--replications", "-n", type=int_at_least(1, "--replications"), default=1,
                    help="per design point, the same seeds for every point (default 1)")
    se.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED)
    se.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                    default=os.cpu_count() or 1)
    se.add_argument("--executor", choices=EXECUTORS, default="processes")
    se.add_argument("--out", "-o", type=Path, default=None)
    se.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    se.add_argument("--force", action="store_true")
    se.add_argument("--no-progress", action="store_true")

    pn = sub.add_parser("plan", help="search the scenario's levers for the cheapest plan that "
                        "keeps P(short month) under a target")
    pn.add_argument("scenario", nargs="?", default=None)
    pn.add_argument("--max-shortfall", type=float, default=0.10, metavar="P",
                    help="largest acceptable P(some month of the window is short) (default 0.1)")
    pn.add_argument("--objective", choices=("spend", "spend_plus_lost", "stranded"),
                    default="spend")
    pn.add_argument("--budget", type=int_at_least(1, "--budget"), default=40,
                    help="candidates to evaluate (default 40: ~10-20 minutes on 2 cores)")
    pn.add_argument("--reps", type=int_at_least(2, "--reps"), default=8,
                    help="first replications per candidate (default 8)")
    pn.add_argument("--max-reps", type=int_at_least(2, "--max-reps"), default=32,
                    help="replications for close candidates and the best few (default 32)")
    pn.add_argument("--check-reps", type=int_at_least(2, "--check-reps"), default=100,
                    help="fresh-seed replications of the plan and the own policy (default 100)")
    pn.add_argument("--threshold", type=float, default=0.01,
                    help="a month is short when more than this share of its demand is unserved")
    pn.add_argument("--window", default=None, metavar="FROM:TO",
                    help="evaluation window, YYYY-MM-DD:YYYY-MM-DD (default: start + 2 years "
                         "to the end)")
    pn.add_argument("--robust", type=int_at_least(0, "--robust"), default=3,
                    help="best plans to test across the uncertain inputs (0: skip)")
    pn.add_argument("--states", type=int_at_least(4, "--states"), default=48,
                    help="states of the world for the robustness test (default 48)")
    pn.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED)
    pn.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                    default=os.cpu_count() or 1)
    pn.add_argument("--executor", choices=EXECUTORS, default="processes")
    pn.add_argument("--out", "-o", type=Path, default=None,
                    help="plan directory (an unfinished one is resumed)")
    pn.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    pn.add_argument("--force", action="store_true", help="replace a finished plan directory")
    pn.add_argument("--no-progress", action="store_true")

    rp = sub.add_parser("report", help="write a self-contained HTML report of a run")
    rp.add_argument("run_dir", type=Path)
    rp.add_argument("--out", type=Path, default=None, help="default: DIR/report.html")

    pl = sub.add_parser("plot", help="redraw the plots of a run directory")
    pl.add_argument("run_dir", type=Path)
    return p


# ---------------------------------------------------------------------------
def kpi_table(summary: dict) -> str:
    """A plain-text table of the summary's KPIs and milestones."""
    from capsim.experiments.runs import format_value as _fmt

    rows = [("KPI", "mean", "95% CI", "p05", "p50", "p95", "unit")]
    for section in ("kpis", "milestones"):
        for name, d in summary[section].items():
            u = d.get("unit", "")
            lo, hi = d["ci95"]
            rows.append((name, _fmt(d["mean"], u), f"[{_fmt(lo, u)}, {_fmt(hi, u)}]",
                         _fmt(d["p05"], u), _fmt(d["p50"], u), _fmt(d["p95"], u), u))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    fa = summary["kpis"].get("first_adequate_date")
    if fa and fa.get("share_never"):
        lines.append(f"first_adequate_date: never adequate within the horizon in "
                     f"{fa['share_never']:.0%} of replications (not in the statistics above)")
    if summary.get("by_cloud"):
        lines += ["", cloud_table(summary["by_cloud"])]
    return "\n".join(lines)


def _cell(v: float | None, unit: str) -> str:
    from capsim.experiments.runs import format_value

    if v is None or v != v:
        return "-"
    return f"{v:.3g}" if unit.endswith("tokens/s") else format_value(v, unit)


def cloud_table(by_cloud: dict) -> str:
    """Capacity and spend by cloud: mean [95% CI] of each per-cloud KPI."""
    metrics = list(next(iter(by_cloud.values())))
    rows = [("cloud", *(f"{m} ({next(iter(by_cloud.values()))[m]['unit']})" for m in metrics))]
    for cloud, ms in by_cloud.items():
        cells = []
        for m in metrics:
            d, u = ms[m], ms[m]["unit"]
            lo, hi = d["ci95"]
            cells.append(f"{_cell(d['mean'], u)} [{_cell(lo, u)}, {_cell(hi, u)}]")
        rows.append((cloud, *cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "By cloud (mean [95% CI]; energy and compute on the last day, spend over the run):\n" \
        + "\n".join(lines)


def _targets(items: list[str]) -> dict[str, float]:
    from capsim.models.capacity import KPIS, MILESTONES

    out = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if name not in KPIS + MILESTONES:
            raise UsageError(f"capsim run: --target-ci {item!r}: unknown KPI {name!r} "
                             f"(one of {', '.join(KPIS + MILESTONES)})")
        try:
            width = float(raw)
        except ValueError:
            raise UsageError(
                f"capsim run: --target-ci {item!r}: HALFWIDTH must be a number") from None
        if not sep or not width > 0:
            raise UsageError(f"capsim run: --target-ci {item!r}: HALFWIDTH must be > 0")
        out[name] = width
    return out


def cmd_run(a: argparse.Namespace) -> int:
    """Run (or resume) a scenario's replications into a run directory."""
    from capsim.experiments import runs
    from capsim.simcore.store import RunStore

    progress = False if a.no_progress else None
    if a.resume is not None:
        if a.scenario or a.overrides or a.out or a.force:
            raise UsageError("capsim run: --resume DIR takes no scenario, --set, --out or --force "
                             "(the run directory records them)")
        spec = runs.load_spec_from_run(a.resume, a.workers, a.executor, a.scheduler, progress)
        store = RunStore.open(a.resume, lock=True)
        if store.manifest().get("status") == "complete":
            raise UsageError(f"{a.resume}: run is already complete")
        store.update_manifest(executor=a.executor, workers=a.workers)
        out = a.resume
    else:
        scenario, text = load(a.scenario, a.overrides)
        out = a.out or Path("runs") / f"{scenario.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
        spec = runs.RunSpec(scenario, text, a.replications, a.seed, a.workers, a.executor,
                            a.scheduler, tuple(a.overrides), progress, _targets(a.targets),
                            max(a.max_replications, a.replications) if a.targets else None)
        if a.executor == "dask":
            try:
                import dask.distributed  # noqa: F401
            except ImportError:
                raise UsageError("capsim run: --executor dask needs the 'distributed' extra: "
                                 "pip install 'capsim[distributed]'") from None
        store = RunStore.create(out, runs.manifest_for(spec), force=a.force)
        store.write_text("scenario.toml", text)
    print(f"capsim: {spec.scenario.name}: {spec.replications} replications, seed {spec.seed}, "
          f"{spec.workers} worker(s) -> {out}", file=sys.stderr)
    try:
        summary = runs.execute(spec, store)
    except KeyboardInterrupt:
        n = len(store.done())
        print(f"\ncapsim: interrupted; {n} replications kept in {out} (status partial); "
              f"finish with: capsim run --resume {out}", file=sys.stderr)
        return 130
    finally:
        store.unlock()
    print(kpi_table(summary))
    for name, t in summary.get("targets", {}).items():
        state = "met" if t["met"] else "NOT met (cap reached)"
        print(f"target {name}: half-width {t['half_width']:.4g} vs wanted "
              f"{t['half_width_wanted']:.4g}: {state} with {summary['replications']} replications")
    print(f"\nrun directory: {out}  (summary.json, kpis.parquet, timeseries.parquet, plots/)")
    return 0


def cmd_scenarios(a: argparse.Namespace) -> int:
    """List the embedded scenarios."""
    for name in embedded_names():
        sc, _ = load(name)
        mark = " (default)" if name == DEFAULT_SCENARIO else ""
        print(f"{name}{mark}: {sc.scenario.title} [{sc.scenario.start} .. {sc.scenario.end}]")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    """Validate a scenario (with overrides) and print what it holds."""
    sc, text = load(a.scenario, a.overrides)
    n_params = text.count("source =") - len(sc.levers)  # a lever has a source too
    on = [n for n, c in sc.clouds.items() if c.enabled]
    off = [n for n, c in sc.clouds.items() if not c.enabled]
    print(f"{a.scenario or DEFAULT_SCENARIO}: ok: scenario {sc.name!r}, {sc.scenario.start} .. "
          f"{sc.scenario.end}, {len(sc.supply.generations)} chip generations, "
          f"{len(sc.datacenters.campuses)} campuses, {n_params} sourced parameters, "
          f"{len(sc.levers)} levers; clouds on: "
          f"{', '.join(on)}" + (f"; off: {', '.join(off)}" if off else ""))
    return 0


def cmd_plot(a: argparse.Namespace) -> int:
    """Redraw the plots of a finished run."""
    from capsim.experiments import runs
    from capsim.simcore.store import RunStore

    store = RunStore.open(a.run_dir)
    if not (a.run_dir / "timeseries.parquet").exists():
        raise UsageError(f"{a.run_dir}: no timeseries.parquet yet (run not finalised)")
    for p in runs.write_plots(store):
        print(p)
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    """Compare two runs: table, optional JSON and a plot."""
    from capsim.experiments import compare
    from capsim.simcore.store import atomic_write_bytes, dumps

    cmp = compare.compare_runs(a.run_a, a.run_b)
    print(compare.table(cmp))
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(cmp).encode())
        print(f"\njson: {a.json}")
    target = a.plot or a.run_b / "plots" / f"compare_vs_{a.run_a.resolve().name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"plot: {compare.plot(cmp, target)}")
    return 0


EXPERIMENTS = ("baseline", "expansion", "power_delay", "surge_stress", "multi_cloud",
               "milestone_funding", "procurement", "order_plan", "drivers")
"""Experiment scripts: each is `experiments/<name>.py` with DESCRIPTION and main(argv)."""


def cmd_experiment(a: argparse.Namespace) -> int:
    """List the experiment scripts, or run one."""
    import importlib

    if a.list or a.name is None:
        for name in EXPERIMENTS:
            mod = importlib.import_module(f"capsim.experiments.{name}")
            print(f"{name:18s} {mod.DESCRIPTION}")
        return 0
    if a.name not in EXPERIMENTS:
        import difflib

        close = difflib.get_close_matches(a.name, EXPERIMENTS, n=1)
        raise UsageError(f"capsim experiment: unknown experiment {a.name!r}"
                         + (f"; did you mean {close[0]!r}?" if close else "")
                         + f" (known: {', '.join(EXPERIMENTS)})")
    return importlib.import_module(f"capsim.experiments.{a.name}").main(a.args)


def cmd_sweep(a: argparse.Namespace) -> int:
    """Run a sampled parameter sweep."""
    from capsim.experiments import sweep

    params = sweep.parse_params(a.params)
    scenario_name = load(a.scenario, a.overrides)[0].name
    out = a.out or Path("runs") / f"sweep-{scenario_name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    print(f"capsim: sweep of {', '.join(params)}: {a.samples} points x {a.replications} "
          f"replications -> {out}", file=sys.stderr)
    table = sweep.run_sweep(a.scenario, a.overrides, params, a.samples, a.method, a.replications,
                            a.seed, a.workers, out, a.force)
    print(f"{len(table)} rows: {out / 'sweep.parquet'}; next: capsim sensitivity {out}")
    return 0


def cmd_sensitivity(a: argparse.Namespace) -> int:
    """Sobol'/Morris over a scenario's uncertain inputs, or PRCC of a sweep directory."""
    from capsim.experiments import sensitivity as gsa
    from capsim.simcore.store import atomic_write_bytes, dumps, is_run_dir

    kind = None
    if a.target is not None and Path(a.target).is_dir() and is_run_dir(Path(a.target)):
        kind = _dir_kind(Path(a.target))
    if kind == "sensitivity":  # resume (if partial) and analyse a design directory
        if a.method not in (None, "sobol", "morris"):
            raise UsageError(f"capsim sensitivity: {a.target} is a Sobol'/Morris design")
        r = gsa.resume(Path(a.target), a.workers, a.executor, False if a.no_progress else None)
    elif kind is not None or a.method == "prcc":
        if kind != "sweep":
            raise UsageError(f"capsim sensitivity: {a.target or 'no directory'}: PRCC needs a "
                             "sweep directory (capsim sweep ... --out DIR)")
        return _prcc(a)
    else:
        method = a.method or "sobol"
        name = load(a.target, a.overrides)[0].name
        stamp = f"{dt.datetime.now():%Y%m%d-%H%M%S}"
        out = a.out or Path("runs") / f"sensitivity-{name}-{method}-{stamp}"
        store = gsa.start(a.target, a.overrides, method, a.params, a.samples, a.replications,
                          a.seed, out, a.kpis, a.force)
        m = store.manifest()
        store.unlock()
        print(f"capsim: {method} design over {len(m['params'])} uncertain inputs: "
              f"{m['points']} points x {a.replications} replication(s) -> {out} "
              f"(resume with: capsim sensitivity {out})", file=sys.stderr)
        try:
            r = gsa.resume(out, a.workers, a.executor, False if a.no_progress else None)
        except KeyboardInterrupt:
            print(f"\ncapsim: interrupted; finish with: capsim sensitivity {out}", file=sys.stderr)
            return 130
    print(gsa.report(r))
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(r).encode())
    return 0


def _dir_kind(path: Path) -> str:
    """The `kind` a capsim directory's manifest records ("run" for a plain run)."""
    import json

    return str(json.loads((path / "manifest.json").read_text()).get("kind", "run"))


def _prcc(a: argparse.Namespace) -> int:
    """Rank a sweep's parameters by PRCC and look for a scenario-discovery box."""
    from capsim.experiments import sweep
    from capsim.simcore.store import atomic_write_bytes, dumps

    a.sweep_dir = Path(a.target)
    r = sweep.analyse(a.sweep_dir, (a.kpis or ["unserved_fraction"])[0], a.bootstrap)
    print(f"Sensitivity of {r['kpi']} over {r['points']} design points (PRCC, 95% bootstrap CI):")
    for i, e in enumerate(r["ranking"], 1):
        lo, hi = e["ci95"]
        print(f"  {i}. {e['param']:40s} {e['prcc']:+.2f}  [{lo:+.2f}, {hi:+.2f}]")
    b = r["box"]
    from capsim.models.capacity import HIGHER_IS_BETTER

    worse = "lower" if r["kpi"] in HIGHER_IS_BETTER else "higher"
    if b:
        print(f"Scenario discovery: {r['kpi']} is {worse} than its median in {b['density']:.0%} of "
              f"points with {b['param']} {b['side']} {b['threshold']:.4g} (vs {b['base_rate']:.0%} "
              f"overall; the box holds {b['coverage']:.0%} of those points).")
    plots_dir = a.sweep_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    kpi_plot = plots_dir / f"tornado_{r['kpi']}.png"
    print(f"tornado: {sweep.tornado(r, kpi_plot)}")
    discovery = sweep.discovery_plot(r, plots_dir / ("discovery_" + r["kpi"] + ".png"))
    print(f"scenario discovery plot: {discovery}")
    if a.json is not None:
        keep = {k: v for k, v in r.items() if k not in ("x", "y", "bad", "names")}
        atomic_write_bytes(a.json, dumps(keep).encode())
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    """Search the levers; check the best plan on fresh seeds; write the plan directory."""
    from capsim.experiments import plan

    name = load(a.scenario, a.overrides)[0].name
    out = a.out or Path("runs") / f"plan-{name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    spec = plan.PlanSpec(a.scenario, list(a.overrides), a.max_shortfall, a.objective, a.budget,
                         a.seed, a.reps, a.max_reps, a.check_reps, a.workers, a.executor,
                         a.threshold, a.window, a.robust, a.states,
                         False if a.no_progress else None)
    spec.check()
    print(f"capsim plan: {name}: {a.budget} candidates -> {out} (an interrupted search resumes "
          f"with the same command and --out {out})", file=sys.stderr)
    try:
        r = plan.plan(spec, out, a.force)
    except KeyboardInterrupt:
        print(f"\ncapsim plan: interrupted; resume with --out {out}", file=sys.stderr)
        return 130
    print(plan.report(r, out))
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    """Write the report of a run."""
    from capsim.experiments import report

    print(report.write(a.run_dir, a.out))
    return 0


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "experiment": cmd_experiment,
            "report": cmd_report, "sweep": cmd_sweep, "plan": cmd_plan,
            "sensitivity": cmd_sensitivity, "scenarios": cmd_scenarios, "validate": cmd_validate,
            "plot": cmd_plot}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `capsim` script."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ScenarioError as exc:
        for p in exc.problems:
            print(f"capsim: {exc.source}: {p}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"capsim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("capsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader closed the pipe (e.g. `| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # internal error: short message, details in a log
        fd, log = tempfile.mkstemp(prefix="capsim-error-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        print(f"capsim: internal error: {type(exc).__name__}: {exc} (details: {log})",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
