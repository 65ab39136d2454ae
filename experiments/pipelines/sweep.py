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
from capsim.experiments.pipelines import figure_index, kpi_text
from capsim.models.capacity import HIGHER_IS_BETTER, KPIS, MILESTONES, CapacityModel
from capsim.models.scenario import ScenarioError, load
from capsim.simcore import plots, sensitivity
from capsim.simcore.executors import make_executor
from capsim.simcore.simulation import run_replication
from capsim.simcore.store import (
    RunStore,
    StoreError,
    atomic_write_bytes,
    atomic_write_table,
    dumps,
)
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


def _bar(total: int, enabled: bool | None):
    """A progress bar on stderr (default: in a terminal or a notebook), or None."""
    from capsim.simcore.progress import bar

    return bar(total, "sweep", enabled=enabled)


def check_bounds(scenario_name, overrides: list[str],
                 params: dict[str, tuple[float, float]]) -> None:
    """Refuse a range whose low or high end the scenario itself would refuse.

    A design samples inside the range, so a bad end might be missed by every point; each
    end is set on the scenario alone, and the problems of all of them are raised at once.

    Raises:
        ScenarioError: naming the key, the end and the scenario's problem with it.
    """
    problems, seen, source = [], set(), ""
    for key, (lo, hi) in params.items():
        for end, v in (("low", lo), ("high", hi)):
            try:
                load(scenario_name, [*overrides, f"{key}={v!r}"])
            except ScenarioError as exc:
                source = exc.source
                new = [p for p in exc.problems if (key, p.replace(repr(v), "")) not in seen]
                seen |= {(key, p.replace(repr(v), "")) for p in new}  # an unknown key once
                problems += [f"params[{key!r}] {end} end {v!r}: {p}" for p in new]
    if problems:
        raise ScenarioError(source, problems)


def run_sweep(scenario_name, overrides: list[str], params: dict[str, tuple[float, float]],
              samples: int, method: str, replications: int, seed: int, workers: int,
              out: Path, force: bool = False, executor: str = "processes",
              progress: bool | None = None) -> pd.DataFrame:
    """Run the design; writes DIR/sweep.parquet (one row per point x replication).

    The manifest records, per KPI, how many rows have no value (`missing_values`), so
    that points the sensitivity analysis will drop are visible from the start.
    """
    check_bounds(scenario_name, overrides, params)
    pts = design(params, samples, method, seed)
    scenarios = []
    for i, row in pts.iterrows():  # validate every point before running any
        sets = [f"{k}={v!r}" for k, v in row.items()]
        try:
            scenarios.append(load(scenario_name, [*overrides, *sets])[0])
        except ScenarioError as exc:
            raise ScenarioError(
                exc.source, [f"design point {i}: {p}" for p in exc.problems]) from None
    from capsim.experiments.pipelines.runs import version

    store = RunStore.create(out, {"capsim_version": version(), "kind": "sweep",
                                  "scenario": scenarios[0].name, "overrides": overrides,
                                  "params": {k: list(v) for k, v in params.items()},
                                  "samples": samples, "method": method, "seed": seed,
                                  "replications": replications}, force=force,
                            own_plot=figure_index.own_plot)
    ex = make_executor(executor, workers)
    rows = []
    tasks = [(i, scenarios[i], seed, r) for i in range(len(pts)) for r in range(replications)]
    bar = _bar(len(tasks), progress)
    try:
        for point, rep, kpis in ex.imap_unordered(_run_point, tasks):
            rows.append({"point": point, "replication": rep, **pts.iloc[point].to_dict(), **kpis})
            if bar is not None:
                bar.update(1)
        table = pd.DataFrame(rows).sort_values(["point", "replication"]).reset_index(drop=True)
        atomic_write_table(store.path / "sweep.parquet",
                           pa.Table.from_pandas(table, preserve_index=False))
        missing = {k: int(table[k].isna().sum()) for k in KPIS + MILESTONES
                   if k in table and table[k].isna().any()}
        store.update_manifest(status="complete", replications_done=len(table),
                              missing_values=missing)
    finally:
        if bar is not None:
            bar.close()
        ex.close()
        store.unlock()
    return table


MIN_DOF = 10
"""Fewer residual degrees of freedom than this (points - inputs - 1) and PRCC values
near +-1 can come from chance alone: the analysis warns."""


def analyse(run_dir: Path, kpi: str, boot: int = 200, seed: int = 0) -> dict:
    """PRCC ranking with intervals, and the input range that concentrates bad outcomes.

    Points whose KPI has no value in any replication are dropped and listed in
    `dropped_points`; `warnings` says so, and warns when there are too few points for
    the number of inputs. Fewer than inputs + 3 usable points is refused.
    """
    path = run_dir / "sweep.parquet"
    if not path.exists():
        raise StoreError(f"{run_dir}: no sweep.parquet (run `capsim sweep` first)")
    m = RunStore.open(run_dir).manifest()
    names = list(m["params"])
    df = pd.read_parquet(path)
    if kpi not in df:
        raise StoreError(f"{run_dir}: no KPI {kpi!r} (one of {', '.join(KPIS + MILESTONES)})")
    warnings = []
    per_point = df.groupby("point")[[*names, kpi]].mean()
    keep = np.isfinite(per_point[kpi].to_numpy(float))
    dropped = [int(i) for i in per_point.index[~keep]]
    per_point = per_point[keep]
    if dropped:
        warnings.append(f"{len(dropped)} of {len(keep)} design points dropped: {kpi} has no "
                        f"value in any of their replications (points {_ids(dropped)})")
    partial = int((df[kpi].isna() & ~df["point"].isin(dropped)).sum())
    if partial:
        warnings.append(f"{partial} of {len(df)} replications have no {kpi}; their points are "
                        "averaged over the replications that have one")
    n, k = len(per_point), len(names)
    if n < k + 3:
        raise StoreError(f"{run_dir}: {n} usable points is too few for {k} inputs; sweep more "
                         "--samples")
    if n - k - 1 < MIN_DOF:
        warnings.append(f"only {n} usable points for {k} inputs ({n - k - 1} degrees of "
                        f"freedom, fewer than {MIN_DOF}): PRCC values near +-1 may be chance; "
                        f"sweep at least {k + 1 + MIN_DOF} points")
    x, y = per_point[names].to_numpy(), per_point[kpi].to_numpy()
    est, lo, hi = sensitivity.prcc_with_ci(x, y, np.random.default_rng(seed), boot)
    order = np.argsort(-np.abs(est))
    ranking = [{"param": names[j], "prcc": float(est[j]), "ci95": [float(lo[j]), float(hi[j])]}
               for j in order]
    bad = y < np.median(y) if kpi in HIGHER_IS_BETTER else y > np.median(y)
    box = sensitivity.best_box(x, bad)
    return {"kpi": kpi, "points": int(len(y)), "points_total": int(len(keep)),
            "dropped_points": dropped, "warnings": warnings, "ranking": ranking,
            "box": None if box is None else {
                "param": names[box.column], "side": box.side, "threshold": box.threshold,
                "density": box.density, "coverage": box.coverage, "base_rate": box.base_rate},
            "x": x, "y": y, "bad": bad, "names": names}


def _ids(ids: list[int], most: int = 12) -> str:
    text = ", ".join(str(i) for i in ids[:most])
    return text + (f" and {len(ids) - most} more" if len(ids) > most else "")


def footer(run_dir: Path, result: dict) -> plots.Page:
    """The footer of a sweep's plots: scenario, seed, points and replications."""
    m = RunStore.open(run_dir).manifest()
    return plots.Page(f"sweep {run_dir.resolve().name} | scenario {m.get('scenario')} | seed "
                      f"{m.get('seed')} | {result['points']} of {result.get('points_total')} "
                      f"points x {m.get('replications')} replications | {m.get('method')}")


def discovery_plot(result: dict, path: Path, page: plots.Page | None = None) -> Path:
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
    kpi = result["kpi"]
    worse = "below" if kpi in HIGHER_IS_BETTER else "above"
    what = f"{kpi_text.label(kpi)} {worse} its median"
    if b:
        title = (f"{what[0].upper()}{what[1:]} in {b['density']:.0%} of points with "
                 f"{kpi_text.key_label(b['param'])} {b['side']} {b['threshold']:.3g} (vs "
                 f"{b['base_rate']:.0%} overall)")
    else:
        title = f"No single input range concentrates {what}"
    return plots.box_scatter(path, x, y, result["bad"],
                             xlabel=f"{kpi_text.key_label(names[jx])} (input value)",
                             ylabel=f"{kpi_text.key_label(names[jy])} (input value)",
                             title=title, box_x=span, outcome_label=what,
                             absent_label=f"{kpi_text.label(kpi)} at its median or "
                                          f"{'above' if worse == 'below' else 'below'}",
                             page=page)


def tornado(result: dict, path: Path, page: plots.Page | None = None) -> Path:
    """Horizontal bars of PRCC with bootstrap intervals, largest first."""
    r = result["ranking"]
    top = r[0] if r else None
    kpi = kpi_text.label(result["kpi"])
    if top is None:
        title = f"Sensitivity of {kpi}"
    elif top["ci95"][0] <= 0 <= top["ci95"][1]:  # the strongest is not clearly away from 0
        title = (f"No input's PRCC with {kpi} is clearly away from 0 over {result['points']} "
                 f"points (largest: {kpi_text.key_label(top['param'])}, {top['prcc']:+.2f})")
    else:
        title = (f"{kpi_text.key_label(top['param']).capitalize()} drives {kpi} most (PRCC "
                 f"{top['prcc']:+.2f}, {result['points']} points)")
    return plots.ranking_bars(
        path, [kpi_text.key_label(e["param"]) for e in r], np.array([e["prcc"] for e in r]),
        np.array([e["ci95"][0] for e in r]), np.array([e["ci95"][1] for e in r]),
        xlabel=f"partial rank correlation with {kpi} (PRCC, -1 to 1)",
        ylabel="input (swept range)", title=title, page=page)


def write_prcc(run_dir: Path, result: dict) -> dict[str, Path]:
    """Draw a PRCC result's plots and record it beside the sweep; the files by role.

    The result, warnings and dropped points included, is always recorded beside the
    sweep, as DIR/sensitivity_<kpi>.json.
    """
    plots_dir = run_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    page = footer(run_dir, result)
    kpi = result["kpi"]
    files = {"tornado": tornado(result, plots_dir / f"tornado_{kpi}.png", page),
             "discovery": discovery_plot(result, plots_dir / f"discovery_{kpi}.png", page)}
    record = run_dir / f"sensitivity_{kpi}.json"
    atomic_write_bytes(record, dumps(prcc_record(result)).encode())
    return {**files, "record": record}


def prcc_record(result: dict) -> dict:
    """A PRCC result without its arrays (what sensitivity_<kpi>.json holds)."""
    return {k: v for k, v in result.items() if k not in ("x", "y", "bad", "names", "files")}
