"""Ship a calibration's posterior with capsim, as the posterior a scenario names by default.

    capsim calibrate --out CAL --points 2000          # fit every observation
    python -m capsim.experiments.tools.ship_posterior CAL

copies CAL/posterior.parquet to ``models/scenarios/<scenario>.posterior.parquet`` and
writes beside it ``<scenario>.posterior.json``: what the posterior was fitted to (the
observation file's SHA-256, the observations fitted and their kinds, the latest date of
the data among them), how (design points, retained points, effective sample size,
cut-off, seed), and the digests that say when it no longer applies: the priors it was
drawn from (`capsim.models.posterior.priors_digest`) and the model's simulated history
(`history_digest`: the pinned series of tests/golden.json that the observations read).
`tests/test_shipped_posterior.py` fails when either differs from the current code, so a
change to the priors, the observations or the simulated history means calibrating again.

Only a calibration of every observation (no holdout) of the scenario's own observation
file is shipped: the shipped posterior is the forecast's, not a backtest's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from capsim.models.posterior import (
    SHIPPED_INFO_SUFFIX,
    SHIPPED_SUFFIX,
    input_priors,
    priors_digest,
)
from capsim.models.scenario import Scenario
from capsim.simcore.store import atomic_write_bytes

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden.json"
"""The pinned replications of the source checkout, run from it (`python -m ...` in the
checkout with an editable install); an installed package has none: give the golden
digest's contents to `history_digest`."""


def observations_text(scenario: Scenario) -> tuple[str, str]:
    """(label, text) of the scenario's observation file."""
    from capsim.experiments.pipelines.history import observation_source

    src = observation_source(scenario, None)
    if src is None:
        raise SystemExit(f"ship_posterior: scenario {scenario.name} has no observations")
    return src


def history_digest(scenario: Scenario, golden: dict[str, Any] | None = None) -> str:
    """SHA-256 of the pinned series the scenario's observations read (tests/golden.json).

    Each series enters by its count, sum, first and last value to 8 significant digits.

    The golden digest pins every series of a few replications of the scenario (drawn from
    the priors); a posterior stays valid while the series it was matched on do not move.
    """
    from capsim.experiments.pipelines.history import load_observations
    from capsim.models.history import needed_series

    if golden is None:
        if not GOLDEN.is_file():
            raise SystemExit(f"ship_posterior: no {GOLDEN}: run from a source checkout "
                             "(pip install -e .)")
        golden = json.loads(GOLDEN.read_text())
    obs = load_observations(scenario, drop_outside=True) or []
    names = sorted(set(needed_series(obs)))
    def figures(q: dict | None) -> list[str] | None:
        # The plain figures to 8 significant digits, not the bytes' digest: another CPU
        # rounds the last digit of some series differently (see tests/golden_digest.py).
        if q is None:
            return None
        return [k if not isinstance(v, float) else f"{k}={v:.8g}" for k, v in sorted(q.items())
                if k != "sha"]

    rows = []
    for run in sorted(k for k in golden["runs"] if k.split("/")[0] == scenario.name):
        entry = golden["runs"][run]
        rows.append([run, [figures(entry.get(f"series.{n}")) for n in names]])
    if not rows:
        raise SystemExit(f"ship_posterior: {GOLDEN} pins no replication of {scenario.name}")
    return hashlib.sha256(json.dumps([names, rows]).encode()).hexdigest()


def info(scenario: Scenario, summary: dict[str, Any]) -> dict[str, Any]:
    """The .posterior.json of a calibration summary of `scenario` (posterior off)."""
    from capsim.experiments.pipelines.history import load_observations

    label, text = observations_text(scenario)
    fitted = set(summary["fitted"])
    obs = [o for o in load_observations(scenario, drop_outside=True) or [] if o.name in fitted]
    # A plan is dated by the day it is about (in the future of its data): left out here.
    dates = [o.data_date or o.date for o in obs if o.kind != "plan"]
    return {
        "scenario": scenario.name,
        "made": dt.date.today().isoformat(),
        "data_as_of": max(dates).isoformat() if dates else None,
        "observations_file": label,
        "observations_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "observations_fitted": len(obs),
        "fitted_by_kind": {k: sorted(o.name for o in obs if o.kind == k)
                           for k in sorted({o.kind for o in obs})},
        "held_out": [],
        "method": summary.get("method"),
        "design_points": summary.get("design_points"),
        "accepted": summary.get("accepted"),
        "ess": summary.get("ess"),
        "cutoff": summary.get("cutoff"),
        "cutoff_used": summary.get("cutoff_used"),
        "discrepancy": summary.get("discrepancy"),
        "seed": summary.get("seed"),
        "priors_sha256": priors_digest(scenario),
        "input_priors": input_priors(scenario),
        "history_sha256": history_digest(scenario),
    }


def ship(calibration: Path, to: Path | None = None) -> tuple[Path, Path]:
    """Copy a calibration's posterior and write its description; the two paths."""
    from capsim.models.posterior import shipped_dir
    from capsim.models.scenario import load

    summary = json.loads((calibration / "summary.json").read_text())
    problems = []
    if summary.get("status") != "complete":
        problems.append(f"status {summary.get('status')!r}, not complete")
    if summary.get("holdout_after"):
        problems.append(f"fitted up to {summary['holdout_after']} only (a backtest's "
                        "calibration); ship one fitted to every observation")
    if problems:
        raise SystemExit(f"ship_posterior: {calibration}: " + "; ".join(problems))
    scenario = load(summary["scenario"], ["scenario.posterior=''"])[0]
    folder = to or shipped_dir()
    parquet = folder / f"{scenario.name}{SHIPPED_SUFFIX}"
    meta = folder / f"{scenario.name}{SHIPPED_INFO_SUFFIX}"
    described = info(scenario, summary)
    atomic_write_bytes(parquet, (calibration / "posterior.parquet").read_bytes())
    atomic_write_bytes(meta, (json.dumps(described, indent=1) + "\n").encode())
    return parquet, meta


def main(argv: list[str] | None = None) -> int:
    """Ship CAL's posterior as its scenario's default."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("calibration", type=Path, help="a capsim calibrate output directory")
    ap.add_argument("--to", type=Path, default=None,
                    help="folder to write (default: the embedded scenarios' folder)")
    a = ap.parse_args(argv)
    for path in ship(a.calibration, a.to):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
