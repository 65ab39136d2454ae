"""Global sensitivity of a scenario's KPIs to its uncertain inputs: Sobol' indices or Morris.

Each design point pins every chosen uncertain input (`capsim.models.inputs`: parameters and
uncertain list entries) at a quantile of its own distribution (the point's coordinate in
[0, 1]); inputs not chosen keep their distributions. Every point runs the
same replications with the same seed (common random numbers), so the indices measure
the inputs, not the noise of the other random draws; a point's output is the mean of
its replications. Results stream to DIR/parts/ as they finish: `capsim sensitivity DIR`
resumes a stopped design and analyses a finished one.

Directory: manifest.json (kind "sensitivity"), scenario.toml, design.parquet (one row per
point: quantiles u__<input> and values), results.parquet (one row per point and
replication: KPIs and planning outcomes), sensitivity.json and plots/<method>_<kpi>.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from capsim.experiments.pipelines import figure_index
from capsim.models.capacity import KPIS, MILESTONES
from capsim.models.decisions import OUTCOMES, Window, evaluate
from capsim.models.inputs import Builder, Input
from capsim.models.scenario import ScenarioError, to_toml
from capsim.simcore import plots, sensitivity
from capsim.simcore.executors import make_executor
from capsim.simcore.resultlog import ResultLog
from capsim.simcore.store import RunStore, StoreError, atomic_write_table

METHODS = ("sobol", "morris")
DEFAULT_SAMPLES = {"sobol": 16, "morris": 10}
"""Sobol': base samples N (N x (d + 2) points); Morris: trajectories (x (d + 1) points)."""
DEFAULT_KPIS = ["unserved_fraction", "short_month_share", "spend_usd"]
KNOWN_KPIS = tuple(dict.fromkeys([*KPIS, *MILESTONES, *OUTCOMES]))


def choose_inputs(builder: Builder, keys: list[str]) -> list[Input]:
    """The uncertain inputs named by `keys` (exact names or prefixes); all when empty.

    A prefix ends at a dot or a list index: `demand.` and `demand.growth_by_period` both
    take `demand.growth_by_period[2].rate`.
    """
    every = list(builder.inputs.values())
    if not keys:
        return every
    chosen: list[Input] = []
    problems = []
    for k in keys:
        stem = k.rstrip(".")
        hit = [u for u in every if u.name == k or u.name.startswith((stem + ".", stem + "["))]
        if not hit:
            problems.append(f"{k!r}: no uncertain input (a parameter or uncertain list entry "
                            "that can take more than one value, of an enabled cloud) has "
                            "this name or prefix")
        chosen += [u for u in hit if u not in chosen]
    if problems:
        raise ScenarioError("--param", problems)
    return chosen


def point_count(method: str, d: int, samples: int) -> int:
    """Design points of a method for d inputs."""
    return samples * (d + 2) if method == "sobol" else samples * (d + 1)


def _design(method: str, names: list[str], samples: int, seed: int) -> np.ndarray:
    if method == "sobol":
        return sensitivity.sobol_design(names, samples, seed)
    return sensitivity.morris_design(names, samples, seed)


def start(scenario: str | None, overrides: list[str], method: str, params: list[str],
          samples: int | None, replications: int, seed: int, out: Path,
          kpis: list[str] | None = None, force: bool = False) -> RunStore:
    """Create the design directory (validated inputs, design.parquet); run it with `resume`."""
    if method not in METHODS:
        raise ScenarioError("--method", [f"{method!r}: one of {', '.join(METHODS)} (or prcc on "
                                         "a sweep directory)"])
    kpis = list(kpis or DEFAULT_KPIS)
    bad = [k for k in kpis if k not in KNOWN_KPIS]
    if bad:
        raise ScenarioError("--kpi", [f"unknown KPI {k!r} (one of {', '.join(KNOWN_KPIS)})"
                                      for k in bad])
    b = Builder(scenario, overrides)
    inputs = choose_inputs(b, params)
    if len(inputs) < 2:
        raise ScenarioError("--param", ["choose at least two uncertain inputs"])
    samples = samples or DEFAULT_SAMPLES[method]
    names = [u.name for u in inputs]
    x = _design(method, names, samples, seed)
    cols: dict[str, Any] = {"point": np.arange(len(x))}
    for j, u in enumerate(inputs):
        cols[f"u__{u.name}"] = x[:, j]
        cols[u.name] = [u.value(v) for v in x[:, j]]
    table = pd.DataFrame(cols)
    # The design's extreme corners must make valid scenarios; check them before running.
    for corner in (0.0, 1.0):
        try:
            b.build(pins={u.name: u.value(corner) for u in inputs})
        except ScenarioError as exc:
            raise ScenarioError(exc.source, [f"inputs at quantile {corner:g}: {p}"
                                             for p in exc.problems]) from None
    from capsim.experiments.pipelines.runs import version

    store = RunStore.create(out, {
        "capsim_version": version(), "kind": "sensitivity", "method": method,
        "scenario": b.base.name, "scenario_arg": scenario, "overrides": list(overrides),
        "params": names, "samples": samples, "points": int(len(x)),
        "replications": replications, "seed": seed, "kpis": kpis,
        "window": [str(w) for w in _window(b.base)[:2]]}, force=force,
                            own_plot=figure_index.own_plot)
    store.write_text("scenario.toml", to_toml(b.base))
    atomic_write_table(store.path / "design.parquet", pa.Table.from_pandas(table,
                                                                          preserve_index=False))
    return store


def _window(scenario) -> tuple:
    w = Window.default(scenario)
    return w.start, w.end, w


def resume(path: Path, workers: int = 1, executor: str = "processes",
           progress: bool | None = None) -> dict[str, Any]:
    """Run the design's missing (point, replication) pairs, then analyse; returns the analysis."""
    store = RunStore.open(path, lock=True)
    try:
        m = store.manifest()
        if m.get("kind") != "sensitivity":
            raise StoreError(f"{path}: not a sensitivity design (kind {m.get('kind')!r})")
        b = Builder(str(path / "scenario.toml"))
        design = pd.read_parquet(path / "design.parquet")
        inputs = b.inputs
        names = list(m["params"])
        log = ResultLog(store.parts, "results")
        done = log.read()
        have = set() if done.empty else set(zip(done["point"], done["replication"], strict=True))
        reps = int(m["replications"])
        todo = [(i, r) for i in range(len(design)) for r in range(reps) if (i, r) not in have]
        window = _window(b.base)[2]
        u = design[[f"u__{k}" for k in names]].to_numpy()

        def tasks():
            for i, r in todo:
                sc = b.build(pins={k: inputs[k].value(u[i, j]) for j, k in enumerate(names)})
                yield (i, sc, int(m["seed"]), r, window)

        bar = _bar(len(design) * reps, len(have), progress)
        ex = make_executor(executor, workers)
        try:
            for point, rep, res in ex.imap_unordered(evaluate, tasks()):
                log.append({"point": int(point), "replication": int(rep), **res})
                if bar is not None:
                    bar.update(1)
        finally:
            log.flush()
            ex.close()
            if bar is not None:
                bar.close()
            store.update_manifest(replications_done=len(log.read()))
        results = log.read().sort_values(["point", "replication"]).reset_index(drop=True)
        atomic_write_table(path / "results.parquet", pa.Table.from_pandas(results,
                                                                         preserve_index=False))
        store.update_manifest(status="complete", replications_done=len(results))
        return analyse(path)
    finally:
        store.unlock()


def _bar(total: int, initial: int, enabled: bool | None):
    from capsim.simcore.progress import bar

    return bar(total, "design points x replications", initial=initial, enabled=enabled)


def analyse(path: Path, boot: int = 200) -> dict[str, Any]:
    """Indices of every KPI of the design; writes sensitivity.json and the bar charts."""
    m = RunStore.open(path).manifest()
    res = pd.read_parquet(path / "results.parquet")
    design = pd.read_parquet(path / "design.parquet")
    names = list(m["params"])
    per_point = res.groupby("point").mean(numeric_only=True).reindex(design["point"])
    out: dict[str, Any] = {"method": m["method"], "scenario": m["scenario"],
                           "points": int(len(design)), "replications": int(m["replications"]),
                           "params": names, "kpis": {}}
    seed = int(m["seed"])
    for kpi in m["kpis"]:
        y = per_point[kpi].to_numpy(float)
        if not np.isfinite(y).all():
            out["kpis"][kpi] = {"error": f"{int((~np.isfinite(y)).sum())} points have no value"}
            continue
        entry: dict[str, Any] = {"mean": float(y.mean()), "sd": float(y.std())}
        if m["method"] == "sobol":
            r = sensitivity.sobol_indices(names, y, seed, boot)
            s, lo, hi = sensitivity.sum_first_order(r)
            entry.update(sum_s1=s, sum_s1_ci95=[lo, hi], inputs=[
                {"param": k, "S1": float(r["S1"][j]), "S1_conf": float(r["S1_conf"][j]),
                 "ST": float(r["ST"][j]), "ST_conf": float(r["ST_conf"][j])}
                for j, k in enumerate(names)])
            entry["inputs"].sort(key=lambda e: -e["ST"])
        else:
            x = design[[f"u__{k}" for k in names]].to_numpy()
            r = sensitivity.morris_effects(names, x, y, seed, resamples=boot)
            entry["inputs"] = sorted(
                ({"param": k, "mu_star": float(r["mu_star"][j]),
                  "mu_star_conf": float(r["mu_star_conf"][j]), "mu": float(r["mu"][j]),
                  "sigma": float(r["sigma"][j])} for j, k in enumerate(names)),
                key=lambda e: -e["mu_star"])
        plots_dir = path / "plots"
        plots_dir.mkdir(exist_ok=True)
        entry["plot"] = str(bar_chart(m["method"], kpi, entry, len(design), int(m["replications"]),
                                      plots_dir / f"{m['method']}_{kpi}.png"))
        out["kpis"][kpi] = entry
    RunStore.open(path).write_json("sensitivity.json", out)
    return out


def bar_chart(method: str, kpi: str, entry: dict, points: int, reps: int, path: Path,
              top: int = 25) -> Path:
    """Sobol': first and total order with intervals; Morris: mu* with interval, and sigma."""
    import matplotlib.pyplot as plt
    from capsim.experiments.pipelines.kpi_text import key_label, label

    rows = entry["inputs"][:top][::-1]
    labels = [key_label(e["param"]) for e in rows]
    first = entry["inputs"][0] if entry["inputs"] else None
    kpi = label(kpi)
    yy = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.8), dpi=110)
    if method == "sobol":
        h = 0.38
        ax.barh(yy + h / 2, [e["ST"] for e in rows], h, xerr=[e["ST_conf"] for e in rows],
                color=plots.PALETTE[1], capsize=2, label="total order (ST)")
        ax.barh(yy - h / 2, [e["S1"] for e in rows], h, xerr=[e["S1_conf"] for e in rows],
                color=plots.PALETTE[0], capsize=2, label="first order (S1)")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("Sobol' index (share of the KPI's variance), 95% bootstrap interval")
        lo, hi = entry["sum_s1_ci95"]
        title = (f"Sobol' indices of {kpi}: {points} points x {reps} replication(s); "
                 f"sum of S1 = {entry['sum_s1']:.2f} [{lo:.2f}, {hi:.2f}]")
        if first is not None:
            title = (f"{key_label(first['param']).capitalize()} accounts for the largest share "
                     f"of the variance of {kpi} (total order {first['ST']:.2f}); " + title)
    else:
        ax.barh(yy, [e["mu_star"] for e in rows], 0.6, xerr=[e["mu_star_conf"] for e in rows],
                color=plots.PALETTE[0], capsize=2, label="mu* (mean |elementary effect|)")
        ax.plot([e["sigma"] for e in rows], yy, "o", color=plots.PALETTE[1],
                label="sigma (interactions, non-linearity)")
        ax.set_xlabel(f"change in {kpi} per unit of the input's quantile")
        title = f"Morris screening of {kpi}: {points} points x {reps} replication(s)"
        if first is not None:
            title = (f"{key_label(first['param']).capitalize()} moves {kpi} most (mu* "
                     f"{first['mu_star']:.3g}); " + title)
    ax.set_yticks(yy, labels, fontsize=8)
    title += (f" (top {top} of {len(entry['inputs'])})" if len(entry["inputs"]) > top else "")
    ax.set_title(plots._wrap(fig, title), loc="left", fontsize=10)  # long titles wrap
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def report(result: dict[str, Any], top: int = 10) -> str:
    """The plain-text summary `capsim sensitivity` prints."""
    lines = []
    for kpi, e in result["kpis"].items():
        if "error" in e:
            lines.append(f"{kpi}: {e['error']}")
            continue
        lines.append(f"{result['method'].capitalize()} sensitivity of {kpi} over "
                     f"{len(result['params'])} inputs, {result['points']} points x "
                     f"{result['replications']} replication(s) (mean {e['mean']:.4g}, "
                     f"sd {e['sd']:.3g}):")
        if result["method"] == "sobol":
            lo, hi = e["sum_s1_ci95"]
            lines.append(f"  sum of first-order indices {e['sum_s1']:.3f} [{lo:.3f}, {hi:.3f}]")
            for i, r in enumerate(e["inputs"][:top], 1):
                lines.append(f"  {i:2d}. {r['param']:58s} S1 {r['S1']:+.3f} +- {r['S1_conf']:.3f}"
                             f"   ST {r['ST']:.3f} +- {r['ST_conf']:.3f}")
        else:
            for i, r in enumerate(e["inputs"][:top], 1):
                lines.append(f"  {i:2d}. {r['param']:58s} mu* {r['mu_star']:.4g} +- "
                             f"{r['mu_star_conf']:.3g}   sigma {r['sigma']:.4g}")
        lines.append(f"  plot: {e['plot']}")
    return "\n".join(lines)
