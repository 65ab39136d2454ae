"""`capsim plan`'s checks of its choice: fresh-seed run directories and robustness.

`fresh_check` runs the chosen plan and the scenario's own policy as ordinary run
directories on fresh seeds (root seed + 1) and compares them per replication;
`robustness` runs the best plans across a sample of the uncertain inputs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from capsim.experiments.pipelines.plan_select import estimate
from capsim.experiments.pipelines.plan_spec import OBJECTIVES, PlanSpec
from capsim.models.decisions import Window, run_outcomes
from capsim.models.inputs import uncertain_inputs
from capsim.models.scenario import Scenario
from capsim.simcore import sensitivity, stats
from capsim.simcore.store import RunStore, atomic_write_table


def _check_run(scenario: Scenario, spec: PlanSpec, out: Path) -> Path:
    """A fresh-seed run directory of `scenario` (kept when already complete)."""
    from capsim.experiments.pipelines import launch
    from capsim.experiments.pipelines.rundir import Run

    if out.exists() and Run(out).status == "complete":
        m = Run(out).manifest
        if m["seed"] == spec.seed + 1 and m["replications_done"] == spec.check_reps:
            return out
    launch.run(scenario, replications=spec.check_reps, seed=spec.seed + 1,
               workers=spec.workers, executor=spec.executor, out=out, force=True,
               progress=spec.progress)
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """B - a per replication (common random numbers): mean and 95% interval."""
    d = stats.paired_difference(np.asarray(a, float), np.asarray(b, float))
    return {"diff_mean": d["diff_mean"], "diff_ci95": d["diff_ci95"]}


# ----------------------------------------------------------------------------- robustness
def robustness(spec: PlanSpec, ev: Any, base: Scenario, plans: dict[str, list[str]],
               store: RunStore) -> dict[str, Any]:
    """The best plans across a sample of the uncertain inputs: regret and where they fail.

    `states` states of the world pin every uncertain input that no lever sets
    (`capsim.models.inputs`, list entries included) at a quantile (a Latin hypercube over
    the quantiles); every plan runs one replication per
    state, the same seed for all (common random numbers). Regret: a plan's cost in a
    state minus the cheapest cost among the plans in that state. Failure: some month of
    the window short. PRIM finds the box of inputs where the best plan fails.
    """
    from scipy.stats import qmc

    inputs = uncertain_inputs(base, exclude_levers=True)
    u = qmc.LatinHypercube(d=len(inputs), rng=np.random.default_rng(spec.seed + 2)).random(
        spec.states)
    cost_col = OBJECTIVES[spec.objective][0]
    jobs = [(f"robust:{name}:s{s:03d}", ovr, 1, spec.seed + 2,
             {inp.name: inp.value(u[s, j]) for j, inp in enumerate(inputs)})
            for name, ovr in plans.items() for s in range(spec.states)]
    res = ev.run_many(jobs)
    rows = []
    for name in plans:
        for s in range(spec.states):
            r = res[f"robust:{name}:s{s:03d}"]
            rows.append({"plan": name, "state": s, "cost": float(r[cost_col].iloc[0]),
                         "short": float(r["short"].iloc[0]),
                         "unserved_fraction": float(r["unserved_fraction"].iloc[0])})
    df = pd.DataFrame(rows)
    best_cost = df.groupby("state")["cost"].min()
    df["regret"] = df["cost"] - df["state"].map(best_cost)
    qs = pd.DataFrame(u[df["state"].to_numpy()], columns=[f"u__{i.name}" for i in inputs])
    df = pd.concat([df, qs], axis=1)
    atomic_write_table(store.path / "robustness.parquet",
                       pa.Table.from_pandas(df, preserve_index=False))
    table = []
    for name, g in df.groupby("plan", sort=False):
        table.append({"plan": name, "mean_cost": float(g["cost"].mean()),
                      "mean_regret": float(g["regret"].mean()),
                      "p90_regret": float(np.quantile(g["regret"], 0.9)),
                      "max_regret": float(g["regret"].max()),
                      "failure_rate": float(g["short"].mean())})
    first = next(iter(plans))
    g = df[df["plan"] == first].sort_values("state")
    x = g[[f"u__{inp.name}" for inp in inputs]].to_numpy()
    box, _ = sensitivity.prim(x, g["short"].to_numpy(bool), alpha=0.1, min_mass=0.1,
                              max_dims=3)
    found = None
    if box is not None:
        found = {"density": box.density, "coverage": box.coverage, "mass": box.mass,
                 "base_rate": box.base_rate, "limits": [
                     {"param": inputs[j].name, "quantile_low": lo, "quantile_high": hi,
                      "value_low": inputs[j].value(lo), "value_high": inputs[j].value(hi)}
                     for j, (lo, hi) in box.limits.items()]}
    out = {"states": spec.states, "objective": spec.objective, "plans": table,
           "failures_of": first, "prim_box": found}
    store.write_json("robustness.json", out)
    return out




def fresh_check(spec: PlanSpec, store: RunStore, chosen: str, best_sc: Scenario,
                 base: Scenario, window: Window) -> dict[str, Any]:
    """The plan and the scenario's own policy as run directories on fresh seeds, compared.

    Returns plan.json's "fresh", "paired_plan_minus_own", "verdict" and "keep_own_policy",
    and "plan_dir" (the plan's check run).
    """
    from capsim.experiments.pipelines.rundir import Run

    cost_col = OBJECTIVES[spec.objective][0]
    check = store.path / "check"
    check.mkdir(exist_ok=True)
    logging.getLogger(__name__).info(
        "capsim plan: checking %s and the scenario's own policy on fresh seeds (seed %d, %d "
        "replications)", chosen, spec.seed + 1, spec.check_reps)
    runs = {"plan": _check_run(best_sc, spec, check / "plan"),
            "own": _check_run(base, spec, check / "own")}
    fresh = {}
    for k, d in runs.items():
        r = Run(d)
        fresh[k] = run_outcomes(r.kpis, r.series("demand_potential_tps", "unmet_tps"), window)
    pf, of = (estimate(fresh[k], cost_col, spec.risk_col) for k in ("plan", "own"))
    paired = {col: _paired(fresh["own"][col].to_numpy(), fresh["plan"][col].to_numpy())
              for col in dict.fromkeys(("short", spec.risk_col, cost_col, "spend_usd",
                                       "unserved_fraction"))}
    own_meets = of["risk"] <= spec.limit
    keep_own = own_meets and paired[cost_col]["diff_mean"] > 0
    verdict = ("meets" if pf["risk_hi"] <= spec.limit else
               "meets in estimate (the interval reaches above the target)"
               if pf["risk"] <= spec.limit else "does not meet")
    return {"fresh": {"seed": spec.seed + 1, "replications": spec.check_reps, "plan": pf,
                      "own": of},
            "paired_plan_minus_own": paired, "verdict": verdict,
            "keep_own_policy": bool(keep_own), "plan_dir": runs["plan"]}
