"""`capsim sensitivity --groups`: grouped, converging sensitivity of a scenario's KPIs.

The uncertain inputs (`capsim.models.inputs`) are put in named groups
(`capsim.models.input_groups`). Morris screening of the groups comes first; Sobol' indices
of the groups that matter follow (`simcore.groupsens.converge_sobol`: N doubles, every step
reusing the points before it, until the 95% half-width of every total order index of the
KPIs is at most the target, or the point budget is reached, which the result says). Inputs
of the screened-out groups keep their distributions. Every point runs the same
replications with the same seed (common random numbers); its output is their mean. The
headline KPI's share per calendar year gets its own indices, and Borgonovo's delta of each
input cross-checks the ranking without variance.

Directory: manifest.json (kind "sensitivity-groups"), parts/ (every replication's row:
re-running the same command reuses them), sensitivity_groups.json,
plots/groups_convergence.png, plots/groups_by_year.png.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from capsim.experiments.pipelines import figure_index
from capsim.models.decisions import Window, evaluate_yearly, headline_kpi
from capsim.models.input_groups import groups_of
from capsim.models.inputs import Builder
from capsim.models.scenario import ScenarioError
from capsim.simcore import groupsens
from capsim.simcore.executors import make_executor
from capsim.simcore.resultlog import ResultLog
from capsim.simcore.store import RunStore


@dataclass
class GroupSpec:
    """What `capsim sensitivity --groups` computes, and its budget."""

    scenario: str | None = None
    overrides: list[str] = field(default_factory=list)
    kpis: list[str] = field(default_factory=list)
    """KPIs whose total order intervals must converge (default: the headline KPI)."""
    replications: int = 1
    seed: int = 20260101
    n0: int = 32
    max_points: int = 6000
    """Budget of Sobol' design points (each runs `replications` replications)."""
    target: float = 0.05
    trajectories: int = 8
    keep_share: float = 0.05
    workers: int = 2
    executor: str = "processes"
    progress: bool | None = None

    def check(self) -> None:
        """Refuse impossible settings (ScenarioError: exit 2)."""
        problems = []
        if not 0 < self.target < 1:
            problems.append(f"--target (={self.target}) must lie in (0, 1)")
        if self.replications < 1 or self.n0 < 2 or self.trajectories < 2:
            problems.append("--replications >= 1, --samples >= 2 and --trajectories >= 2")
        if self.max_points < 1:
            problems.append(f"--max-points (={self.max_points}) must be positive")
        if problems:
            raise ScenarioError("sensitivity --groups", problems)


class PointRunner:
    """Evaluates design points (all replications, same seed), keeping every row on disk."""

    def __init__(self, store: RunStore, builder: Builder, spec: GroupSpec, window: Window):
        self.builder, self.spec, self.window = builder, spec, window
        self.log = ResultLog(store.parts, "rows")
        done = self.log.read()
        self.done: dict[tuple[str, int, int], dict] = {} if done.empty else {
            (str(r["stage"]), int(r["point"]), int(r["replication"])): r
            for r in done.to_dict("records")}
        self.ex = make_executor(spec.executor, spec.workers)
        self.offset: dict[str, int] = {}
        self.ran = 0

    def close(self) -> None:
        """Flush rows, release workers."""
        self.log.flush()
        self.ex.close()

    def evaluator(self, stage: str, names: list[str], outputs: list[str]
                  ) -> groupsens.Evaluate:
        """`evaluate(x)` for `simcore.groupsens`: the new points of one stage, in order."""
        inputs = self.builder.inputs

        def evaluate(x: np.ndarray) -> dict[str, np.ndarray]:
            start = self.offset.get(stage, 0)
            self.offset[stage] = start + len(x)
            tasks = []
            for i in range(len(x)):
                pins = {k: inputs[k].value(x[i, j]) for j, k in enumerate(names)}
                sc = None
                for r in range(self.spec.replications):
                    if (stage, start + i, r) in self.done:
                        continue
                    sc = sc or self.builder.build(pins=pins)
                    tasks.append(((stage, start + i), sc, self.spec.seed, r, self.window))
            bar = _bar(len(tasks), f"{stage} points x replications", self.spec.progress)
            for (st, point), rep, res in self.ex.imap_unordered(evaluate_yearly, tasks):
                row = {"stage": st, "point": int(point), "replication": int(rep), **res}
                self.log.append(row)
                self.done[(st, int(point), int(rep))] = row
                self.ran += 1
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
            self.log.flush()
            out = {o: np.zeros(len(x)) for o in outputs}
            for i in range(len(x)):
                rows = [self.done[(stage, start + i, r)] for r in range(self.spec.replications)]
                for o in outputs:
                    out[o][i] = float(np.mean([row.get(o, np.nan) for row in rows]))
            return out

        return evaluate


def _bar(total: int, desc: str, enabled: bool | None):
    from capsim.simcore.progress import bar

    return bar(total, desc, enabled=enabled)


def _years(window: Window) -> list[int]:
    """The calendar years the evaluation window touches (its first and last may be part)."""
    last = window.end - dt.timedelta(days=1)
    return list(range(window.start.year, last.year + 1))


def grouped(spec: GroupSpec, out: Path, force: bool = False) -> dict[str, Any]:
    """Screen, converge, cross-check; writes DIR and returns sensitivity_groups.json."""
    spec.check()
    from capsim.experiments.pipelines.runs import version
    from capsim.experiments.pipelines.sensitivity import KNOWN_KPIS

    kpis = list(spec.kpis or [headline_kpi()])
    bad = [k for k in kpis if k not in KNOWN_KPIS]
    if bad:
        raise ScenarioError("--kpi", [f"unknown KPI {k!r}" for k in bad])
    builder = Builder(spec.scenario, spec.overrides)
    window = Window.default(builder.base)
    names = list(builder.inputs)
    groups = groups_of(names)
    head = headline_kpi()
    yearly = [f"{head}__{y}" for y in _years(window)]
    manifest = {"capsim_version": version(), "kind": "sensitivity-groups",
                "scenario": builder.base.name, "kpis": kpis, "seed": spec.seed,
                "replications": spec.replications, "n0": spec.n0,
                "trajectories": spec.trajectories, "overrides": list(spec.overrides)}
    store = _store(out, manifest, force)
    runner = PointRunner(store, builder, spec, window)
    try:
        outputs = [*kpis, *yearly]
        screen = groupsens.morris_groups(names, groups, runner.evaluator("morris", names, kpis),
                                         spec.trajectories, spec.seed)
        keep = groupsens.screened(screen, groups, spec.keep_share) or groupsens.group_names(
            groups)[:2]
        if len(keep) < 2:
            keep = [*keep, next(g for g in groupsens.group_names(groups) if g not in keep)]
        sel = [i for i, g in enumerate(groups) if g in keep]
        s_names, s_groups = [names[i] for i in sel], [groups[i] for i in sel]
        conv = groupsens.converge_sobol(
            s_names, s_groups, runner.evaluator("sobol", s_names, outputs), kpis, spec.seed,
            n0=spec.n0, max_points=spec.max_points, target=spec.target)
    finally:
        runner.close()
    assert conv.x is not None
    delta = {k: groupsens.delta_indices(s_names, conv.x, conv.y[k], spec.seed) for k in kpis}
    result = _result(spec, names, groups, screen, keep, s_names, s_groups, conv, delta,
                     kpis, yearly)
    result["replications_run_now"] = runner.ran
    from capsim.experiments.pipelines.sensitivity_figures import convergence_plot, yearly_plot

    (out / "plots").mkdir(exist_ok=True)
    result["plots"] = [str(convergence_plot(result, out / "plots" / "groups_convergence.png")),
                       str(yearly_plot(result, out / "plots" / "groups_by_year.png"))]
    store.write_json("sensitivity_groups.json", result)
    store.update_manifest(status="complete")
    store.unlock()
    return result


def _store(out: Path, manifest: dict[str, Any], force: bool) -> RunStore:
    """A new directory, or the same command's earlier one (its rows are reused)."""
    if (out / "manifest.json").exists() and not force:
        store = RunStore.open(out, lock=True)
        m = store.manifest()
        same = all(m.get(k) == v for k, v in manifest.items() if k != "capsim_version")
        if not same:
            store.unlock()
            raise ScenarioError(str(out), ["holds a different grouped sensitivity; use "
                                           "--force to replace it or another --out"])
        return store
    return RunStore.create(out, manifest, force=force,
                           own_plot=figure_index.own_plot)


def _result(spec: GroupSpec, names, groups, screen, keep, s_names, s_groups, conv, delta,
            kpis, yearly) -> dict[str, Any]:
    gnames = conv.groups

    def table(ind: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        rows = [{"group": g, "S1": float(ind["S1"][j]), "S1_conf": float(ind["S1_conf"][j]),
                 "ST": float(ind["ST"][j]), "ST_conf": float(ind["ST_conf"][j])}
                for j, g in enumerate(gnames)]
        return sorted(rows, key=lambda r: -r["ST"])

    all_groups = groupsens.group_names(groups)
    res: dict[str, Any] = {
        "kind": "sensitivity-groups", "kpis": kpis, "target": spec.target,
        "converged": conv.converged, "stop_reason": conv.stop_reason,
        "inputs": len(names), "groups": {g: [n for n, gg in zip(names, groups, strict=True)
                                             if gg == g] for g in all_groups},
        "screening": {k: sorted(({"group": g, "mu_star": float(v["mu_star"][j]),
                                  "mu_star_rel": float(v["mu_star_rel"][j])}
                                 for j, g in enumerate(all_groups)), key=lambda r: -r["mu_star"])
                      for k, v in screen.items()},
        "kept_groups": keep, "sobol_inputs": len(s_names),
        "replications": spec.replications, "seed": spec.seed,
        "steps": [{"n": s.n, "points": s.points,
                   "indices": {k: table(s.indices[k]) for k in kpis}} for s in conv.steps],
        "final": {k: table(conv.final.indices[k]) for k in kpis},
        "by_year": {y.rsplit("__", 1)[1]: table(conv.final.indices[y]) for y in yearly
                    if y in conv.final.indices},
        "by_year_kpi": yearly[0].rsplit("__", 1)[0] if yearly else None,
        "delta": {}}
    for k, d in delta.items():
        per_input = sorted(({"input": n, "group": g, "delta": float(d["delta"][j]),
                             "delta_conf": float(d["delta_conf"][j])}
                            for j, (n, g) in enumerate(zip(s_names, s_groups, strict=True))),
                           key=lambda r: -r["delta"])
        res["delta"][k] = {"inputs": per_input[:15], "group_max": {
            g: max(r["delta"] for r in per_input if r["group"] == g) for g in gnames}}
    return res


def report(r: dict[str, Any], top: int = 12) -> str:
    """The plain-text summary `capsim sensitivity --groups` prints."""
    lines = [f"Grouped sensitivity: {r['inputs']} inputs in {len(r['groups'])} groups; "
             f"Morris kept {len(r['kept_groups'])} groups ({r['sobol_inputs']} inputs) for "
             f"Sobol'.", f"  {r['stop_reason']}"]
    last = r["steps"][-1]
    for k in r["kpis"]:
        lines.append(f"{k} (N = {last['n']}, {last['points']} points x {r['replications']} "
                     "replication(s)); 95% half-widths:")
        ranks = {g: i for i, g in enumerate(sorted(r["delta"][k]["group_max"],
                                                   key=lambda g: -r["delta"][k]["group_max"][g]))}
        for e in r["final"][k][:top]:
            lines.append(f"  {e['group']:34s} S1 {e['S1']:+.3f} +- {e['S1_conf']:.3f}   "
                         f"ST {e['ST']:.3f} +- {e['ST_conf']:.3f}   delta rank "
                         f"{ranks[e['group']] + 1}")
    if r["by_year"]:
        lines.append(f"Largest total order index of {r['by_year_kpi']} by year:")
        for y, rows in r["by_year"].items():
            e = rows[0]
            loose = "" if e["ST_conf"] <= r["target"] else (
                "; not resolved: the half-width is above the target")
            lines.append(f"  {y}: {e['group']} (ST {e['ST']:.2f} +- {e['ST_conf']:.2f}{loose})")
    lines += [f"  plot: {p}" for p in r.get("plots", [])]
    return "\n".join(lines)


def steps_frame(r: dict[str, Any], kpi: str) -> pd.DataFrame:
    """One row per (step, group) of a KPI: n, group, S1, ST and their half-widths."""
    return pd.DataFrame([{"n": s["n"], **e} for s in r["steps"] for e in s["indices"][kpi]])
