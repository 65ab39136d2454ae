"""`capsim plan`: search the scenario's levers for the cheapest plan that keeps shortfalls rare.

The search (optuna's TPE sampler with a constraint) proposes a plan: one value per lever
of the scenario's `[levers]`. Each plan runs on the SAME replication seeds (common random
numbers), first `reps` replications; a plan whose shortfall probability is close to the
target (its 95% Wilson interval holds the target) and whose cost could make it the best
gets more, up to `max_reps` (sequential sampling). The constraint is the probability that
some month of the evaluation window is short (more than `threshold` of its demand
unserved; by default the scenario's own window, `[scenario] evaluation_start` to
`evaluation_end`, and `service.short_month_threshold`, so that it is the run's
p_shortfall_any); the objective is expected spend, spend plus lost revenue, or stranded
power over the scenario's evaluation window.

The best plan found (and the scenario's own policy) are then run again as ordinary run
directories on fresh seeds (root seed + 1, never used by the search) under DIR/check/:
the constraint's 95% interval there is the one reported, with a paired comparison of
the plan against the scenario's own policy. Optionally the best few plans are run across
a sample of the uncertain inputs (robustness: regret table, PRIM on the failures).

DIR holds study.db (optuna, SQLite: the search resumes where it stopped; trial t always
uses a sampler seeded with seed + t, so a resumed search proposes what an uninterrupted
one would), parts/ (every replication of every candidate), candidates.parquet, plan.toml
(the best plan as a scenario `capsim run` accepts), schedule.csv, plan.json,
plots/pareto.png, check/plan and check/own (run directories), robustness.parquet/json.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from capsim.models.decisions import (
    Window,
    evaluate,
    lever_value,
    plan_overrides,
    run_outcomes,
)
from capsim.models.inputs import Builder, uncertain_inputs
from capsim.models.scenario import Scenario, ScenarioError, to_toml
from capsim.simcore import plots, sensitivity, stats
from capsim.simcore.executors import make_executor
from capsim.simcore.resultlog import ResultLog
from capsim.simcore.store import RunStore, StoreError, atomic_write_bytes, atomic_write_table

OBJECTIVES = {"spend": ("spend_usd",
                        "expected spend on the enabled clouds over the evaluation window, USD"),
              "spend_plus_lost": ("spend_plus_lost_usd", "expected spend plus lost revenue, USD"),
              "stranded": ("stranded_power_mw_months",
                           "expected powered but empty facility MW-months")}
DEFAULT_BUDGET = 40
"""Candidates of the default search: about 10 minutes on 2 cores for the default scenario."""


@dataclass
class PlanSpec:
    """What `capsim plan` searches, and how hard."""

    scenario: str | None = None
    overrides: list[str] = field(default_factory=list)
    max_shortfall: float = 0.10
    objective: str = "spend"
    budget: int = DEFAULT_BUDGET
    seed: int = 2026
    reps: int = 8
    max_reps: int = 32
    check_reps: int = 100
    workers: int = 2
    executor: str = "processes"
    threshold: float | None = None
    """A month is short above this share of its demand unserved (None: the scenario's)."""
    window: str | None = None
    robust: int = 3
    states: int = 48
    progress: bool | None = None

    def check(self) -> None:
        """Refuse impossible settings (ScenarioError: exit 2)."""
        problems = []
        if not 0 < self.max_shortfall < 1:
            problems.append(f"--max-shortfall (={self.max_shortfall}) must lie in (0, 1)")
        if self.objective not in OBJECTIVES:
            problems.append(f"--objective (={self.objective!r}) must be one of "
                            f"{', '.join(OBJECTIVES)}")
        if self.threshold is not None and not 0 <= self.threshold < 1:
            problems.append(f"--threshold (={self.threshold}) must lie in [0, 1)")
        if self.max_reps < self.reps:
            problems.append(f"--max-reps (={self.max_reps}) must be >= --reps (={self.reps})")
        if problems:
            raise ScenarioError("plan", problems)


# ------------------------------------------------------------------------- evaluation
class Evaluator:
    """Runs candidates' replications on one executor and keeps every row on disk."""

    def __init__(self, store: RunStore, builder: Builder, spec: PlanSpec, window: Window) -> None:
        self.builder, self.spec, self.window = builder, spec, window
        self.log = ResultLog(store.parts, "evals")
        rows = self.log.read()
        self.rows: dict[str, pd.DataFrame] = {} if rows.empty else {
            str(k): g.set_index("replication").sort_index() for k, g in rows.groupby("candidate")}
        self.ex = make_executor(spec.executor, spec.workers)
        self.bar = None
        if spec.progress or (spec.progress is None and sys.stderr.isatty()):
            from tqdm import tqdm

            self.bar = tqdm(unit="rep", desc="plan search", file=sys.stderr, dynamic_ncols=True)

    def close(self) -> None:
        """Flush rows, release workers."""
        self.log.flush()
        self.ex.close()
        if self.bar is not None:
            self.bar.close()

    def run(self, candidate: str, overrides: list[str], n: int, seed: int | None = None
            ) -> pd.DataFrame:
        """Replications 0..n-1 of a candidate (those not yet stored are run now)."""
        return self.run_many([(candidate, overrides, n, seed, None)])[candidate]

    def run_many(self, jobs: Sequence[tuple[str, list[str], int, int | None,
                                            dict[str, float] | None]]
                 ) -> dict[str, pd.DataFrame]:
        """Several candidates' replications in one batch (the workers stay busy).

        A job: (candidate, lever overrides, replications, seed or None for the search's,
        uncertain inputs pinned {name: value} or None).
        """
        tasks = []
        keys = {}
        for candidate, overrides, n, seed, pins in jobs:
            seed = self.spec.seed if seed is None else seed
            # Stored rows are keyed by what was run (overrides, pins and seed), never by a
            # label.
            what = [overrides, seed] if not pins else [overrides, pins, seed]
            key = keys[candidate] = hashlib.sha1(json.dumps(what).encode()).hexdigest()[:16]
            have = self.rows.get(key)
            todo = [r for r in range(n) if have is None or r not in have.index]
            if todo:
                sc = self.builder.build(overrides, pins)
                tasks += [(key, sc, seed, r, self.window) for r in todo]
        new: dict[str, list[dict]] = {}
        for cand, rep, res in self.ex.imap_unordered(evaluate, tasks):
            row = {"candidate": cand, "replication": int(rep), **res}
            self.log.append(row)
            new.setdefault(cand, []).append(row)
            if self.bar is not None:
                self.bar.update(1)
        self.log.flush()
        for cand, rows in new.items():
            df = pd.DataFrame(rows).set_index("replication")
            have = self.rows.get(cand)
            self.rows[cand] = (df if have is None else pd.concat([have, df])).sort_index()
        out = {}
        for candidate, _, n, _, _ in jobs:
            have = self.rows[keys[candidate]]
            out[candidate] = have.loc[have.index < n]
        return out


def _estimate(rows: pd.DataFrame, cost_col: str) -> dict[str, float]:
    p, lo, hi = stats.proportion_ci(int(rows["short"].sum()), len(rows))
    c = rows[cost_col].to_numpy(float)
    return {"n": len(rows), "p_short": p, "p_lo": lo, "p_hi": hi, "cost": float(c.mean()),
            "cost_sd": float(c.std(ddof=1)) if len(c) > 1 else 0.0,
            "unserved_fraction": float(rows["unserved_fraction"].mean()),
            "spend_usd": float(rows["spend_usd"].mean())}


# ------------------------------------------------------------------------------ search
def _distributions(scenario: Scenario) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, lv in scenario.levers.items():
        if lv.kind == "choice":
            assert lv.choices is not None
            out[name] = CategoricalDistribution(list(lv.choices))
        elif lv.kind == "int":
            assert lv.low is not None and lv.high is not None
            out[name] = IntDistribution(int(lv.low), int(lv.high))
        else:
            assert lv.low is not None and lv.high is not None
            out[name] = FloatDistribution(float(lv.low), float(lv.high))
    return out


def own_levers(scenario: Scenario) -> dict[str, Any]:
    """The scenario's own value of each lever, moved into the lever's range."""
    out: dict[str, Any] = {}
    for name, lv in scenario.levers.items():
        v = lever_value(scenario, lv)
        if lv.kind == "choice":
            assert lv.choices is not None
            out[name] = str(v) if str(v) in lv.choices else lv.choices[0]
        else:
            assert lv.low is not None and lv.high is not None
            v = float(np.clip(float(v), lv.low, lv.high))
            out[name] = int(round(v)) if lv.kind == "int" else v
    return out


def _has_set_constraint() -> bool:
    import optuna

    return hasattr(optuna.trial.Trial, "set_constraint")


_SET_CONSTRAINT = _has_set_constraint()


def _constraint(trial) -> list[float]:
    return [float(trial.user_attrs.get("constraint", 1.0))]


def search(spec: PlanSpec, store: RunStore, ev: Evaluator, base: Scenario) -> pd.DataFrame:
    """Run (or resume) the constrained search; returns one row per candidate."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cost_col = OBJECTIVES[spec.objective][0]
    dists = _distributions(base)
    study = optuna.create_study(storage=f"sqlite:///{store.path / 'study.db'}",
                                study_name="plan", direction="minimize", load_if_exists=True)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        if t.state == TrialState.RUNNING:  # stopped midway: its replications are kept on disk
            study.tell(t.number, state=TrialState.FAIL)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(own_levers(base))  # start from the scenario's own settings
    startup = max(4, min(12, spec.budget // 4))
    best_feasible = min((t.value for t in done if t.value is not None
                         and t.user_attrs.get("constraint", 1) <= 0), default=np.inf)
    n_done = len(done)
    for number in range(n_done, spec.budget):
        # A sampler seeded by trial number: the same proposals after a resume.
        # optuna 5 reads constraints a trial sets (set_constraint); optuna 4 asks a function.
        extra: dict[str, Any] = {} if _SET_CONSTRAINT else {"constraints_func": _constraint}
        study.sampler = optuna.samplers.TPESampler(
            seed=spec.seed + number, n_startup_trials=startup, multivariate=True, **extra)
        trial = study.ask(dists)
        cand = f"t{number:04d}"
        trial.set_user_attr("label", cand)
        overrides = plan_overrides(base, trial.params)
        try:
            ev.builder.build(overrides)
        except ScenarioError as exc:  # a lever combination the scenario's rules refuse
            trial.set_user_attr("invalid", "; ".join(exc.problems))
            study.tell(trial, state=TrialState.FAIL)
            continue
        n = spec.reps
        est = _estimate(ev.run(cand, overrides, n), cost_col)
        # Sequential: more replications while the constraint is undecided and the plan
        # could still be the cheapest feasible one.
        while (n < spec.max_reps and est["p_lo"] <= spec.max_shortfall <= est["p_hi"]
               and est["cost"] <= best_feasible * 1.05):
            n = min(spec.max_reps, 2 * n)
            est = _estimate(ev.run(cand, overrides, n), cost_col)
        cons = est["p_short"] - spec.max_shortfall
        for k, v in est.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("constraint", cons)
        if _SET_CONSTRAINT:
            trial.set_constraint("p_short_above_target", cons)
        study.tell(trial, est["cost"])
        if cons <= 0:
            best_feasible = min(best_feasible, est["cost"])
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state != TrialState.COMPLETE:
            continue
        rows.append({"candidate": t.user_attrs["label"], **t.params,
                     **{k: t.user_attrs[k] for k in ("n", "p_short", "p_lo", "p_hi", "cost",
                                                      "cost_sd", "unserved_fraction",
                                                      "spend_usd", "constraint")}})
    return pd.DataFrame(rows)


def pareto_mask(risk: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Candidates no other candidate beats on both risk and cost (lower is better)."""
    risk, cost = np.asarray(risk, float), np.asarray(cost, float)
    keep = np.ones(risk.size, bool)
    for i in range(risk.size):
        better = (risk <= risk[i]) & (cost <= cost[i]) & ((risk < risk[i]) | (cost < cost[i]))
        keep[i] = not better.any()
    return keep


# ------------------------------------------------------------------------------ outputs
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
    from capsim.api import open_run

    run = open_run(run_dir)
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


def _check_run(scenario: Scenario, spec: PlanSpec, out: Path) -> Path:
    """A fresh-seed run directory of `scenario` (kept when already complete)."""
    from capsim import api

    if out.exists() and api.Run(out).status == "complete":
        m = api.Run(out).manifest
        if m["seed"] == spec.seed + 1 and m["replications_done"] == spec.check_reps:
            return out
    api.run(scenario, replications=spec.check_reps, seed=spec.seed + 1, workers=spec.workers,
            executor=spec.executor, out=out, force=True, progress=spec.progress)
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """B - a per replication (common random numbers): mean and 95% interval."""
    d = stats.paired_difference(np.asarray(a, float), np.asarray(b, float))
    return {"diff_mean": d["diff_mean"], "diff_ci95": d["diff_ci95"]}


# ----------------------------------------------------------------------------- robustness
def robustness(spec: PlanSpec, ev: Evaluator, base: Scenario, plans: dict[str, list[str]],
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


# ---------------------------------------------------------------------------------- plan
def plan(spec: PlanSpec, out: Path, force: bool = False) -> dict[str, Any]:
    """Search, check on fresh seeds, compare with the scenario's own policy, write DIR.

    An existing, unfinished plan directory is resumed (its recorded settings are used).
    """
    from capsim.experiments.pipelines.runs import version

    spec.check()
    resume = (out.exists() and (out / "manifest.json").exists() and not force
              and json.loads((out / "manifest.json").read_text()).get("kind") == "plan")
    if resume:
        m = json.loads((out / "manifest.json").read_text())
        if m.get("status") == "complete":
            raise StoreError(f"{out}: plan is complete; use --force to search again")
        keep = {k: getattr(spec, k) for k in ("workers", "executor", "progress")}
        spec = PlanSpec(**{**m["spec"], **keep})
        store = RunStore.open(out, lock=True)
    builder = Builder(spec.scenario, spec.overrides)
    base = builder.base
    if not base.levers:
        raise ScenarioError(builder.label, ["levers: the scenario declares no [levers.<name>] "
                                            "tables, so there is nothing to plan"])
    window = Window.default(base, spec.threshold)
    if spec.window:
        window = Window.parse(spec.window, window.threshold)
    for corner in ("low", "high"):  # the scenario's rules must accept the levers' ranges
        vals = {n: (lv.choices[0] if lv.kind == "choice" and lv.choices else getattr(lv, corner))
                for n, lv in base.levers.items()}
        try:
            builder.build(plan_overrides(base, vals))
        except ScenarioError as exc:
            raise ScenarioError(exc.source, [f"levers at their {corner} ends: {p}"
                                             for p in exc.problems]) from None
    if not resume:
        store = RunStore.create(out, {"capsim_version": version(), "kind": "plan",
                                      "scenario": base.name, "spec": asdict(spec),
                                      "window": [str(window.start), str(window.end)]},
                                force=force)
        store.write_text("scenario.toml", to_toml(base))
    cost_col, cost_label = OBJECTIVES[spec.objective]
    ev = Evaluator(store, builder, spec, window)
    try:
        cands = search(spec, store, ev, base)
        own_rows = ev.run("own", [], spec.max_reps)
        own = _estimate(own_rows, cost_col)
        # The best few: every one on max_reps search seeds, so they compare paired.
        feas = cands[cands["constraint"] <= 0].sort_values("cost")
        pool = feas if len(feas) else cands.sort_values(["p_short", "cost"])
        top = list(pool["candidate"].head(max(spec.robust, 3)))
        for c in top:
            row = cands.set_index("candidate").loc[c]
            params = {k: row[k] for k in base.levers}
            est = _estimate(ev.run(c, plan_overrides(base, params), spec.max_reps), cost_col)
            for k, v in est.items():
                cands.loc[cands["candidate"] == c, k] = v
            cands.loc[cands["candidate"] == c, "constraint"] = est["p_short"] - spec.max_shortfall
        cands = cands.sort_values("candidate").reset_index(drop=True)
        atomic_write_table(store.path / "candidates.parquet",
                           pa.Table.from_pandas(cands, preserve_index=False))
        topc = cands[cands["candidate"].isin(top)]
        feasible = topc[topc["p_short"] <= spec.max_shortfall].sort_values("cost")
        chosen = (feasible if len(feasible) else topc.sort_values(["p_short", "cost"])).iloc[0]
        best_params = {k: (chosen[k].item() if hasattr(chosen[k], "item") else chosen[k])
                       for k in base.levers}
        best_ovr = plan_overrides(base, best_params)
        best_sc = builder.build(best_ovr)
        # Fresh seeds: the plan and the scenario's own policy as ordinary run directories.
        check = store.path / "check"
        check.mkdir(exist_ok=True)
        print(f"capsim plan: checking {chosen['candidate']} and the scenario's own policy on "
              f"fresh seeds (seed {spec.seed + 1}, {spec.check_reps} replications)",
              file=sys.stderr)
        runs = {"plan": _check_run(best_sc, spec, check / "plan"),
                "own": _check_run(base, spec, check / "own")}
        fresh = {}
        for k, d in runs.items():
            from capsim.api import open_run

            r = open_run(d)
            fresh[k] = run_outcomes(r.kpis, r.series("demand_tps", "unserved_tps"), window)
        pf, of = (_estimate(fresh[k], cost_col) for k in ("plan", "own"))
        paired = {col: _paired(fresh["own"][col].to_numpy(), fresh["plan"][col].to_numpy())
                  for col in ("short", cost_col, "spend_usd", "unserved_fraction")}
        own_meets = of["p_short"] <= spec.max_shortfall
        keep_own = own_meets and paired[cost_col]["diff_mean"] > 0
        verdict = ("meets" if pf["p_hi"] <= spec.max_shortfall else
                   "meets in estimate (the interval reaches above the target)"
                   if pf["p_short"] <= spec.max_shortfall else "does not meet")
        rob = None
        if spec.robust > 0:
            plans = {chosen["candidate"]: best_ovr}
            for c in top:
                if c != chosen["candidate"] and len(plans) < spec.robust:
                    row = cands.set_index("candidate").loc[c]
                    plans[c] = plan_overrides(base, {k: row[k] for k in base.levers})
            plans["own"] = []
            rob = robustness(spec, ev, base, plans, store)
    finally:
        ev.close()
    header = (f"# capsim plan: the best plan found for {base.name} ({spec.objective}, "
              f"P(short month in {window.start}..{window.end}) <= {spec.max_shortfall:g}).\n"
              "# Levers set: " + ", ".join(f"{k} = {v!r}" for k, v in best_params.items()) +
              f"\n# Fresh-seed check: capsim run plan.toml --seed {spec.seed + 1} "
              f"-n {spec.check_reps} reproduces check/plan.\n")
    store.write_text("plan.toml", header + to_toml(best_sc).replace(
        f'name = "{base.name}"', f'name = "{base.name}-plan"', 1))
    sched = schedule(runs["plan"])
    atomic_write_bytes(store.path / "schedule.csv", sched.to_csv(index=False).encode())
    (store.path / "plots").mkdir(exist_ok=True)
    pareto_plot(cands, own, str(chosen["candidate"]), spec, store.path / "plots" / "pareto.png")
    result = {
        "scenario": base.name, "objective": spec.objective, "objective_meaning": cost_label,
        "max_shortfall": spec.max_shortfall, "threshold": window.threshold,
        "window": [str(window.start), str(window.end)], "candidates": int(len(cands)),
        "feasible_on_search_seeds": int((cands["p_short"] <= spec.max_shortfall).sum()),
        "chosen": str(chosen["candidate"]), "levers": best_params,
        "feasible_found": bool(len(feasible)),
        "search": {k: float(chosen[k]) for k in ("n", "p_short", "p_lo", "p_hi", "cost")},
        "fresh": {"seed": spec.seed + 1, "replications": spec.check_reps, "plan": pf, "own": of},
        "paired_plan_minus_own": paired, "verdict": verdict, "keep_own_policy": bool(keep_own),
        "robustness": rob,
    }
    store.write_json("plan.json", result)
    store.update_manifest(status="complete", finished=dt.datetime.now(dt.UTC).isoformat(),
                          replications_done=int(len(ev.log.read())))
    store.unlock()
    return result


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
                     f"{e['p_hi']:.3f}]   cost {c(e['cost'])}   unserved share "
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
