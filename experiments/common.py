"""Shared plumbing of the experiment scripts: arguments, runs of variants, conclusions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from experiments import runs
from experiments._args import int_at_least
from experiments.compare import compare_runs
from models.scenario import load
from simcore.store import RunStore


def parser(name: str, description: str, replications: int = 40) -> argparse.ArgumentParser:
    """The arguments every experiment takes."""
    p = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=description)
    p.add_argument("--replications", "-n", type=int_at_least(1, "--replications"),
                   default=replications, help=f"per variant (default {replications})")
    p.add_argument("--seed", type=int_at_least(0, "--seed"), default=2026,
                   help="root seed, shared by every variant (common random numbers)")
    p.add_argument("--workers", "-w", type=int_at_least(1, "--workers"), default=os.cpu_count() or 1)
    p.add_argument("--out", type=Path, default=Path("runs") / "experiments" / name,
                   help="folder for the variants' run directories (replaced on each call)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every variant, e.g. scenario.end=2030-04-01")
    return p


def run_variant(args: argparse.Namespace, label: str, overrides: list[str]) -> Path:
    """Run one variant of the default scenario into OUT/label; returns its directory."""
    scenario, text = load(None, [*args.overrides, *overrides])
    spec = runs.RunSpec(scenario, text, args.replications, args.seed, args.workers,
                        overrides=tuple([*args.overrides, *overrides]), progress=None)
    out = args.out / label
    print(f"[{label}] {' '.join(overrides) or '(default scenario)'}", file=sys.stderr)
    store = RunStore.create(out, runs.manifest_for(spec), force=True)
    store.write_text("scenario.toml", text)
    runs.execute(spec, store)  # writes summary.json, which summary() reads back
    return out


def estimate(summary_kpi: dict, fmt: str = "{:.3g}") -> str:
    """'mean [lo, hi]' of a summary entry."""
    lo, hi = summary_kpi["ci95"]
    show = (lambda v: "-" if v is None or v != v else fmt.format(v))
    return f"{show(summary_kpi['mean'])} [{show(lo)}, {show(hi)}]"


def summary(run_dir: Path) -> dict:
    """The summary.json of a run, as a dict."""
    return json.loads((run_dir / "summary.json").read_text())


def difference(a: Path, b: Path, kpi: str, fmt: str = "{:+.3g}") -> tuple[float, str]:
    """(paired mean difference B - A, 'diff [lo, hi]') of one KPI."""
    r = compare_runs(a, b)["kpis"][kpi]
    lo, hi = r["diff_ci95"]
    show = (lambda v: "-" if v is None or v != v else fmt.format(v))
    return r["diff_mean"], f"{show(r['diff_mean'])} [{show(lo)}, {show(hi)}]"
