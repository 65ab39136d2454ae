"""Compare two runs: paired (common random numbers) when they share seed and replications.

Runs made with the same seed draw the same numbers for every component that consumes
them the same way, so replication i of A and of B differ only by the change between
the scenarios: the per-replication differences have far less variance than two
independent samples. `compare_runs` reports both intervals and how much pairing narrowed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from capsim.models.capacity import KPIS, MILESTONES
from capsim.simcore import plots, stats
from capsim.simcore.store import RunStore, StoreError


def compare_runs(dir_a: Path, dir_b: Path) -> dict:
    """Per-KPI comparison of run B against run A (B - A)."""
    sa, sb = RunStore.open(dir_a), RunStore.open(dir_b)
    ma, mb = sa.manifest(), sb.manifest()
    ka = sa.read_kpis().set_index("replication").sort_index()
    kb = sb.read_kpis().set_index("replication").sort_index()
    paired = ma.get("seed") == mb.get("seed") and list(ka.index) == list(kb.index)
    out: dict = {
        "a": str(dir_a), "b": str(dir_b),
        "a_scenario": ma.get("scenario"), "b_scenario": mb.get("scenario"),
        "a_overrides": ma.get("overrides", []), "b_overrides": mb.get("overrides", []),
        "seed_a": ma.get("seed"), "seed_b": mb.get("seed"),
        "replications_a": int(len(ka)), "replications_b": int(len(kb)),
        "paired": bool(paired), "kpis": {},
    }
    for name in KPIS + MILESTONES:
        if name not in ka or name not in kb:
            continue
        a, b = ka[name].to_numpy(float), kb[name].to_numpy(float)
        unpaired = stats.unpaired_difference(a, b)
        row = {"a_mean": float(np.nanmean(a)) if np.isfinite(a).any() else None,
               "b_mean": float(np.nanmean(b)) if np.isfinite(b).any() else None}
        if paired:
            d = stats.paired_difference(a, b)
            row.update(diff_mean=d["diff_mean"], diff_ci95=d["diff_ci95"], p_value=d["p_value"],
                       unpaired_ci95=unpaired["diff_ci95"])
            wp = d["diff_ci95"][1] - d["diff_ci95"][0]
            wu = unpaired["diff_ci95"][1] - unpaired["diff_ci95"][0]
            # How many times narrower pairing made the interval; none when the paired
            # differences have no spread at all (the change did not touch this KPI).
            row["narrowing"] = wu / wp if np.isfinite([wp, wu]).all() and wp > 0 else None
        else:
            row.update(diff_mean=unpaired["diff_mean"], diff_ci95=unpaired["diff_ci95"],
                       p_value=unpaired["p_value"])
        out["kpis"][name] = row
    return out


def table(cmp: dict) -> str:
    """Plain-text table of a comparison."""
    head = ("KPI", "A mean", "B mean", "B - A", "95% CI", "p", "pairing narrows")
    rows = [head]

    def f(v):
        if v is None or not np.isfinite(v):
            return "-" if v is None or np.isnan(v) else ("inf" if v > 0 else "-inf")
        return f"{v:.4g}"

    for name, r in cmp["kpis"].items():
        lo, hi = r["diff_ci95"]
        rows.append((name, f(r["a_mean"]), f(r["b_mean"]), f(r["diff_mean"]),
                     f"[{f(lo)}, {f(hi)}]", f(r["p_value"]),
                     f"{f(r['narrowing'])}x" if r.get("narrowing") is not None else "-"))
    w = [max(len(x[i]) for x in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(x))
             for x in rows]
    lines.insert(1, "-" * len(lines[0]))
    kind = ("paired (same seed and replications: common random numbers)" if cmp["paired"]
            else "unpaired (different seeds or replications: Welch intervals)")
    return f"B = {cmp['b']}  vs  A = {cmp['a']}: {kind}\n" + "\n".join(lines)


def _weekly(path: Path, col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = pq.read_table(path / "timeseries.parquet",
                       columns=["replication", "date", col]).to_pandas()
    ts["date"] = pd.to_datetime(ts["date"])
    wide = ts.pivot(index="replication", columns="date", values=col).sort_index()
    x = wide.to_numpy(float)
    n = x.shape[1] // 7 * 7
    return wide.index.to_numpy(), wide.columns.to_numpy()[:n:7], \
        x[:, :n].reshape(x.shape[0], -1, 7).mean(axis=2)


def plot(cmp: dict, path: Path) -> Path:
    """Both fan charts of demand and capacity, and the difference in unserved demand."""
    import matplotlib.pyplot as plt

    a, b = Path(cmp["a"]), Path(cmp["b"])
    for d in (a, b):
        if not (d / "timeseries.parquet").exists():
            raise StoreError(f"{d}: no timeseries.parquet (run not finalised)")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8), dpi=110, sharex=True)
    series = {}
    for label, d in (("A", a), ("B", b)):
        reps, dates, cap = _weekly(d, "capacity_tps")
        _, _, dem = _weekly(d, "demand_tps")
        _, _, uns = _weekly(d, "unserved_tps")
        series[label] = (reps, dates, uns)
        plots.fan(ax1, dates, dem, f"{label} demand", plots.PALETTE[0 if label == "A" else 2])
        plots.fan(ax1, dates, cap, f"{label} capacity", plots.PALETTE[1 if label == "A" else 3])
    ax1.set_yscale("log")
    plots._style(ax1, "reference tokens/s (weekly mean)", "Demand and serving capacity, A and B")
    ax1.legend(loc="upper left", fontsize=8, frameon=False)
    (ra, da, ua), (rb, db, ub) = series["A"], series["B"]
    common = np.intersect1d(da, db)
    ia, ib = np.isin(da, common), np.isin(db, common)
    if cmp["paired"] and np.array_equal(ra, rb):
        diff = ub[:, ib] - ua[:, ia]
        label = "B - A, paired by replication"
    else:
        diff = ub[:, ib].mean(axis=0, keepdims=True) - ua[:, ia].mean(axis=0, keepdims=True)
        label = "B - A, difference of means (unpaired)"
    plots.fan(ax2, common, diff, label, plots.PALETTE[4])
    ax2.axhline(0, color="black", lw=0.8)
    plots._style(ax2, "unserved tokens/s, B - A", "Difference in unserved demand over time")
    ax2.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
