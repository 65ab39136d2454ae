"""`capsim plan`: a candidate's estimates, the cost-risk frontier, and the fresh-seed selection.

- `estimate`: a candidate's mean cost, P(short month) and risk with 95% intervals.
- `frontier`: the Pareto set of the candidates (no other is both cheaper and less risky)
  and the lowest risk any candidate reached, with its interval.
- `certify`: the best few candidates on fresh seeds (root seed + 3, never used by the
  search), every one on the same seeds (common random numbers), compared by KN ranking and
  selection (`simcore.selection`): the feasible ones by cost, or, when none is feasible,
  all by risk. It reports the probability of correct selection (the procedure's nominal
  1 - alpha when it decided, and an estimate from the paired differences) and each
  candidate's paired difference from the chosen one, with 95% intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from capsim.experiments.pipelines.plan_outputs import pareto_mask
from capsim.experiments.pipelines.plan_spec import OBJECTIVES, PlanSpec
from capsim.models.decisions import plan_overrides
from capsim.models.scenario import Scenario
from capsim.simcore import selection, stats
from scipy import stats as st

ALPHA = 0.05
"""1 - the nominal probability of correct selection."""


def risk_interval(x: np.ndarray) -> tuple[float, float, float]:
    """Mean of a share with a 95% t interval clipped to [0, 1]."""
    x = np.asarray(x, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, 0.0, 1.0
    h = float(st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, max(0.0, m - h), min(1.0, m + h)


def estimate(rows: pd.DataFrame, cost_col: str, risk_col: str = "short") -> dict[str, float]:
    """Mean cost, P(short month) and the risk (`risk_col`'s mean) with 95% intervals."""
    p, lo, hi = stats.proportion_ci(int(rows["short"].sum()), len(rows))
    if risk_col == "short":
        risk, rlo, rhi = p, lo, hi
    else:
        risk, rlo, rhi = risk_interval(rows[risk_col].to_numpy(float))
    c = rows[cost_col].to_numpy(float)
    return {"n": len(rows), "p_short": p, "p_lo": lo, "p_hi": hi, "risk": risk,
            "risk_lo": rlo, "risk_hi": rhi, "cost": float(c.mean()),
            "cost_sd": float(c.std(ddof=1)) if len(c) > 1 else 0.0,
            "unserved_fraction": float(rows["unserved_fraction"].mean()),
            "spend_usd": float(rows["spend_usd"].mean())}


def frontier(cands: pd.DataFrame, spec: PlanSpec) -> dict[str, Any]:
    """The Pareto set (cost against risk) on the search seeds, and the lowest risk reached."""
    front = cands[pareto_mask(cands["risk"].to_numpy(float), cands["cost"].to_numpy(float))]
    front = front.sort_values("risk")
    low = cands.sort_values(["risk", "cost"]).iloc[0]
    cols = ["candidate", "risk", "risk_lo", "risk_hi", "cost", "n"]
    return {"risk": spec.risk_col, "limit": spec.limit,
            "pareto": [{k: (str(r[k]) if k == "candidate" else float(r[k])) for k in cols}
                       for _, r in front.iterrows()],
            "lowest_risk": {k: (str(low[k]) if k == "candidate" else float(low[k]))
                            for k in cols},
            "target_reachable": bool((cands["risk"] <= spec.limit).any())}


def certify(spec: PlanSpec, ev: Any, base: Scenario, cands: pd.DataFrame, top: list
            ) -> dict[str, Any]:
    """KN among the best few candidates on fresh seeds; the chosen one and how sure."""
    cost_col = OBJECTIVES[spec.objective][0]
    by = cands.set_index("candidate")
    feasible = [c for c in top if by.loc[c, "risk"] <= spec.limit]
    systems = feasible or list(top)
    metric, what = (cost_col, "cost") if feasible else (spec.risk_col, "risk")
    ovr = {c: plan_overrides(base, {k: by.loc[c, k] for k in base.levers}) for c in systems}
    seed = spec.seed + 3
    scale = abs(float(by.loc[systems, "cost" if feasible else "risk"].mean())) or 1.0
    assert spec.indifference is not None
    delta = spec.indifference * scale
    rows: dict[str, pd.DataFrame] = {}

    def sample(idx: list[int], first: int, count: int) -> np.ndarray:
        got = ev.run_many([(f"certify:{systems[i]}", ovr[systems[i]], first + count, seed,
                            None) for i in idx])
        for i in idx:
            rows[systems[i]] = got[f"certify:{systems[i]}"]
        return np.column_stack([rows[systems[i]][metric].to_numpy(float)[first:first + count]
                                for i in idx])

    n0 = min(spec.certify_batch, spec.certify_max)
    if len(systems) == 1:
        sample([0], 0, n0)
        res = selection.Selection(0, [0], [n0], {}, True, 0.0,
                                  rows[systems[0]][[metric]].to_numpy(float))
    else:
        res = selection.kn_select(sample, len(systems), n0=max(2, n0), delta=delta,
                                  alpha=ALPHA, max_n=max(n0, spec.certify_max),
                                  batch=spec.certify_batch)
    chosen = systems[res.best]
    assert res.data is not None
    paired = selection.paired_to_best(res.data[:, :len(systems)], res.best)
    out = {"procedure": "KN (Kim and Nelson 2001), common random numbers", "seed": seed,
           "compared_on": what, "column": metric, "indifference": delta,
           "candidates": systems, "chosen": chosen, "decided": bool(res.decided),
           "replications": dict(zip(systems, res.replications, strict=True)),
           "eliminated_after": {systems[i]: n for i, n in res.eliminated_at.items()},
           "pcs_nominal": (1 - ALPHA) if res.decided and len(systems) > 1 else None,
           "pcs_estimate": selection.pcs_bonferroni(paired, res.best) if len(systems) > 1
           else 1.0, "paired_minus_chosen": {}}
    for c in systems:
        common = min(len(rows[c]), len(rows[chosen]))
        out["paired_minus_chosen"][c] = {
            col: _paired(rows[chosen][col].to_numpy(float)[:common],
                         rows[c][col].to_numpy(float)[:common])
            for col in dict.fromkeys((metric, cost_col, spec.risk_col))}
        out["paired_minus_chosen"][c]["n"] = common
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    d = stats.paired_difference(a, b)
    return {"diff_mean": d["diff_mean"], "diff_ci95": d["diff_ci95"]}
