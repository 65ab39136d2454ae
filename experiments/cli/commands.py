"""The `capsim` command.

Exit codes:

- 0: done (bare `capsim` prints the help and exits 0).
- 1: internal error, a bug (a short message; the traceback goes to a log file it names).
- 2: a user mistake: bad scenario, value, option or directory (one line per problem,
  nothing changed on disk), or a scenario the model cannot compute (a non-finite result).
- 3: `--target-ci` not met within `--max-replications` (the run itself is complete).
- 74: the environment failed: disk full, read-only file system, permission denied
  (EX_IOERR of sysexits.h); the run is kept as "partial" and `--resume` finishes it.
- 130: interrupted by Ctrl-C; 143: stopped by SIGTERM (the run is kept as "partial").
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

from capsim.experiments import questions
from capsim.experiments.pipelines.checks import UsageError, int_at_least
from capsim.models.scenario import DEFAULT_SCENARIO, ScenarioError, embedded_names, load
from capsim.simcore.executors import EXECUTORS
from capsim.simcore.store import StoreError

DEFAULT_REPLICATIONS = 100  # ~1 minute on 2 cores for the default scenario
DEFAULT_SEED = 2026
DEFAULT_MAX_REPLICATIONS = 2000

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_TARGET_NOT_MET = 0, 1, 2, 3
EXIT_ENVIRONMENT = 74  # EX_IOERR
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 128 + signal.SIGTERM

ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                      errno.EIO, errno.EFBIG, errno.EMFILE, errno.ENFILE}
"""OSErrors that are the machine's state (disk, permissions), not capsim's bug."""
_ENVIRONMENT_TEXT = ("No space left on device", "Read-only file system", "Permission denied",
                     "Disk quota exceeded", "File too large")


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled like Ctrl-C (the run is kept as "partial"), but exits 143."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one message, one clean-up
    raise Terminated()


def environment_error(exc: BaseException) -> str | None:
    """A one-line description if `exc` is an environment error (disk, permissions), else None."""
    if not isinstance(exc, OSError):
        return None
    text = str(exc)
    if exc.errno in ENVIRONMENT_ERRNOS:
        what = exc.strerror or os.strerror(exc.errno)
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write or read{where}: {what}"
    for t in _ENVIRONMENT_TEXT:  # Arrow's I/O errors carry no errno
        if t in text:
            return f"{t} ({text.splitlines()[0][:200]})"
    return None


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


class _Help(argparse.HelpFormatter):
    """Help that shows every option's default (unless the help text already gives it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if ("default" not in text and "%(default)" not in text and action.option_strings
                and d not in (None, False, [], argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from capsim import __version__

    p = _Parser(prog="capsim", description="Will AI compute capacity keep up with demand? "
                "Monte Carlo discrete-event simulation.",
                epilog="Exit codes: 0 done, 1 internal error, 2 user mistake, 3 --target-ci "
                "not met, 74 disk or permission problem, 130 Ctrl-C, 143 SIGTERM.")
    p.add_argument("--version", action="version", version=f"capsim {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    r = sub.add_parser("run", help="run a scenario's Monte Carlo replications")
    r.add_argument("scenario", nargs="?", default=None,
                   help=f"TOML file or embedded scenario name (default: {DEFAULT_SCENARIO})")
    r.add_argument("--replications", "-n", type=int_at_least(1, "--replications"),
                   default=None, metavar="N",
                   help=f"replications, each a whole horizon (default {DEFAULT_REPLICATIONS}; "
                        "with --resume: the run's)")
    r.add_argument("--seed", type=int_at_least(0, "--seed"), default=None,
                   help=f"root seed, an integer >= 0 (default {DEFAULT_SEED}; with --resume: "
                        "the run's)")
    r.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                   default=os.cpu_count() or 1,
                   help="parallel worker processes (default: all cores, here %(default)s)")
    r.add_argument("--executor", choices=EXECUTORS, default="processes",
                   help="where replications run: serial (this process, 1 worker), processes "
                        "(local pool) or dask (default: processes)")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://host:8786 (with --executor dask; "
                        "default: a local cluster)")
    r.add_argument("--out", "-o", type=Path, default=None, metavar="DIR",
                   help="run directory (default: runs/<scenario>-<timestamp>)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value in TOML syntax, e.g. "
                        "demand.growth_multiplier=1.5 (repeatable; default: none)")
    r.add_argument("--force", action="store_true",
                   help="replace an existing run directory that holds only capsim's files "
                        "(default: refuse)")
    r.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help="finish the replications, tables, summary and plots of a partial run")
    r.add_argument("--target-ci", dest="targets", action="append", default=[],
                   metavar="KPI=HALFWIDTH",
                   help="add replications until the KPI's 95%% interval half-width (in the "
                        "KPI's unit) is at most HALFWIDTH, starting from --replications; exit 3 "
                        "if --max-replications is reached first (default: none)")
    r.add_argument("--max-replications", type=int_at_least(1, "--max-replications"),
                   default=None, metavar="N",
                   help=f"cap for --target-ci, >= --replications (default "
                        f"{DEFAULT_MAX_REPLICATIONS})")
    r.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar when stderr is a terminal)")
    r.add_argument("--posterior", type=Path, default=None, metavar="DIR",
                   help="draw each replication's uncertain inputs from a calibration's "
                        "posterior (DIR of capsim calibrate, or its posterior.parquet; "
                        "default: the scenario's own, if any)")

    from capsim.experiments.pipelines.calibrate import add_parser as _calibrate_parser

    _calibrate_parser(sub)

    sub.add_parser("scenarios", help="list the embedded scenarios")
    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario", nargs="?", default=None,
                   help=f"TOML file or embedded scenario name (default: {DEFAULT_SCENARIO})")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value (repeatable; default: none)")

    c = sub.add_parser("compare", help="compare run B against run A (paired when seeds match)")
    c.add_argument("run_a", type=Path, help="run directory A (the reference)")
    c.add_argument("run_b", type=Path, help="run directory B")
    c.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="write the comparison as JSON")
    c.add_argument("--plot", type=Path, nargs="?", default=None, const="", metavar="FILE",
                   help="draw an overlay plot into FILE, .png or .svg (bare --plot: "
                        "./compare_<A>_vs_<B>.png; default: none; the runs are only read)")

    e = sub.add_parser("experiment", help="run an experiment script (--list shows them)")
    e.add_argument("--list", action="store_true", help="list the experiments")
    e.add_argument("name", nargs="?", default=None, help="the experiment to run")
    e.add_argument("args", nargs=argparse.REMAINDER, help="the experiment's own arguments")

    sw = sub.add_parser("sweep", help="sample scenario inputs over ranges (LHS or Sobol)")
    sw.add_argument("scenario", nargs="?", default=None,
                    help=f"TOML file or embedded scenario name (default: {DEFAULT_SCENARIO})")
    sw.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=LOW:HIGH",
                    help="a scenario key and its range, in the key's unit (repeatable)")
    sw.add_argument("--samples", type=int_at_least(2, "--samples"), default=32,
                    help="design points")
    sw.add_argument("--method", choices=("lhs", "sobol"), default="lhs", help="design")
    sw.add_argument("--replications", "-n", type=int_at_least(1, "--replications"), default=4,
                    help="per design point, the same for every point (default 4)")
    sw.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED,
                    help="root seed")
    sw.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                    default=os.cpu_count() or 1, help="parallel worker processes")
    sw.add_argument("--out", "-o", type=Path, default=None, metavar="DIR",
                    help="sweep directory (default: runs/sweep-<scenario>-<timestamp>)")
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override applied to every point (repeatable; default: none)")
    sw.add_argument("--force", action="store_true",
                    help="replace an existing sweep directory (default: refuse)")
    sw.add_argument("--no-progress", action="store_true",
                    help="no progress bar (default: a bar when stderr is a terminal)")

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
    se.add_argument("--bootstrap", type=int_at_least(20, "--bootstrap"), default=200,
                    help="bootstrap resamples for the intervals (default 200)")
    se.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="write the result as JSON (default: none)")
    se.add_argument("--param", dest="params", action="append", default=[], metavar="KEY",
                    help="an uncertain input (e.g. demand.growth_by_period[2].rate) or a "
                         "prefix (demand.) to vary; default: all")
    se.add_argument("--samples", type=int_at_least(2, "--samples"), default=None,
                    help="sobol: base samples N (N x (inputs + 2) points, default 16); "
                         "morris: trajectories (default 10)")
    se.add_argument("--replications", "-n", type=int_at_least(1, "--replications"), default=1,
                    help="per design point, the same seeds for every point (default 1)")
    se.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED,
                    help=f"seed of the design and the replications (default {DEFAULT_SEED})")
    se.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                    default=os.cpu_count() or 1,
                    help="parallel worker processes (default: all cores, here %(default)s)")
    se.add_argument("--executor", choices=EXECUTORS, default="processes",
                    help="where replications run (default: processes)")
    se.add_argument("--out", "-o", type=Path, default=None, metavar="DIR",
                    help="sensitivity directory (default: runs/sensitivity-<scenario>-<time>)")
    se.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override applied to every point (repeatable; default: none)")
    se.add_argument("--force", action="store_true",
                    help="replace a finished directory (default: refuse)")
    se.add_argument("--no-progress", action="store_true",
                    help="no progress bar (default: a bar when stderr is a terminal)")

    pn = sub.add_parser("plan", help="search the scenario's levers for the cheapest plan that "
                        "keeps P(short month) under a target")
    pn.add_argument("scenario", nargs="?", default=None,
                    help="TOML file or embedded scenario name (default: the default scenario)")
    pn.add_argument("--max-shortfall", type=float, default=0.10, metavar="P",
                    help="largest acceptable P(some month of the window is short) (default 0.1)")
    pn.add_argument("--objective", choices=("spend", "spend_plus_lost", "stranded"),
                    default="spend", help="what the plan minimises (default: spend)")
    pn.add_argument("--budget", type=int_at_least(1, "--budget"), default=40,
                    help="candidates to evaluate (default 40: ~10-20 minutes on 2 cores)")
    pn.add_argument("--reps", type=int_at_least(2, "--reps"), default=8,
                    help="first replications per candidate (default 8)")
    pn.add_argument("--max-reps", type=int_at_least(2, "--max-reps"), default=32,
                    help="replications for close candidates and the best few (default 32)")
    pn.add_argument("--check-reps", type=int_at_least(2, "--check-reps"), default=100,
                    help="fresh-seed replications of the plan and the own policy (default 100)")
    pn.add_argument("--threshold", type=float, default=None,
                    help="a month is short when more than this share of its demand is unserved "
                         "(default: the scenario's service.short_month_threshold, 0.01)")
    pn.add_argument("--window", default=None, metavar="FROM:TO",
                    help="evaluation window, YYYY-MM-DD:YYYY-MM-DD (default: the scenario's "
                         "evaluation window)")
    pn.add_argument("--robust", type=int_at_least(0, "--robust"), default=3,
                    help="best plans to test across the uncertain inputs (0: skip)")
    pn.add_argument("--states", type=int_at_least(4, "--states"), default=48,
                    help="states of the world for the robustness test (default 48)")
    pn.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED,
                    help=f"seed of the search and of its replications (default {DEFAULT_SEED})")
    pn.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                    default=os.cpu_count() or 1,
                    help="parallel worker processes (default: all cores, here %(default)s)")
    pn.add_argument("--executor", choices=EXECUTORS, default="processes",
                    help="where replications run (default: processes)")
    pn.add_argument("--out", "-o", type=Path, default=None,
                    help="plan directory (an unfinished one is resumed)")
    pn.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a scenario value (repeatable; default: none)")
    pn.add_argument("--force", action="store_true", help="replace a finished plan directory")
    pn.add_argument("--no-progress", action="store_true",
                    help="no progress bar (default: a bar when stderr is a terminal)")

    rp = sub.add_parser("report", help="write a self-contained HTML report of a run")
    rp.add_argument("run_dir", type=Path, help="a complete run directory")
    rp.add_argument("--out", type=Path, default=None, metavar="FILE",
                    help="default: DIR/report.html, or ./<run>-report.html when DIR is read-only")
    rp.add_argument("--sensitivity", type=Path, default=None, metavar="PATH",
                    help="a sweep directory or its sensitivity_<kpi>.json: the report names "
                         "the three strongest drivers (default: none)")

    pl = sub.add_parser("plot", help="redraw the plots of a run directory")
    pl.add_argument("run_dir", type=Path, help="a complete run directory")
    pl.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="default: DIR/plots, or ./<run>-plots when DIR is read-only")
    pl.add_argument("--format", choices=("png", "svg"), default="png",
                    help="png (raster, default) or svg (vector, for papers)")
    pl.add_argument("--dpi", type=int_at_least(30, "--dpi"), default=150,
                    help="resolution of png files (default 150)")
    return p


# ---------------------------------------------------------------------------
def kpi_table(summary: dict) -> str:
    """A plain-text table of the summary's KPIs and milestones."""
    from capsim.experiments.pipelines.runs import format_value as _fmt

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
    fs = summary["kpis"].get("first_short_month")
    if fs and fs.get("share_never"):
        lines.append(f"first_short_month: no short month in the window in "
                     f"{fs['share_never']:.0%} of replications (not in the statistics above)")
    if summary.get("by_cloud"):
        lines += ["", cloud_table(summary["by_cloud"])]
    return "\n".join(lines)


def _cell(v: float | None, unit: str) -> str:
    from capsim.experiments.pipelines.runs import format_value

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
    from capsim.experiments.pipelines import runs
    from capsim.models import validation
    from capsim.simcore.store import RunStore

    progress = False if a.no_progress else None
    workers = 1 if a.executor == "serial" else a.workers
    if a.resume is not None:
        given = [name for name, v in (("a scenario", a.scenario), ("--set", a.overrides),
                                      ("--out", a.out), ("--force", a.force),
                                      ("--target-ci", a.targets),
                                      ("--max-replications", a.max_replications)) if v]
        if given:
            raise UsageError(f"capsim run: --resume DIR takes no {', '.join(given)} (the run "
                             "directory records them)")
        spec = runs.load_spec_from_run(a.resume, workers, a.executor, a.scheduler, progress)
        for opt, mine, theirs in (("--seed", a.seed, spec.seed),
                                  ("--replications", a.replications, spec.replications)):
            if mine is not None and mine != theirs:
                raise UsageError(f"capsim run: --resume {a.resume}: {opt} {mine} disagrees with "
                                 f"the run's {theirs}; leave {opt} out to finish the run as "
                                 "it was started")
        store = RunStore.open(a.resume, lock=True)
        if store.manifest().get("status") == "complete":
            return _complete_outputs(store)
        store.update_manifest(executor=a.executor, workers=workers)
        # A report of the partial run would describe fewer replications than the tables:
        # it goes, and `capsim report` writes the finished run's.
        (store.path / "report.html").unlink(missing_ok=True)
        out = a.resume
    else:
        n = a.replications if a.replications is not None else DEFAULT_REPLICATIONS
        targets = _targets(a.targets)
        if a.max_replications is not None and not targets:
            raise UsageError("capsim run: --max-replications is the cap of --target-ci; give "
                             "--target-ci KPI=HALFWIDTH too, or leave it out")
        if a.max_replications is not None and a.max_replications < n:
            raise UsageError(f"capsim run: --max-replications {a.max_replications} is below "
                             f"--replications {n}")
        if a.posterior is not None:
            a.overrides = [*a.overrides, f"scenario.posterior={str(a.posterior.resolve())!r}"]
        scenario, text = load(a.scenario, a.overrides)
        try:
            validation.check_resources(scenario, workers)
        except validation.ResourceLimit as exc:
            raise ScenarioError(a.scenario or DEFAULT_SCENARIO,
                                [f"{exc} (try fewer --workers)"]) from None
        out = a.out or Path("runs") / f"{scenario.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
        spec = runs.RunSpec(scenario, text, n,
                            a.seed if a.seed is not None else DEFAULT_SEED, workers, a.executor,
                            a.scheduler, tuple(a.overrides), progress, targets,
                            (a.max_replications or max(DEFAULT_MAX_REPLICATIONS, n))
                            if targets else None)
        if a.executor == "dask":
            try:
                import dask.distributed  # noqa: F401
            except ImportError:
                raise UsageError("capsim run: --executor dask needs the 'distributed' extra: "
                                 "pip install 'capsim[distributed]'") from None
        store = RunStore.create(out, runs.manifest_for(spec), force=a.force)
        try:
            store.write_text("scenario.toml", text)
        except BaseException:
            store.unlock()
            raise
    print(f"capsim: {spec.scenario.name}: {spec.replications} replications, seed {spec.seed}, "
          f"{spec.workers} worker(s) -> {out}", file=sys.stderr)
    try:
        summary = runs.execute(spec, store)
    except KeyboardInterrupt as exc:
        what = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        print(f"capsim: {what}; {_kept(store)} kept in {out} (status partial); finish with: "
              f"capsim run --resume {out}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except OSError as exc:
        msg = environment_error(exc)
        if msg is None:
            raise
        print(f"capsim: {msg}; {_kept(store)} kept in {out} (status partial); when fixed, "
              f"finish with: capsim run --resume {out}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    finally:
        store.unlock()
    print(kpi_table(summary))
    if summary.get("history"):
        from capsim.models.history import headline

        print("\n" + headline(summary["history"]))
    unmet = False
    for name, t in summary.get("targets", {}).items():
        state = "met" if t["met"] else "NOT met (cap reached)"
        unmet = unmet or not t["met"]
        print(f"target {name}: half-width {t['half_width']:.4g} vs wanted "
              f"{t['half_width_wanted']:.4g}: {state} with {summary['replications']} replications")
    print(f"\nrun directory: {out}  (summary.json, kpis.parquet, timeseries.parquet, plots/)")
    if unmet:
        print(f"capsim: --target-ci not met within {spec.max_replications} replications "
              f"(exit {EXIT_TARGET_NOT_MET}); raise --max-replications or widen the target",
              file=sys.stderr)
        return EXIT_TARGET_NOT_MET
    return EXIT_OK


def _kept(store) -> str:
    n = len(store.done())
    return f"{n} replication{'' if n == 1 else 's'}"


def _complete_outputs(store) -> int:
    """`--resume` of a complete run: redraw a lost summary or plots, else exit 2."""
    from capsim.experiments.pipelines import repair

    try:
        missing = repair.missing_outputs(store)
        if not missing:
            raise UsageError(f"capsim run: {store.path}: run is already complete")
        print(f"capsim: {store.path}: complete but missing {', '.join(missing[:3])}"
              f"{' ...' if len(missing) > 3 else ''}; writing them from its tables",
              file=sys.stderr)
        try:
            summary = repair.complete_outputs(store)
        except FileNotFoundError as exc:
            raise UsageError(f"capsim run: {exc}") from None
    finally:
        store.unlock()
    print(kpi_table(summary))
    return EXIT_OK


def cmd_calibrate(a: argparse.Namespace) -> int:
    """Condition the scenario's uncertain inputs on the public record."""
    from capsim.experiments.pipelines.calibrate import cmd

    return cmd(a)


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


def _run_dir(path: Path, command: str, finished: bool = True):
    """The RunStore of a run directory for a reading command, or a UsageError (exit 2).

    Refuses a missing path, a directory that is not a run, a sweep, and (with `finished`)
    a run that is not complete. Never writes.
    """
    from capsim.simcore.store import RunStore, is_run_dir

    where = f"capsim {command}: {path}"
    if not path.exists():
        raise UsageError(f"{where}: no such directory")
    if not is_run_dir(path):
        raise UsageError(f"{where}: not a capsim run directory (no readable manifest.json; "
                         "`capsim run` makes one)")
    store = RunStore.open(path)
    m = store.manifest()
    if m.get("kind") == "sweep":
        raise UsageError(f"{where}: is a sweep, not a run; `capsim sensitivity {path}` "
                         "analyses a sweep")
    if finished and (m.get("status") != "complete" or not (path / "summary.json").exists()
                     or not (path / "timeseries.parquet").exists()):
        raise UsageError(f"{where}: run is not complete (status {m.get('status')!r}); finish "
                         f"it with: capsim run --resume {path}")
    if not finished and not store.done() and not (path / "kpis.parquet").exists():
        raise UsageError(f"{where}: run has no finished replication yet")
    return store


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def cmd_plot(a: argparse.Namespace) -> int:
    """Redraw the plots of a finished run (elsewhere when the run is read-only)."""
    from capsim.experiments.pipelines import runs

    store = _run_dir(a.run_dir, "plot")
    out = a.out
    if out is None:
        out = a.run_dir / "plots"
        if not _writable(a.run_dir) or (out.exists() and not _writable(out)):
            out = Path(f"{a.run_dir.resolve().name}-plots")
            print(f"capsim plot: {a.run_dir} is read-only; drawing into {out}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    made = runs.write_plots(store, out, a.format, a.dpi)
    if out.resolve() == (a.run_dir / "plots").resolve():
        listed = set(store.manifest().get("plots") or [])
        store.update_manifest(plots=sorted(listed | {p.name for p in made}))
    for p in made:
        print(p)
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    """Compare two runs: table, optional JSON and plot (the runs are only read)."""
    from capsim.experiments.pipelines import compare
    from capsim.simcore.store import atomic_write_bytes, dumps

    _run_dir(a.run_a, "compare", finished=False)
    _run_dir(a.run_b, "compare", finished=False)
    cmp = compare.compare_runs(a.run_a, a.run_b)
    for m in cmp["warnings"]:
        print(f"capsim compare: warning: {m}", file=sys.stderr)
    print(compare.table(cmp))
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(cmp).encode())
        print(f"\njson: {a.json}")
    if a.plot is not None:
        # The runs are only read: a bare --plot (const "", which argparse turns into
        # Path(".")) draws into the current directory.
        target = a.plot if a.plot != Path("") else Path(
            f"compare_{a.run_a.resolve().name}_vs_{a.run_b.resolve().name}.png")
        if target.suffix.lower() not in (".png", ".svg"):
            raise UsageError(f"capsim compare: --plot {target}: the file name must end in .png "
                             "or .svg")
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"plot: {compare.plot(cmp, target)}")
    return 0


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


def cmd_sweep(a: argparse.Namespace) -> int:
    """Run a sampled parameter sweep."""
    from capsim.experiments.pipelines import sweep

    params = sweep.parse_params(a.params)
    scenario_name = load(a.scenario, a.overrides)[0].name
    out = a.out or Path("runs") / f"sweep-{scenario_name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    print(f"capsim: sweep of {', '.join(params)}: {a.samples} points x {a.replications} "
          f"replications -> {out}", file=sys.stderr)
    table = sweep.run_sweep(a.scenario, a.overrides, params, a.samples, a.method, a.replications,
                            a.seed, a.workers, out, a.force,
                            progress=False if a.no_progress else None)
    print(f"{len(table)} rows: {out / 'sweep.parquet'}; next: capsim sensitivity {out}")
    return 0


def cmd_sensitivity(a: argparse.Namespace) -> int:
    """Sobol'/Morris over a scenario's uncertain inputs, or PRCC of a sweep directory."""
    from capsim.experiments.pipelines import sensitivity as gsa
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
    from capsim.experiments.pipelines import sweep
    from capsim.simcore.store import atomic_write_bytes, dumps

    a.sweep_dir = Path(a.target)
    r = sweep.analyse(a.sweep_dir, (a.kpis or ["unserved_fraction"])[0], a.bootstrap)
    for m in r["warnings"]:
        print(f"capsim sensitivity: warning: {m}", file=sys.stderr)
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
    for m in r["warnings"]:
        print(f"warning: {m}")
    plots_dir = a.sweep_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    page = sweep.footer(a.sweep_dir, r)
    kpi_plot = plots_dir / f"tornado_{r['kpi']}.png"
    print(f"tornado: {sweep.tornado(r, kpi_plot, page)}")
    discovery = sweep.discovery_plot(r, plots_dir / ("discovery_" + r["kpi"] + ".png"), page)
    print(f"scenario discovery plot: {discovery}")
    # The result, warnings and dropped points included, is always recorded beside the sweep.
    keep = {k: v for k, v in r.items() if k not in ("x", "y", "bad", "names")}
    record = a.sweep_dir / f"sensitivity_{r['kpi']}.json"
    atomic_write_bytes(record, dumps(keep).encode())
    print(f"result: {record}")
    if a.json is not None:
        atomic_write_bytes(a.json, dumps(keep).encode())
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    """Search the levers; check the best plan on fresh seeds; write the plan directory."""
    from capsim.experiments.pipelines import plan

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
    """Write the report of a finished run (beside it when the run is read-only)."""
    from capsim.experiments.pipelines import report

    _run_dir(a.run_dir, "report")
    out = a.out
    if out is None and not _writable(a.run_dir):
        out = Path(f"{a.run_dir.resolve().name}-report.html")
        print(f"capsim report: {a.run_dir} is read-only; writing {out}", file=sys.stderr)
    print(report.write(a.run_dir, out, a.sensitivity))
    return 0


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "experiment": cmd_experiment,
            "report": cmd_report, "sweep": cmd_sweep, "plan": cmd_plan,
            "sensitivity": cmd_sensitivity, "scenarios": cmd_scenarios, "validate": cmd_validate,
            "plot": cmd_plot, "calibrate": cmd_calibrate}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `capsim` script; returns the exit code (see the module docstring)."""
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:  # bare `capsim`: the help, and a clean exit
            parser.print_help()
            return EXIT_OK
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except ScenarioError as exc:
        for p in exc.problems:
            print(f"capsim: {exc.source}: {p}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"capsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            print("capsim: stopped by SIGTERM", file=sys.stderr)
            return EXIT_TERMINATED
        print("capsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader closed the pipe (e.g. `| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        msg = environment_error(exc)
        if msg is not None:
            print(f"capsim: {msg}", file=sys.stderr)
            return EXIT_ENVIRONMENT
        # Internal error: short message, details in a log.
        fd, log = tempfile.mkstemp(prefix="capsim-error-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        print(f"capsim: internal error: {type(exc).__name__}: {exc} (details: {log})",
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
