"""Sweeps over scenario inputs (Latin hypercube or Sobol designs) and their sensitivity.

Every design point runs the same replications with the same seed (common random
numbers), so differences between points come from the inputs, not from noise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from capsim.models.capacity import HIGHER_IS_BETTER, KPIS, MILESTONES, CapacityModel
from capsim.models.scenario import ScenarioError, load
from capsim.simcore import plots, sensitivity
from capsim.simcore.executors import make_executor
from capsim.simcore.simulation import run_replication
from capsim.simcore.store import RunStore, StoreError, atomic_write_table
from scipy.stats import qmc


def parse_params(items: list[str]) -> dict[str, tuple[float, float]]:
    """`key=low:high` items -> {key: (low, high)}."""
    out = {}
    for item in items:
        key, sep, rng = item.partition("=")
        lo, colon, hi = rng.partition(":")
        try:
            low, high = float(lo), float(hi)
        except ValueError:
            raise ScenarioError(
                "--param", [f"{item!r}: expected key=low:high with numbers"]) from None
        if not sep or not colon or not low < high:
            raise ScenarioError("--param", [f"{item!r}: expected key=low:high with low < high"])
        out[key.strip()] = (low, high)
    if not out:
        raise ScenarioError("--param", ["give at least one --param key=low:high"])
    return out


def design(params: dict[str, tuple[float, float]], samples: int, method: str,
           seed: int) -> pd.DataFrame:
    """Design points from scipy.stats.qmc, scaled to each parameter's range."""
    d = len(params)
    if method == "lhs":
        unit = qmc.LatinHypercube(d=d, rng=np.random.default_rng(seed)).random(samples)
    else:
        # Sobol' points keep their balance properties at powers of two.
        m = math.ceil(math.log2(max(samples, 2)))
        sobol = qmc.Sobol(d=d, scramble=True, rng=np.random.default_rng(seed))
        unit = sobol.random_base2(m)[:samples]
    lows = np.array([lo for lo, _ in params.values()])
    highs = np.array([hi for _, hi in params.values()])
    return pd.DataFrame(qmc.scale(unit, lows, highs), columns=list(params))


def _run_point(point: int, scenario, seed: int, rep: int) -> tuple[int, int, dict]:
    """One replication of one design point (top-level so that it pickles)."""
    return point, rep, dict(run_replication(CapacityModel, scenario, seed, rep).kpis)


def run_sweep(scenario_name, overrides: list[str], params: dict[str, tuple[float, float]],
              samples: int, method: str, replications: int, seed: int, workers: int,
              out: Path, force: bool = False, executor: str = "processes") -> pd.DataFrame:
    """Run the design; writes DIR/sweep.parquet (one row per point x replication)."""
    pts = design(params, samples, method, seed)
    scenarios = []
    for i, row in pts.iterrows():  # validate every point before running any
        sets = [f"{k}={v!r}" for k, v in row.items()]
        try:
            scenarios.append(load(scenario_name, [*overrides, *sets])[0])
        except ScenarioError as exc:
            raise ScenarioError(
                exc.source, [f"design point {i}: {p}" for p in exc.problems]) from None
    from capsim.experiments.runs import version

    store = RunStore.create(out, {"capsim_version": version(), "kind": "sweep",
                                  "scenario": scenarios[0].name, "overrides": overrides,
                                  "params": {k: list(v) for k, v in params.items()},
                                  "samples": samples, "method": method, "seed": seed,
                                  "replications": replications}, force=force)
    ex = make_executor(executor, workers)
    rows = []
    try:
        tasks = [(i, scenarios[i], seed, r) for i in range(len(pts)) for r in range(replications)]
        for point, rep, kpis in ex.imap_unordered(_run_point, tasks):
            rows.append({"point": point, "replication": rep, **pts.iloc[point].to_dict(), **kpis})
        table = pd.DataFrame(rows).sort_values(["point", "replication"]).reset_index(drop=True)
        atomic_write_table(store.path / "sweep.parquet",
                           pa.Table.from_pandas(table, preserve_index=False))
        store.update_manifest(status="complete", replications_done=len(table))
    finally:
        ex.close()
        store.unlock()
    return table


def analyse(run_dir: Path, kpi: str, boot: int = 200, seed: int = 0) -> dict:
    """PRCC ranking with intervals, and the input range that concentrates bad outcomes."""
    path = run_dir / "sweep.parquet"
    if not path.exists():
        raise StoreError(f"{run_dir}: no sweep.parquet (run `capsim sweep` first)")
    m = RunStore.open(run_dir).manifest()
    names = list(m["params"])
    df = pd.read_parquet(path)
    if kpi not in df:
        raise StoreError(f"{run_dir}: no KPI {kpi!r} (one of {', '.join(KPIS + MILESTONES)})")
    per_point = df.groupby("point")[[*names, kpi]].mean()
    per_point = per_point[np.isfinite(per_point[kpi])]
    if len(per_point) < len(names) + 3:
        raise StoreError(f"{run_dir}: {len(per_point)} usable points is too few for "
                         f"{len(names)} inputs; sweep more --samples")
    x, y = per_point[names].to_numpy(), per_point[kpi].to_numpy()
    est, lo, hi = sensitivity.prcc_with_ci(x, y, np.random.default_rng(seed), boot)
    order = np.argsort(-np.abs(est))
    ranking = [{"param": names[j], "prcc": float(est[j]), "ci95": [float(lo[j]), float(hi[j])]}
               for j in order]
    bad = y < np.median(y) if kpi in HIGHER_IS_BETTER else y > np.median(y)
    box = sensitivity.best_box(x, bad)
    return {"kpi": kpi, "points": int(len(y)), "ranking": ranking,
            "box": None if box is None else {
                "param": names[box.column], "side": box.side, "threshold": box.threshold,
                "density": box.density, "coverage": box.coverage, "base_rate": box.base_rate},
            "x": x, "y": y, "bad": bad, "names": names}


def discovery_plot(result: dict, path: Path) -> Path:
    """The box's input against the next most influential one, points marked by outcome."""
    names = result["names"]
    ranked = [names.index(e["param"]) for e in result["ranking"]]
    b = result["box"]
    jx = names.index(b["param"]) if b else ranked[0]
    jy = next((j for j in ranked if j != jx), jx)
    x, y = result["x"][:, jx], result["x"][:, jy]
    span = None
    if b:
        span = (b["threshold"], x.max()) if b["side"] == "above" else (x.min(), b["threshold"])
    worse = "below" if result["kpi"] in HIGHER_IS_BETTER else "above"
    return plots.box_scatter(path, x, y, result["bad"], xlabel=names[jx], ylabel=names[jy],
                             title=f"Where {result['kpi']} is {worse} its median", box_x=span)


def tornado(result: dict, path: Path) -> Path:
    """Horizontal bars of PRCC with bootstrap intervals, largest first."""
    import matplotlib.pyplot as plt

    r = result["ranking"][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(r) + 1.5), dpi=110)
    vals = [e["prcc"] for e in r]
    err = np.array([[e["prcc"] - e["ci95"][0] for e in r], [e["ci95"][1] - e["prcc"] for e in r]])
    colors = [plots.PALETTE[1] if v > 0 else plots.PALETTE[0] for v in vals]
    ax.barh([e["param"] for e in r], vals, xerr=err, color=colors, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlim(-1, 1)
    ax.set_xlabel(f"partial rank correlation with {result['kpi']} (95% bootstrap interval)")
    ax.set_title(f"Sensitivity of {result['kpi']} ({result['points']} design points)", loc="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
