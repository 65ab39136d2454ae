"""What a plan search leaves for people: the Pareto plot, the schedule, the text account.

`plan.plan` writes plots/pareto.png and schedule.csv with these; `capsim plan` prints
`report`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from capsim.experiments.pipelines.plan_spec import OBJECTIVES, PlanSpec
from capsim.simcore import plots


def pareto_mask(risk: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Candidates no other candidate beats on both risk and cost (lower is better)."""
    risk, cost = np.asarray(risk, float), np.asarray(cost, float)
    keep = np.ones(risk.size, bool)
    for i in range(risk.size):
        better = (risk <= risk[i]) & (cost <= cost[i]) & ((risk < risk[i]) | (cost < cost[i]))
        keep[i] = not better.any()
    return keep


def pareto_plot(cands: pd.DataFrame, own: dict, best: str | None, spec: PlanSpec,
                path: Path) -> Path:
    """Cost against shortfall risk of every candidate, the front, the target, the choice."""
    import matplotlib.pyplot as plt

    label, scale = (("$B", 1e9) if OBJECTIVES[spec.objective][0].endswith("_usd")
                    else ("MW-months", 1.0))
    fig, ax = plt.subplots(figsize=(8.5, 5.5), dpi=110)
    r, c = cands["p_short"].to_numpy(), cands["cost"].to_numpy() / scale
    front = pareto_mask(r, c)
    n = cands["n"].to_numpy(float)
    many = n >= n.max()
    ax.scatter(r[~many], c[~many], s=16, color="#9a9a9a",
               label=f"candidates, {int(n.min())}+ replications ({int((~many).sum())})")
    ax.scatter(r[many], c[many], s=40, facecolors="none", edgecolors="#333333",
               label=f"candidates re-run on {int(n.max())} replications ({int(many.sum())})")
    order = np.argsort(r[front])
    ax.plot(r[front][order], c[front][order], "-o", color=plots.PALETTE[0], ms=5,
            label="Pareto front (no candidate is cheaper and safer)")
    ax.axvline(spec.max_shortfall, color=plots.PALETTE[1], ls="--",
               label=f"target P(short month) <= {spec.max_shortfall:g}")
    ax.plot([own["p_short"]], [own["cost"] / scale], "s", color=plots.PALETTE[3], ms=9,
            label="the scenario's own policy")
    if best is not None and best in set(cands["candidate"]):
        b = cands.set_index("candidate").loc[best]
        ax.plot([b["p_short"]], [b["cost"] / scale], "*", color=plots.PALETTE[1], ms=16,
                label="chosen plan")
    ax.set_xlabel("P(some month of the window is short), search seeds (estimates from few "
                  "replications scatter)")
    ax.set_ylabel(f"{OBJECTIVES[spec.objective][1].split(',')[0]} ({label})")
    ax.set_title(f"Plans: cost against shortfall risk ({spec.objective})", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


_ORDER = re.compile(r"^(?P<why>[^:]*):\s*(?P<chips>\d+)\s")
"""Why and how many chips, from an order event's detail (its subject is the generation and
its amount the facility MW)."""


def schedule(run_dir: Path) -> pd.DataFrame:
    """What is ordered or delivered, where, when and how much, from a plan's run directory.

    Rows: buildings powering on (campus, year: mean MW per replication), capacity orders
    (why, generation, year: mean chips and MW per replication), and chips delivered per
    generation and year (median across replications).
    """
    from capsim.experiments.pipelines.rundir import Run

    run = Run(run_dir)
    n = int(run.manifest["replications_done"])
    sc = run.scenario
    ev = run.events.copy()
    ev["year"] = pd.to_datetime(ev["date"]).dt.year
    rows: list[dict[str, Any]] = []
    campus_cloud = {k: c.cloud for k, c in sc.datacenters.campuses.items()}
    # Events carry their facts as fields: subject (campus, generation or cloud), amount
    # (facility MW) and unit.
    for (site, year), g in ev[ev["kind"] == "power_on"].groupby(["subject", "year"]):
        rows.append({"what": "buildings powering on", "where": f"{site} "
                     f"({campus_cloud.get(site, '?')})", "when": int(year),
                     "how_much": g["amount"].sum() / n, "unit": "facility MW",
                     "basis": f"mean of {n} replications"})
    for (cloud, year), g in ev[ev["kind"] == "power_order"].groupby(["subject", "year"]):
        rows.append({"what": "order: buildings for held chips", "where": cloud,
                     "when": int(year), "how_much": g["amount"].sum() / n,
                     "unit": "facility MW", "basis": f"mean of {n} replications"})
    od = ev[ev["kind"] == "order"]
    parsed = od["detail"].str.extract(_ORDER)
    od = od.assign(why=parsed["why"], chips=parsed["chips"].astype(float)).dropna(subset=["why"])
    for (why, gen, year), g in od.groupby(["why", "subject", "year"]):
        where = f"{gen} ({sc.supply.generations[gen].cloud})" \
            if gen in sc.supply.generations else gen
        for amount, unit in ((g["chips"].sum() / n, "chips"), (g["amount"].sum() / n,
                                                              "facility MW (chips and buildings)")):
            rows.append({"what": f"order: {why.strip()}", "where": where, "when": int(year),
                         "how_much": amount, "unit": unit, "basis": f"mean of {n} replications"})
    gens = [g for g, gen in sc.supply.generations.items() if sc.clouds[gen.cloud].enabled]
    states = ("in_transit", "waiting", "installed", "failed", "retired")
    cols = [f"chips_{s}__{g}" for g in gens for s in states]
    ts = run.series(*cols)
    ts["year"] = pd.to_datetime(ts["date"]).dt.year
    last = ts.sort_values("date").groupby(["replication", "year"]).last()
    for g in gens:
        shipped = last[[f"chips_{s}__{g}" for s in states]].sum(axis=1).unstack("year")
        start_stock = ts.sort_values("date").groupby("replication").first()[
            [f"chips_{s}__{g}" for s in states]].sum(axis=1)
        prev = shipped.shift(1, axis=1)
        prev.iloc[:, 0] = start_stock.reindex(prev.index).to_numpy()
        delivered = (shipped - prev).median(axis=0)
        for year, v in delivered.items():
            if v > 0:
                rows.append({"what": "chips delivered", "where": f"{g} "
                             f"({sc.supply.generations[g].cloud})", "when": int(year),
                             "how_much": float(v), "unit": "chips",
                             "basis": f"median of {n} replications"})
    df = pd.DataFrame(rows, columns=["what", "where", "when", "how_much", "unit", "basis"])
    df["how_much"] = [round(v) if u == "chips" else round(v, 1)
                      for v, u in zip(df["how_much"], df["unit"], strict=True)]
    return df.sort_values(["when", "what", "where"]).reset_index(drop=True)


def report(r: dict[str, Any], out: Path) -> str:
    """The plain-text account `capsim plan` prints."""
    money = r["objective"] != "stranded"

    def c(v: float) -> str:
        return (f"{'-' if v < 0 else ''}${abs(v) / 1e9:,.1f}B" if money
                else f"{v:,.0f} MW-months")

    f, p, o = r["fresh"], r["fresh"]["plan"], r["fresh"]["own"]
    lines = [f"Plan for {r['scenario']}: minimise {r['objective_meaning']} subject to "
             f"P(a month of {r['window'][0]}..{r['window'][1]} has > {r['threshold']:.0%} of "
             f"its demand unserved) <= {r['max_shortfall']:g}.",
             f"{r['candidates']} candidates searched, {r['feasible_on_search_seeds']} feasible "
             "on the search seeds."]
    if not r["feasible_found"]:
        lines.append("NO plan within the levers' bounds met the target on the search seeds; "
                     f"the closest ({r['chosen']}) is shown.")
    lines.append(f"Chosen {r['chosen']}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                       else f"{k}={v}"
                                                       for k, v in r["levers"].items()))
    lines.append(f"Fresh seeds (seed {f['seed']}, {f['replications']} replications, 95% CI):")
    for label, e in (("plan", p), ("own policy", o)):
        lines.append(f"  {label:10s} P(short month) {e['p_short']:.3f} [{e['p_lo']:.3f}, "
                     f"{e['p_hi']:.3f}]   cost {c(e['cost'])}   unmet share "
                     f"{e.get('unmet_demand_share', float('nan')):.4f}   unserved share "
                     f"{e['unserved_fraction']:.4f}")
    d = r["paired_plan_minus_own"]
    cost_key = OBJECTIVES[r["objective"]][0]
    lo, hi = d[cost_key]["diff_ci95"]
    slo, shi = d["short"]["diff_ci95"]
    lines.append(f"  plan - own (paired): cost {c(d[cost_key]['diff_mean'])} [{c(lo)}, {c(hi)}]; "
                 f"P(short) {d['short']['diff_mean']:+.3f} [{slo:+.3f}, {shi:+.3f}]")
    lines.append(f"Verdict: the plan {r['verdict']} the target on fresh seeds.")
    if r["keep_own_policy"]:
        lines.append("The scenario's own policy meets the target on fresh seeds and costs less: "
                     "keep it.")
    rob = r.get("robustness")
    if rob:
        lines.append(f"Robustness over {rob['states']} states of the uncertain inputs "
                     "(regret: cost above the best of these plans in the same state):")
        for e in rob["plans"]:
            lines.append(f"  {e['plan']:6s} mean cost {c(e['mean_cost'])}  mean regret "
                         f"{c(e['mean_regret'])}  max regret {c(e['max_regret'])}  "
                         f"fails in {e['failure_rate']:.0%} of states")
        b = rob["prim_box"]
        if b:
            lims = "; ".join(f"{x['param']} in [{x['value_low']:.4g}, {x['value_high']:.4g}]"
                             for x in b["limits"])
            lines.append(f"  {rob['failures_of']} fails in {b['density']:.0%} of states with "
                         f"{lims} (vs {b['base_rate']:.0%} overall; {b['coverage']:.0%} of its "
                         "failures)")
    lines.append(f"Files: {out}/plan.toml (capsim run accepts it), schedule.csv, "
                 "candidates.parquet, plots/pareto.png, plan.json, check/plan, check/own")
    return "\n".join(lines)
