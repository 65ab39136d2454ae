"""Shared plumbing of the experiment scripts: arguments, runs of variants, conclusions."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd
from capsim.experiments.pipelines.checks import DEFAULT_SEED, default_workers, int_at_least

import capsim


def parser(name: str, description: str, replications: int = 40) -> argparse.ArgumentParser:
    """The arguments every experiment takes."""
    p = argparse.ArgumentParser(prog=f"capsim experiment {name}",
                                description=description)
    p.add_argument("--replications", "-n", type=int_at_least(1, "--replications"),
                   default=replications, help=f"per variant (default {replications})")
    p.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED,
                   help="root seed, shared by every variant (common random numbers)")
    p.add_argument("--workers", "-w", type=int_at_least(1, "--workers"),
                   default=default_workers())
    p.add_argument("--out", type=Path, default=Path("runs") / "experiments" / name,
                   help="folder for the variants' run directories (replaced on each call)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every variant, e.g. scenario.end=2030-04-01")
    return p


def run_variant(args: argparse.Namespace, label: str, overrides: list[str],
                scenario: str | None = None) -> Path:
    """Run one variant into OUT/label through the public API; returns its directory.

    `scenario` is an embedded scenario name or a TOML path (None: the default scenario).
    Every variant uses the same seed, so variants are paired replication by replication.
    """
    sets = [*args.overrides, *overrides]
    sc = capsim.load(scenario, sets)
    print(f"[{label}] {sc.name}: {' '.join(overrides) or '(as written)'}", file=sys.stderr)
    run = capsim.run(scenario, overrides=sets, replications=args.replications, seed=args.seed,
                     workers=args.workers, out=args.out / label, force=True)
    return run.path


def estimate(summary_kpi: dict, fmt: str = "{:.3g}", scale: float = 1.0) -> str:
    """'mean [lo, hi]' of a summary entry, each value divided by `scale` (1e9: $B)."""
    lo, hi = summary_kpi["ci95"]
    show = _shower(fmt, scale)
    return f"{show(summary_kpi['mean'])} [{show(lo)}, {show(hi)}]"


def _shower(fmt: str, scale: float):
    def show(v):
        return "-" if v is None or v != v else fmt.format(v / scale)

    return show


def summary(run_dir: Path) -> dict:
    """The summary.json of a run, as a dict."""
    return capsim.open_run(run_dir).summary


def kpis(run_dir: Path) -> pd.DataFrame:
    """The per-replication KPI table of a run, indexed and sorted by replication."""
    return capsim.open_run(run_dir).kpis


def difference(a: Path, b: Path, kpi: str, fmt: str = "{:+.3g}",
               scale: float = 1.0) -> tuple[float, str]:
    """The paired difference B - A of one KPI, as a number and as text.

    (paired mean difference B - A, 'diff [lo, hi]') of one KPI; the text shows values
    divided by `scale` (1e9: $B), the number returned is unscaled.
    """
    r = capsim.compare(a, b).data["kpis"][kpi]
    lo, hi = r["diff_ci95"]
    show = _shower(fmt, scale)
    return r["diff_mean"], f"{show(r['diff_mean'])} [{show(lo)}, {show(hi)}]"


def billions(usd: float) -> str:
    """Dollars as '$1,234.5B' or '-$1.2B'."""
    return f"{'-' if usd < 0 else ''}${abs(usd) / 1e9:,.1f}B"


Row = tuple[str, str, str, str, float]
"""(KPI, label, format of a value, format of a difference, scale: 1e9 shows dollars in $B)."""

UNMET: Row = ("unmet_demand_share", "unmet share of demand (unserved + lost)", "{:.3g}",
             "{:+.3g}", 1.0)
FORGONE: Row = ("forgone_revenue_total_usd", "forgone revenue, $B", "{:,.1f}", "{:+,.1f}", 1e9)
UNSERVED: Row = ("unserved_fraction", "unserved share of tokens", "{:.3g}", "{:+.3g}", 1.0)
LOST_REVENUE: Row = ("lost_revenue_total_usd", "lost revenue, $B", "{:,.1f}", "{:+,.1f}", 1e9)
ORDERED: Row = ("ordered_total_mw", "capacity ordered, MW", "{:.4g}", "{:+.4g}", 1.0)


def print_rows(a: Path, b: Path, rows: tuple[Row, ...], a_label: str, b_label: str
               ) -> dict[str, tuple[float, str]]:
    """Print two runs' KPI means side by side, with their paired differences.

    Print, per KPI row, both runs' means with intervals and the paired difference
    B - A; returns {kpi: (difference, its text)}.
    """
    sa, sb = summary(a)["kpis"], summary(b)["kpis"]
    width = max(len(r[1]) for r in rows)
    out = {}
    for kpi, label, fmt, dfmt, scale in rows:
        out[kpi] = difference(a, b, kpi, dfmt, scale)
        print(f"  {label:{width}s}  {a_label} {estimate(sa[kpi], fmt, scale)}; "
              f"{b_label} {estimate(sb[kpi], fmt, scale)}; difference {out[kpi][1]}")
    return out


def _toml(v) -> str:
    """One value as inline TOML: dates as TOML dates, tables and lists inline."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(v)


def param_toml(param) -> str:
    """A scenario parameter as an inline TOML table, for a --set override."""
    return _toml(param.as_toml())
