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
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from capsim.experiments.pipelines import figure_index
from capsim.experiments.pipelines.plan_checks import fresh_check, robustness
from capsim.experiments.pipelines.plan_outputs import pareto_plot, schedule
from capsim.experiments.pipelines.plan_select import certify, frontier
from capsim.experiments.pipelines.plan_select import estimate as _estimate
from capsim.experiments.pipelines.plan_spec import OBJECTIVES, PlanSpec
from capsim.models.decisions import (
    Window,
    evaluate,
    lever_value,
    plan_overrides,
)
from capsim.models.inputs import Builder
from capsim.models.scenario import Scenario, ScenarioError, to_toml
from capsim.simcore.executors import make_executor
from capsim.simcore.progress import shown
from capsim.simcore.resultlog import ResultLog
from capsim.simcore.store import RunStore, StoreError, atomic_write_bytes, atomic_write_table


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
        if shown(spec.progress):
            from tqdm.auto import tqdm

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
        est = _estimate(ev.run(cand, overrides, n), cost_col, spec.risk_col)
        # Sequential: more replications while the constraint is undecided and the plan
        # could still be the cheapest feasible one.
        while (n < spec.max_reps and est["risk_lo"] <= spec.limit <= est["risk_hi"]
               and est["cost"] <= best_feasible * 1.05):
            n = min(spec.max_reps, 2 * n)
            est = _estimate(ev.run(cand, overrides, n), cost_col, spec.risk_col)
        cons = est["risk"] - spec.limit
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
                     **{k: t.user_attrs[k] for k in ("n", "p_short", "p_lo", "p_hi", "risk",
                                                      "risk_lo", "risk_hi", "cost",
                                                      "cost_sd", "unserved_fraction",
                                                      "spend_usd", "constraint")}})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- plan
def plan(spec: PlanSpec, out: Path, force: bool = False) -> dict[str, Any]:
    """Search, check on fresh seeds, compare with the scenario's own policy, write DIR.

    An existing, unfinished plan directory is resumed (its recorded settings are used).
    """
    spec.check()
    spec, store = _resumed(spec, out, force)
    builder, base, window = _levers_checked(spec)
    if store is None:
        from capsim.experiments.pipelines.runs import version

        store = RunStore.create(out, {"capsim_version": version(), "kind": "plan",
                                      "scenario": base.name, "spec": asdict(spec),
                                      "window": [str(window.start), str(window.end)]},
                                force=force,
                                own_plot=figure_index.own_plot)
        store.write_text("scenario.toml", to_toml(base))
    cost_col, cost_label = OBJECTIVES[spec.objective]
    ev = Evaluator(store, builder, spec, window)
    try:
        cands = search(spec, store, ev, base)
        own = _estimate(ev.run("own", [], spec.max_reps), cost_col, spec.risk_col)
        cands, top = _best_few(spec, ev, cands, base, cost_col)
        selection = certify(spec, ev, base, cands, top)
        atomic_write_table(store.path / "candidates.parquet",
                           pa.Table.from_pandas(cands, preserve_index=False))
        topc = cands[cands["candidate"].isin(top)]
        feasible = topc[topc["risk"] <= spec.limit].sort_values("cost")
        chosen = cands.set_index("candidate").loc[selection["chosen"]].copy()
        chosen["candidate"] = selection["chosen"]
        best_params = {k: (chosen[k].item() if hasattr(chosen[k], "item") else chosen[k])
                       for k in base.levers}
        best_ovr = plan_overrides(base, best_params)
        best_sc = builder.build(best_ovr)
        fresh = fresh_check(spec, store, str(chosen["candidate"]), best_sc, base, window)
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
              f"{spec.risk_label} in {window.start}..{window.end} <= {spec.limit:g}).\n"
              "# Levers set: " + ", ".join(f"{k} = {v!r}" for k, v in best_params.items()) +
              f"\n# Fresh-seed check: capsim run plan.toml --seed {spec.seed + 1} "
              f"-n {spec.check_reps} reproduces check/plan.\n")
    store.write_text("plan.toml", header + to_toml(best_sc).replace(
        f'name = "{base.name}"', f'name = "{base.name}-plan"', 1))
    sched = schedule(fresh.pop("plan_dir"))
    atomic_write_bytes(store.path / "schedule.csv", sched.to_csv(index=False).encode())
    (store.path / "plots").mkdir(exist_ok=True)
    pareto_plot(cands, own, str(chosen["candidate"]), spec, store.path / "plots" / "pareto.png")
    result = {
        "scenario": base.name, "objective": spec.objective, "objective_meaning": cost_label,
        "max_shortfall": spec.max_shortfall, "threshold": window.threshold,
        "risk": spec.risk_col, "risk_label": spec.risk_label, "limit": spec.limit,
        "window": [str(window.start), str(window.end)], "candidates": int(len(cands)),
        "feasible_on_search_seeds": int((cands["risk"] <= spec.limit).sum()),
        "chosen": str(chosen["candidate"]), "levers": best_params,
        "feasible_found": bool(len(feasible)),
        "search": {k: float(chosen[k]) for k in ("n", "p_short", "p_lo", "p_hi", "risk",
                                                  "risk_lo", "risk_hi", "cost")},
        "frontier": frontier(cands, spec), "selection": selection,
        **fresh, "robustness": rob,
    }
    store.write_json("plan.json", result)
    store.update_manifest(status="complete", finished=dt.datetime.now(dt.UTC).isoformat(),
                          replications_done=int(len(ev.log.read())))
    store.unlock()
    return result


def _resumed(spec: PlanSpec, out: Path, force: bool) -> tuple[PlanSpec, RunStore | None]:
    """An unfinished plan directory's recorded spec and locked store, else (spec, None)."""
    resume = (out.exists() and (out / "manifest.json").exists() and not force
              and json.loads((out / "manifest.json").read_text()).get("kind") == "plan")
    if not resume:
        return spec, None
    m = json.loads((out / "manifest.json").read_text())
    if m.get("status") == "complete":
        raise StoreError(f"{out}: plan is complete; use --force to search again")
    keep = {k: getattr(spec, k) for k in ("workers", "executor", "progress")}
    return PlanSpec(**{**m["spec"], **keep}), RunStore.open(out, lock=True)


def _levers_checked(spec: PlanSpec) -> tuple[Builder, Scenario, Window]:
    """The scenario's builder, base and window, once its rules accept the levers' ranges."""
    builder = Builder(spec.scenario, spec.overrides)
    base = builder.base
    if not base.levers:
        raise ScenarioError(builder.label, ["levers: the scenario declares no [levers.<name>] "
                                            "tables, so there is nothing to plan"])
    spec.resolve(base)
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
    return builder, base, window


def _best_few(spec: PlanSpec, ev: Evaluator, cands: pd.DataFrame, base: Scenario,
              cost_col: str) -> tuple[pd.DataFrame, list]:
    """The best few candidates, every one on max_reps search seeds so they compare paired."""
    feas = cands[cands["constraint"] <= 0].sort_values("cost")
    pool = feas if len(feas) else cands.sort_values(["risk", "cost"])
    top = list(pool["candidate"].head(max(spec.robust, 3)))
    for c in top:
        row = cands.set_index("candidate").loc[c]
        params = {k: row[k] for k in base.levers}
        est = _estimate(ev.run(c, plan_overrides(base, params), spec.max_reps), cost_col,
                        spec.risk_col)
        for k, v in est.items():
            cands.loc[cands["candidate"] == c, k] = v
        cands.loc[cands["candidate"] == c, "constraint"] = est["risk"] - spec.limit
    return cands.sort_values("candidate").reset_index(drop=True), top


