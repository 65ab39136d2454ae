"""`capsim value-of-information`: what each candidate next observation is worth to the plan.

The states of the world are the replications: replication s draws every uncertain input
from its distribution (or a row of the scenario's posterior) on its own named streams, so
every plan meets the same state s (common random numbers). Each plan runs `states`
replications; its loss in a state is spend plus forgone revenue over the evaluation window
(USD: the cost of the plan and the price of all the demand it leaves unmet, customers who
left included), its risk the
headline shortage KPI. Deciding now takes the plan of least expected loss.

For each candidate observation (`[value_of_information.observations.<name>]`: a series of
the run on a date, with a measurement error) the observation's value in state s is read
from the replication of the plan chosen now, and measured with a normal error (stream
"voi.noise.<name>"); `simcore.voi.preposterior` groups the states by it, re-chooses the
plan in each group and gives the expected value of sample information (EVSI, USD) and the
change in expected risk it brings. EVPI (perfect knowledge of the state) bounds them all.

The plans: those of a finished `capsim plan` directory (its frontier and chosen plan), or
the scenario's own policy and a Latin hypercube of lever settings (stream "voi.plans").

Directory: manifest.json (kind "value-of-information"), parts/ (every replication's row),
value_of_information.json, plots/value_of_information.png.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from capsim.experiments.pipelines import figure_index
from capsim.models.decisions import (
    Window,
    evaluate_observed,
    headline_kpi,
    plan_overrides,
)
from capsim.models.inputs import Builder
from capsim.models.kpis import GROUP_SERIES, SERIES
from capsim.models.scenario import Scenario, ScenarioError
from capsim.simcore import voi
from capsim.simcore.executors import make_executor
from capsim.simcore.resultlog import ResultLog
from capsim.simcore.store import RunStore
from capsim.simcore.streams import Streams

LOSS = "spend_plus_forgone_usd"
"""The loss of a plan in a state: spend plus forgone revenue (of every unmet token, the
demand of customers who left included) over the evaluation window, USD."""


@dataclass
class VoiSpec:
    """What `capsim value-of-information` computes, and its budget."""

    scenario: str | None = None
    overrides: list[str] = field(default_factory=list)
    states: int = 48
    plans: int = 5
    plan_dir: str | None = None
    seed: int = 20260101
    groups: int | None = None
    workers: int = 2
    executor: str = "processes"

    def check(self) -> None:
        """Refuse impossible settings (ScenarioError: exit 2)."""
        problems = []
        if self.states < 8:
            problems.append(f"--states (={self.states}) must be at least 8")
        if self.plans < 2:
            problems.append(f"--plans (={self.plans}) must be at least 2")
        if problems:
            raise ScenarioError("value-of-information", problems)


def probes(scenario: Scenario) -> tuple[tuple[str, str, str, str], ...]:
    """The scenario's candidate observations as (name, series, date, operator), checked."""
    table = scenario.value_of_information
    if table is None or not table.observations:
        raise ScenarioError("value_of_information", [
            "the scenario lists no [value_of_information.observations.<name>] tables"])
    problems, out = [], []
    meta = scenario.scenario
    for name, o in table.observations.items():
        key = f"value_of_information.observations.{name}"
        stem = o.series.rsplit("__", 1)[0]
        if o.series not in SERIES and not ("__" in o.series and stem in GROUP_SERIES):
            problems.append(f"{key}.series: no daily series {o.series!r} (models/kpis.py)")
        if not meta.start <= o.date < meta.end:
            problems.append(f"{key}.date (={o.date}): not within the run, {meta.start} to "
                            f"{meta.end}")
        out.append((name, o.series, o.date.isoformat(), o.operator))
    if problems:
        raise ScenarioError("value_of_information", problems)
    return tuple(out)


def candidate_plans(spec: VoiSpec, base: Scenario) -> dict[str, list[str]]:
    """{plan name: lever overrides}: a plan directory's, or own + a lever hypercube."""
    if spec.plan_dir:
        return _plans_of_dir(Path(spec.plan_dir), base)
    from scipy.stats import qmc

    levers = list(base.levers.items())
    if not levers:
        return {"own": []}
    rng = Streams(spec.seed, 0).rng("voi.plans")
    u = qmc.LatinHypercube(d=len(levers), rng=rng).random(spec.plans - 1)
    plans: dict[str, list[str]] = {"own": []}
    for i in range(spec.plans - 1):
        values: dict[str, Any] = {}
        for j, (name, lv) in enumerate(levers):
            if lv.kind == "choice":
                assert lv.choices is not None
                values[name] = lv.choices[min(int(u[i, j] * len(lv.choices)),
                                              len(lv.choices) - 1)]
            else:
                assert lv.low is not None and lv.high is not None
                v = lv.low + u[i, j] * (lv.high - lv.low)
                values[name] = int(round(v)) if lv.kind == "int" else float(v)
        plans[f"p{i + 1}"] = plan_overrides(base, values)
    return plans


def _plans_of_dir(path: Path, base: Scenario) -> dict[str, list[str]]:
    try:
        result = json.loads((path / "plan.json").read_text())
        cands = pd.read_parquet(path / "candidates.parquet").set_index("candidate")
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"--plan {path}", [f"not a finished plan directory ({exc})"]
                            ) from None
    names = list(dict.fromkeys([result["chosen"], *(e["candidate"] for e in
                                                    result.get("frontier", {}).get("pareto",
                                                                                   []))]))
    plans: dict[str, list[str]] = {"own": []}
    for n in names[:8]:
        plans[n] = plan_overrides(base, {k: cands.loc[n, k] for k in base.levers})
    return plans


def value_of_information(spec: VoiSpec, out: Path, force: bool = False) -> dict[str, Any]:
    """Run every plan on the states, then rank the observations; writes DIR."""
    spec.check()
    from capsim.experiments.pipelines.runs import version

    builder = Builder(spec.scenario, spec.overrides)
    base = builder.base
    obs = probes(base)
    plans = candidate_plans(spec, base)
    window = Window.default(base)
    manifest = {"capsim_version": version(), "kind": "value-of-information",
                "scenario": base.name, "states": spec.states, "seed": spec.seed,
                "plans": plans, "observations": [list(p) for p in obs],
                "overrides": list(spec.overrides)}
    store = _store(out, manifest, force)
    rows = _run(spec, store, builder, plans, window, obs)
    result = analyse(spec, base, plans, rows, obs)
    from capsim.experiments.pipelines.voi_outputs import voi_plot

    (out / "plots").mkdir(exist_ok=True)
    result["plot"] = str(voi_plot(result, out / "plots" / "value_of_information.png"))
    store.write_json("value_of_information.json", result)
    store.update_manifest(status="complete")
    store.unlock()
    return result


def _store(out: Path, manifest: dict[str, Any], force: bool) -> RunStore:
    if (out / "manifest.json").exists() and not force:
        store = RunStore.open(out, lock=True)
        m = store.manifest()
        if any(m.get(k) != v for k, v in manifest.items() if k != "capsim_version"):
            store.unlock()
            raise ScenarioError(str(out), ["holds a different value-of-information study; "
                                           "use --force to replace it or another --out"])
        return store
    return RunStore.create(out, manifest, force=force,
                           own_plot=figure_index.own_plot)


def _run(spec: VoiSpec, store: RunStore, builder: Builder, plans: dict[str, list[str]],
         window: Window, obs) -> pd.DataFrame:
    """Every (plan, state) replication, reusing rows already on disk."""
    log = ResultLog(store.parts, "rows")
    done = log.read()
    have = set() if done.empty else set(zip(done["plan"], done["replication"], strict=True))
    tasks = []
    for name, ovr in plans.items():
        sc = builder.build(ovr)
        tasks += [(name, sc, spec.seed, s, window, obs) for s in range(spec.states)
                  if (name, s) not in have]
    ex = make_executor(spec.executor, spec.workers)
    try:
        for name, rep, res in ex.imap_unordered(evaluate_observed, tasks):
            log.append({"plan": name, "replication": int(rep), **res})
    finally:
        log.flush()
        ex.close()
    return log.read()


def analyse(spec: VoiSpec, base: Scenario, plans: dict[str, list[str]], rows: pd.DataFrame,
            obs) -> dict[str, Any]:
    """EVPI, and per observation EVSI, its standard error, switches and the risk change."""
    names = list(plans)
    head = headline_kpi()

    def matrix(col: str) -> np.ndarray:
        t = rows.pivot_table(index="replication", columns="plan", values=col)
        return t.reindex(index=range(spec.states), columns=names).to_numpy(float)

    loss, risk = matrix(LOSS), matrix(head)
    if not (np.isfinite(loss).all() and np.isfinite(risk).all()):
        raise ScenarioError("value-of-information", ["some replications have no loss or risk"])
    now = int(np.argmin(loss.mean(axis=0)))
    perfect = loss.argmin(axis=1)
    table = []
    for name, series, day, op in obs:
        truth = rows[rows["plan"] == names[now]].set_index("replication")[f"obs__{name}"]
        truth = truth.reindex(range(spec.states)).to_numpy(float)
        err = base.value_of_information.observations[name].error_share  # type: ignore[union-attr]
        signal = voi.noisy(truth, err, Streams(spec.seed, 0).rng(f"voi.noise.{name}"))
        if not np.isfinite(signal).all():
            raise ScenarioError(f"value_of_information.observations.{name}",
                                [f"{series} has no value on {day} in some replications"])
        r = voi.preposterior(loss, signal, spec.groups)
        pick = r.choice
        table.append({"observation": name, "series": series, "date": day, "operator": op,
                      "error_share": err, "evsi_usd": r.evsi, "evsi_se_usd": r.evsi_se,
                      "switch_share": r.switch_share,
                      "risk_change": float(risk[np.arange(spec.states), pick].mean()
                                           - risk[:, now].mean()),
                      "plans_chosen": sorted({names[a] for a in r.actions})})
    table.sort(key=lambda e: -e["evsi_usd"])
    return {"kind": "value-of-information", "scenario": base.name, "states": spec.states,
            "seed": spec.seed, "loss": LOSS, "risk": head, "plans": names,
            "plan_now": names[now], "expected_loss_now_usd": float(loss[:, now].mean()),
            "expected_risk_now": float(risk[:, now].mean()),
            "evpi_usd": voi.evpi(loss),
            "evpi_risk_change": float(risk[np.arange(spec.states), perfect].mean()
                                      - risk[:, now].mean()),
            "per_plan": [{"plan": n, "expected_loss_usd": float(loss[:, i].mean()),
                          "expected_risk": float(risk[:, i].mean())}
                         for i, n in enumerate(names)],
            "observations": table}
