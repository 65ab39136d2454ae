"""The `capsim` command's argument parser: one function per sub-command, shared options.

Options that several commands take (scenario, --set, --seed, --workers, --executor, --out,
--force, --no-progress; --quiet and --verbose, before or after the command) are added by
the `_scenario`, `_overrides`, ... helpers, so that they read and check the same
everywhere. Defaults come from
`capsim.experiments.pipelines.checks`, the module the API takes them from.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import NoReturn

from capsim.experiments.pipelines.backtest import DEFAULT_POINTS as BACKTEST_POINTS
from capsim.experiments.pipelines.calibrate import DEFAULT_POINTS
from capsim.experiments.pipelines.checks import (
    DEFAULT_MAX_REPLICATIONS,
    DEFAULT_REPLICATIONS,
    DEFAULT_SEED,
    UsageError,
    default_workers,
    int_at_least,
)
from capsim.models.scenario import DEFAULT_SCENARIO
from capsim.simcore.executors import EXECUTORS

_PROGRESS = "no progress bar (default: a bar when stderr is a terminal)"
_CORES = "parallel worker processes (default: all cores, here %(default)s)"


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


# -------------------------------------------------------------------- shared options
def _scenario(p: argparse.ArgumentParser, text: str | None = None) -> None:
    p.add_argument("scenario", nargs="?", default=None, help=text or
                   f"TOML file or embedded scenario name (default: {DEFAULT_SCENARIO})")


def _overrides(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=text)


def _seed(p: argparse.ArgumentParser, text: str, default: int | None = DEFAULT_SEED) -> None:
    p.add_argument("--seed", type=int_at_least(0, "--seed"), default=default, help=text)


def _workers(p: argparse.ArgumentParser, text: str = _CORES) -> None:
    p.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                   default=default_workers(), help=text)


def _executor(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--executor", choices=EXECUTORS, default="processes", help=text)


def _flags(p: argparse.ArgumentParser, force: str) -> None:
    """--force and --no-progress."""
    p.add_argument("--force", action="store_true", help=force)
    p.add_argument("--no-progress", action="store_true", help=_PROGRESS)


_SET_EVERY_POINT = "override applied to every point (repeatable; default: none)"
_SET_ONE = "override a scenario value (repeatable; default: none)"


# ----------------------------------------------------------------------- sub-commands
def _run(sub) -> None:
    r = sub.add_parser("run", help="run a scenario's Monte Carlo replications")
    _scenario(r)
    r.add_argument("--replications", "-n", type=int_at_least(1, "--replications"),
                   default=None, metavar="N",
                   help=f"replications, each a whole horizon (default {DEFAULT_REPLICATIONS}; "
                        "with --resume: the run's)")
    _seed(r, f"root seed, an integer >= 0 (default {DEFAULT_SEED}; with --resume: the run's)",
          default=None)
    _workers(r)
    _executor(r, "where replications run: serial (this process, 1 worker), processes "
                 "(local pool) or dask (default: processes)")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://host:8786 (with --executor dask; "
                        "default: a local cluster)")
    r.add_argument("--out", "-o", type=Path, default=None, metavar="DIR",
                   help="run directory (default: runs/<scenario>-<timestamp>)")
    _overrides(r, "override a scenario value in TOML syntax, e.g. "
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
    r.add_argument("--series", default=None, metavar="all|essential|NAME,...",
                   help="daily series timeseries.parquet keeps: all, essential (those the "
                        "plots, report and history read), or names kept with the essential "
                        "ones, comma-separated (default: all)")
    r.add_argument("--no-progress", action="store_true", help=_PROGRESS)
    r.add_argument("--all", action="store_true",
                   help="print every KPI with its percentiles (default: the headline KPIs)")
    r.add_argument("--report", action="store_true",
                   help="also write the HTML report, DIR/report.html (default: no)")
    r.add_argument("--posterior", type=Path, default=None, metavar="DIR",
                   help="draw each replication's uncertain inputs from a calibration's "
                        "posterior (DIR of capsim calibrate, or its posterior.parquet; "
                        "default: the scenario's own, if any)")
    r.add_argument("--prior", action="store_true",
                   help="draw each replication's uncertain inputs from the priors, not the "
                        "posterior the scenario names (default: the scenario's posterior)")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _calibrate(sub) -> None:
    c = sub.add_parser("calibrate", help="condition the scenario's uncertain inputs on the "
                       "public record (history matching)")
    _scenario(c, "TOML file or embedded scenario name (default: the default scenario)")
    c.add_argument("--observations", type=Path, default=None, metavar="FILE",
                   help="observation file (default: the scenario's own)")
    c.add_argument("--holdout-after", type=_date, default=None, metavar="DATE",
                   help="fit only observations up to DATE; report the later ones out of sample")
    c.add_argument("--out", "-o", type=Path, required=True, help="directory to write")
    c.add_argument("--points", type=int_at_least(10, "--points"), default=DEFAULT_POINTS,
                   help=f"design points, one simulation each (default {DEFAULT_POINTS})")
    _seed(c, f"seed of the design and the simulations (default {DEFAULT_SEED})")
    _workers(c)
    c.add_argument("--cutoff", type=float, default=3.0,
                   help="implausibility cut-off (default 3)")
    c.add_argument("--discrepancy", type=float, default=0.1,
                   help="model-discrepancy sd on the log scale (default 0.1, about 10%%)")
    c.add_argument("--reuse", type=Path, default=None, metavar="DIR",
                   help="match the simulated design of an earlier calibration (same scenario, "
                        "observations, seed and points) instead of simulating it again")
    _overrides(c, _SET_ONE)
    _flags(c, "write into a non-empty directory (default: refuse)")


def _backtest(sub) -> None:
    c = sub.add_parser("backtest", help="calibrate at several origins with priors of their "
                       "vintage; score the forecasts of what came later against baselines")
    _scenario(c, "TOML file or embedded scenario name (default: the default scenario)")
    c.add_argument("--observations", type=Path, default=None, metavar="FILE",
                   help="observation file (default: the scenario's own)")
    c.add_argument("--origin", dest="origins", type=_date, action="append", default=[],
                   metavar="DATE", help="an origin (repeatable; default: every quarter end "
                   "from 2024-12-31 with a later observation)")
    c.add_argument("--out", "-o", type=Path, required=True,
                   help="directory to write (run again to resume)")
    c.add_argument("--points", type=int_at_least(10, "--points"), default=BACKTEST_POINTS,
                   help=f"design points per set of priors (default {BACKTEST_POINTS})")
    _seed(c, f"seed of the designs and the simulations (default {DEFAULT_SEED})")
    _workers(c)
    c.add_argument("--cutoff", type=float, default=3.0,
                   help="implausibility cut-off (default 3)")
    c.add_argument("--discrepancy", type=float, default=0.1,
                   help="model-discrepancy sd on the log scale (default 0.1, about 10%%)")
    _overrides(c, _SET_ONE)
    _flags(c, "write into a non-empty directory that is not a backtest (default: refuse)")


def _small(sub) -> None:
    """The small commands: scenarios, validate, compare, experiment."""
    sub.add_parser("scenarios", help="list the embedded scenarios")
    v = sub.add_parser("validate", help="check a scenario file")
    _scenario(v)
    _overrides(v, _SET_ONE)

    k = sub.add_parser("keys", help="list a scenario's settable keys: value, unit, source")
    _scenario(k)
    k.add_argument("pattern", nargs="?", default=None, metavar="PATTERN",
                   help="keep keys containing PATTERN, or matching it as a glob with * or ? "
                        "(default: every key)")
    _overrides(k, _SET_ONE)
    m = sub.add_parser("kpis", help="list the KPI and series names: unit, kind, definition")
    m.add_argument("pattern", nargs="?", default=None, metavar="PATTERN",
                   help="keep names or definitions containing PATTERN (default: all)")

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


def _sweep(sub) -> None:
    sw = sub.add_parser("sweep", help="sample scenario inputs over ranges (LHS or Sobol)")
    _scenario(sw)
    sw.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=LOW:HIGH",
                    help="a scenario key and its range, in the key's unit (repeatable)")
    sw.add_argument("--samples", type=int_at_least(2, "--samples"), default=32,
                    help="design points")
    sw.add_argument("--method", choices=("lhs", "sobol"), default="lhs", help="design")
    sw.add_argument("--replications", "-n", type=int_at_least(1, "--replications"), default=4,
                    help="per design point, the same for every point (default 4)")
    _seed(sw, "root seed")
    _workers(sw, "parallel worker processes")
    sw.add_argument("--out", "-o", type=Path, default=None, metavar="DIR",
                    help="sweep directory (default: runs/sweep-<scenario>-<timestamp>)")
    _overrides(sw, _SET_EVERY_POINT)
    _flags(sw, "replace an existing sweep directory (default: refuse)")


def _sensitivity(sub) -> None:
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
    _seed(se, f"seed of the design and the replications (default {DEFAULT_SEED})")
    _workers(se)
    _executor(se, "where replications run (default: processes)")
    se.add_argument("--out", "-o", type=Path, default=None, metavar="DIR",
                    help="sensitivity directory (default: runs/sensitivity-<scenario>-<time>)")
    _overrides(se, _SET_EVERY_POINT)
    _flags(se, "replace a finished directory (default: refuse)")
    gr = se.add_argument_group("grouped, converging (--groups)")
    gr.add_argument("--groups", action="store_true",
                    help="inputs in named groups: Morris screening, then Sobol' of the groups "
                         "that matter with N doubling (from --samples, default 32) until every "
                         "total order half-width <= --half-width or --max-points is reached")
    gr.add_argument("--half-width", type=float, default=0.05,
                    help="95%% half-width every total order index must reach (default 0.05)")
    gr.add_argument("--max-points", type=int_at_least(1, "--max-points"), default=6000,
                    help="budget of Sobol' design points (default 6000)")
    gr.add_argument("--trajectories", type=int_at_least(2, "--trajectories"), default=8,
                    help="Morris trajectories of the screening (default 8)")


def _value_of_information(sub) -> None:
    vp = sub.add_parser("value-of-information", help="what each candidate next observation "
                        "(the scenario's [value_of_information]) is worth to the plan")
    _scenario(vp, "TOML file or embedded scenario name (default: the default scenario)")
    vp.add_argument("--states", type=int_at_least(8, "--states"), default=48,
                    help="states of the world: replications every plan runs (default 48)")
    vp.add_argument("--plans", type=int_at_least(2, "--plans"), default=5,
                    help="plans without --plan: the own policy and a lever hypercube (default 5)")
    vp.add_argument("--plan", dest="plan_dir", default=None, metavar="DIR",
                    help="a finished `capsim plan` directory: its frontier and chosen plan")
    _seed(vp, f"seed of the states, the plans and the measurement errors (default "
              f"{DEFAULT_SEED})")
    _workers(vp)
    _executor(vp, "where replications run (default: processes)")
    vp.add_argument("--out", "-o", type=Path, default=None,
                    help="directory (default: runs/voi-<scenario>); the same command again "
                         "reuses its replications")
    _overrides(vp, _SET_ONE)
    _flags(vp, "replace a finished directory")


def _plan(sub) -> None:
    pn = sub.add_parser("plan", help="search the scenario's levers for the cheapest plan that "
                        "keeps expected unmet demand under the scenario's target")
    _scenario(pn, "TOML file or embedded scenario name (default: the default scenario)")
    pn.add_argument("--max-shortfall", type=float, default=0.10, metavar="P",
                    help="largest acceptable P(some month of the window is short) (default 0.1)")
    pn.add_argument("--objective",
                    choices=("spend", "spend_plus_forgone", "spend_plus_lost", "stranded"),
                    default="spend", help="what the plan minimises (default: spend)")
    pn.add_argument("--budget", type=int_at_least(1, "--budget"), default=40,
                    help="candidates to evaluate (default 40: a few minutes on 2 cores)")
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
    pn.add_argument("--risk", choices=("headline", "short_month"), default="headline",
                    help="the constraint: the expected headline shortage KPI <= the scenario's "
                         "[plan] max_unmet_share (default), or P(short month) <= "
                         "--max-shortfall")
    pn.add_argument("--max-risk", type=float, default=None,
                    help="override the scenario's [plan] max_unmet_share")
    pn.add_argument("--certify-max", type=int_at_least(2, "--certify-max"), default=60,
                    help="fresh-seed replications per candidate at most in the ranking and "
                         "selection of the best few (default 60)")
    pn.add_argument("--robust", type=int_at_least(0, "--robust"), default=3,
                    help="best plans to test across the uncertain inputs (0: skip)")
    pn.add_argument("--states", type=int_at_least(4, "--states"), default=48,
                    help="states of the world for the robustness test (default 48)")
    _seed(pn, f"seed of the search and of its replications (default {DEFAULT_SEED})")
    _workers(pn)
    _executor(pn, "where replications run (default: processes)")
    pn.add_argument("--out", "-o", type=Path, default=None,
                    help="plan directory (an unfinished one is resumed)")
    _overrides(pn, _SET_ONE)
    _flags(pn, "replace a finished plan directory")


def _outputs(sub) -> None:
    """The commands that read a finished run: report and plot."""
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from capsim import __version__

    p = _Parser(prog="capsim", description="Will AI compute capacity keep up with demand? "
                "Monte Carlo discrete-event simulation.",
                epilog="Exit codes: 0 done, 1 internal error, 2 user mistake, 3 --target-ci "
                "not met, 74 disk or permission problem, 130 Ctrl-C, 143 SIGTERM.")
    p.add_argument("--version", action="version", version=f"capsim {__version__}")
    _verbosity(p)
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    # The order of the help's command list.
    _run(sub)
    _calibrate(sub)
    _backtest(sub)
    _small(sub)
    _sweep(sub)
    _sensitivity(sub)
    _plan(sub)
    _value_of_information(sub)
    _outputs(sub)
    for command in sub.choices.values():  # also after the command: capsim run -q
        _verbosity(command, argparse.SUPPRESS)
    return p


def _verbosity(p: argparse.ArgumentParser, default: object = 0) -> None:
    """--quiet and --verbose; a sub-command's copy keeps the top level's value unless given."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", "-q", dest="verbosity", action="store_const", const=-1,
                   default=default, help="only warnings, errors and the answer: no progress "
                   "bar, no notes")
    g.add_argument("--verbose", "-v", dest="verbosity", action="store_const", const=1,
                   default=default, help="also debug messages (settings, timings)")
