"""The backtest results the docs show, written from a `capsim backtest` directory.

    capsim backtest --out BT                 # the default origins (about a quarter hour)
    python docs/make_backtest.py BT          # write docs/validation/backtest_results.md

The page holds a few sentences computed from the summary, the backtest's own tables
(`summary.md`) and its run-rate figure (copied to docs/figures). Its first line records
what the backtest was made with: the settings, the wall time and the digests of the
priors (every vintage), the observation file and the simulated history the calibrations
matched (`capsim.experiments.tools.ship_posterior.history_digest`). `tests/test_docs.py`
fails when those differ from the current code's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "validation" / "backtest_results.md"
FIGURES = ROOT / "docs" / "figures"
HEADER = re.compile(r"^<!-- made: (\{.*\}) -->$", re.M)


def digests() -> dict[str, str]:
    """The digests of the current priors (all vintages), observations and history."""
    from capsim.experiments.tools import ship_posterior
    from capsim.models.inputs import uncertain_inputs
    from capsim.models.scenario import load

    scenario, _ = load(None, ["scenario.posterior=''"])
    _, text = ship_posterior.observations_text(scenario)
    priors = repr([(i.name, i.prior, i.unit, i.as_of, i.vintages)
                   for i in uncertain_inputs(scenario)])
    return {"priors_sha256": hashlib.sha256(priors.encode()).hexdigest(),
            "observations_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "history_sha256": ship_posterior.history_digest(
                scenario, json.loads((ROOT / "tests" / "golden.json").read_text()))}


def made(page: str) -> dict[str, Any]:
    """The header of a results page (what it was made with)."""
    m = HEADER.search(page)
    return json.loads(m.group(1)) if m else {}


def _count(rows: dict[str, dict], key: str) -> tuple[int, int]:
    vals = [r.get(key) for r in rows.values() if r.get(key) is not None]
    return sum(v > 0 for v in vals), len(vals)


def sentences(summary: dict[str, Any]) -> str:
    """What the backtest found, in words, computed from its summary."""
    o, r = summary["origins"], summary["overall"]
    trend, n_trend = _count(o, "skill_trend")
    growth, n_growth = _count(o, "skill_growth")
    hit = sum((v.get("coverage") or 0) >= 0.8 for v in o.values())
    return (f"{len(o)} origins, {r['points']} forecasts of points not yet public at their "
            f"origin: {r['in_band']} of them ({100 * r['coverage']:.0f}%) inside the "
            f"model's 90% band, against a nominal 90%. Mean CRPS skill is positive against the "
            f"log-linear trend at {trend} of {n_trend} origins where the trend exists and "
            f"against last year's growth at {growth} of {n_growth}; overall "
            f"{r['skill_trend']:+.2f} and {r['skill_growth']:+.2f} over every kind of point "
            f"(by kind below; 1 is perfect, 0 no "
            f"better than the baseline, below 0 worse). {hit} of {len(o)} origins reach 80% "
            f"coverage. The median band is {100 * r['median_band_width']:.0f}% of the "
            "observed value wide.")


def by_kind(backtest: Path) -> str:
    """Coverage and skill of the forecasts by kind of observation, as a Markdown table."""
    import numpy as np
    import pandas as pd
    from capsim.experiments.pipelines.history import load_observations
    from capsim.models.scenario import load

    scenario, _ = load(None, ["scenario.posterior=''"])
    kinds = {o.name: o.kind for o in load_observations(scenario, drop_outside=True) or []}
    t = pd.read_csv(backtest / "backtest.csv")
    t["kind"] = t["observation"].map(kinds)
    lines = ["| kind | forecasts | in 90% band | with a trend baseline | skill vs trend | "
             "skill vs last year's growth |", "|---|---|---|---|---|---|"]
    for kind, g in t.groupby("kind", sort=True):
        cells = []
        for b in ("trend", "growth"):
            ok = g[np.isfinite(g[f"crps_{b}"]) & (g["observed"] != 0)]
            base = (ok[f"crps_{b}"] / ok["observed"].abs()).mean()
            cells.append(f"{1 - ok['crps_relative'].mean() / base:+.2f}" if len(ok) else "-")
        n_trend = int(np.isfinite(g["crps_trend"]).sum())
        lines.append(f"| {kind} | {len(g)} | {int(g['in_band'].sum())} "
                     f"({100 * g['in_band'].mean():.0f}%) | {n_trend} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def write(backtest: Path) -> Path:
    """Write the results page (and copy the run-rate figure) from a backtest directory."""
    summary = json.loads((backtest / "summary.json").read_text())
    if not str(summary.get("status", "")).startswith("complete"):
        raise SystemExit(f"make_backtest: {backtest} is not complete ({summary.get('status')})")
    header = {"command": "capsim backtest", "points": summary.get("points"),
              "seed": summary.get("seed"), "workers": summary.get("workers"),
              "wall_seconds": summary.get("wall_seconds"), **digests()}
    body = (backtest / "summary.md").read_text().split("\n", 1)[1].lstrip("\n")
    figs = []
    for name in summary.get("figures", []):
        if "run_rate" in name:
            target = FIGURES / f"backtest_{Path(name).name}"
            shutil.copyfile(backtest / "plots" / Path(name).name, target)
            figs.append(f"![Backtest: {Path(name).stem}](../figures/{target.name})")
    text = "\n".join([
        f"<!-- made: {json.dumps(header, sort_keys=True)} -->",
        "# Backtest results", "",
        "Written by `docs/make_backtest.py` from `capsim backtest` on the default scenario "
        f"(seed {header['seed']}, {header['points']} design points per set of priors, "
        f"{header['workers']} workers, {header['wall_seconds'] / 60:.1f} minutes of wall "
        "time on the machine that made it).", "",
        sentences(summary), "",
        "By kind of observation (an input-echo point checks that the model gives its "
        "inputs back; the independent points are the test):", "", by_kind(backtest), "",
        *figs, "", body])
    PAGE.write_text(text.rstrip("\n") + "\n")
    return PAGE


def main(argv: list[str] | None = None) -> int:
    """Write docs/validation/backtest_results.md from BACKTEST."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("backtest", type=Path, help="a capsim backtest output directory")
    print(f"wrote {write(ap.parse_args(argv).backtest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
