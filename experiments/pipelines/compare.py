"""Compare two runs: paired (common random numbers) when they share seed and replications.

Runs made with the same seed draw the same numbers for every component that consumes
them the same way, so replication i of A and of B differ only by the change between
the scenarios: the per-replication differences have far less variance than two
independent samples. `compare_runs` reports both intervals and how much pairing narrowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from capsim.models.capacity import KPIS, MILESTONES
from capsim.simcore import plots, stats
from capsim.simcore.store import RunStore, StoreError


def _unit(name: str, *summaries: dict) -> str:
    for sm in summaries:
        for section in ("kpis", "milestones"):
            u = sm.get(section, {}).get(name, {}).get("unit")
            if u:
                return str(u)
    from capsim.experiments.pipelines.runs import KPI_UNITS

    return KPI_UNITS.get(name, "")


def _summary(store: RunStore) -> dict:
    p = store.path / "summary.json"
    try:
        return json.loads(p.read_text()) if p.exists() else {}
    except (OSError, ValueError):
        return {}


def _window(path: Path) -> dict[str, str] | None:
    """The dates a run's KPIs cover: start, evaluation_start, end (None: unreadable)."""
    import tomllib

    try:
        meta = tomllib.loads((path / "scenario.toml").read_text()).get("scenario", {})
    except (OSError, ValueError):
        return None
    return {k: str(meta.get(k)) for k in ("start", "evaluation_start", "end")}


def _windows(dir_a: Path, dir_b: Path) -> str | None:
    """A warning when the two runs' KPIs cover different windows, else None."""
    wa, wb = _window(dir_a), _window(dir_b)
    if wa is None or wb is None or wa == wb:
        return None
    differ = ", ".join(f"{k} {wa[k]} (A) vs {wb[k]} (B)" for k in wa if wa[k] != wb[k])
    return (f"the runs cover different windows ({differ}): KPIs over a window (totals, "
            "shares, dates) are not like for like")


def compare_runs(dir_a: Path, dir_b: Path) -> dict:
    """Per-KPI comparison of run B against run A (B - A).

    A run with no finished replication is refused (StoreError); a partial run is
    compared on the replications it has, with a warning in `warnings`.
    """
    sa, sb = RunStore.open(dir_a), RunStore.open(dir_b)
    ma, mb = sa.manifest(), sb.manifest()
    warnings = []
    for label, st_, m in (("A", sa, ma), ("B", sb, mb)):
        done = len(st_.done())
        if not done and not (st_.path / "kpis.parquet").exists():
            raise StoreError(f"{st_.path}: run {label} has no finished replication to compare")
        if m.get("status") != "complete":
            warnings.append(f"run {label} ({st_.path}) is {m.get('status', 'unfinished')}: "
                            f"{done} of {m.get('replications')} replications; finish it with "
                            f"capsim run --resume {st_.path}")
        n = m.get("replications")
        if m.get("status") == "complete" and isinstance(n, int):
            damage = st_.tables_problem(n)
            if damage is not None:
                raise StoreError(f"{st_.path}: run {label} is marked complete, but {damage}; "
                                 f"finish it with: capsim run --resume {st_.path}")
    window = _windows(dir_a, dir_b)
    if window is not None:
        warnings.append(window)
    ka = sa.read_kpis().set_index("replication").sort_index()
    kb = sb.read_kpis().set_index("replication").sort_index()
    paired = ma.get("seed") == mb.get("seed") and list(ka.index) == list(kb.index)
    if ma.get("seed") == mb.get("seed") and not paired:
        warnings.append("same seed but different replications: compared unpaired")
    suma, sumb = _summary(sa), _summary(sb)
    out: dict = {
        "a": str(dir_a), "b": str(dir_b),
        "a_scenario": ma.get("scenario"), "b_scenario": mb.get("scenario"),
        "a_overrides": ma.get("overrides", []), "b_overrides": mb.get("overrides", []),
        "seed_a": ma.get("seed"), "seed_b": mb.get("seed"),
        "status_a": ma.get("status"), "status_b": mb.get("status"),
        "replications_a": int(len(ka)), "replications_b": int(len(kb)),
        "paired": bool(paired), "warnings": warnings, "kpis": {},
    }
    for name in KPIS + MILESTONES:
        if name not in ka or name not in kb:
            continue
        a, b = ka[name].to_numpy(float), kb[name].to_numpy(float)
        unpaired = stats.unpaired_difference(a, b)
        unit = _unit(name, suma, sumb)
        row: dict[str, Any] = {"unit": unit,
               "a_mean": float(np.nanmean(a)) if np.isfinite(a).any() else None,
               "b_mean": float(np.nanmean(b)) if np.isfinite(b).any() else None}
        row["effect_size"] = effect_size(a, b, paired)
        bounded = unit == "probability" or unit.startswith("share")
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
        if bounded:  # a difference of shares lies in [-1, 1], whatever a t interval says
            row["diff_ci95"] = [float(np.clip(v, -1.0, 1.0)) for v in row["diff_ci95"]]
        out["kpis"][name] = row
    # Largest effect first: what changed most, in units of its own spread.
    order = sorted(out["kpis"], key=lambda k: -(out["kpis"][k]["effect_size"] or 0.0))
    out["kpis"] = {k: out["kpis"][k] for k in order}
    out["headline"] = headline(out)
    return out


def effect_size(a: np.ndarray, b: np.ndarray, paired: bool) -> float | None:
    """|mean difference| in standard deviations (None without two values to compare).

    Of the paired differences (Cohen's d_z) when paired, else of the pooled samples
    (Cohen's d); infinite when every replication moved by the same amount. With common
    random numbers the paired differences vary far less than either run, so a paired
    effect of a change is large even where the two means are close.
    """
    if paired:
        d = (b - a)[np.isfinite(a) & np.isfinite(b)]
        if d.size < 2:
            return None
        m, sd = float(d.mean()), float(d.std(ddof=1))
    else:
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size < 2 or b.size < 2:
            return None
        m = float(b.mean() - a.mean())
        sd = float(np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1))
                           / (a.size + b.size - 2)))
    if sd > 0:
        return abs(m) / sd
    return None if m == 0 else float("inf")  # every replication moved by the same amount


def headline(cmp: dict, most: int = 3) -> str:
    """The comparison in a sentence: the largest effects whose 95% interval excludes 0."""
    from capsim.experiments.pipelines import kpi_text

    kind = "paired" if cmp["paired"] else "unpaired"
    clear = [(k, r) for k, r in cmp["kpis"].items()
             if r.get("effect_size") and np.isfinite(r["diff_ci95"]).all()
             and (r["diff_ci95"][0] > 0 or r["diff_ci95"][1] < 0)]
    if not clear:
        return (f"No KPI changes clearly from A to B: every {kind} 95% interval of B - A "
                f"includes 0 ({cmp['replications_b']} replications).")
    def said(r: dict) -> str:
        u = r.get("unit", "")
        lo, hi = r["diff_ci95"]
        shown = "" if u in ("probability", "decimal year") or u.startswith(("share", "USD")) \
            else f" {u}"
        return (f"{diff_value(r['diff_mean'], u)}{shown} ({diff_value(lo, u)} to "
                f"{diff_value(hi, u)})")

    parts = [f"{kpi_text.label(k)} {said(r)}" for k, r in clear[:most]]
    return (f"Largest {kind} effects of B against A: " + "; ".join(parts)
            + f" ({len(clear)} of {len(cmp['kpis'])} KPIs change clearly).")


def diff_value(v: float | None, unit: str) -> str:
    """A difference in the run table's format, signed: +1.2 pp, +$3.4B, +2.1 mo, +12k."""
    from capsim.experiments.pipelines.kpi_text import short_value

    if v is None or not np.isfinite(v):
        return "-" if v is None or np.isnan(v) else ("+inf" if v > 0 else "-inf")
    sign = "-" if v < 0 else "+"
    if unit == "probability" or unit.startswith("share"):
        x = abs(v) * 100
        return f"{sign}{x:.0f} pp" if x >= 10 or x == 0 else f"{sign}{x:.2g} pp"
    if unit == "decimal year":  # a difference of dates is a duration
        return f"{sign}{abs(v) * 12:.1f} mo"
    return sign + short_value(abs(v), unit)


def table(cmp: dict, width: int = 100) -> str:
    """Plain-text table of a comparison: the headline, then KPIs by effect size.

    The headline and the notes are wrapped to `width`; the table keeps one row per KPI.

    Values in the run table's format (42%, 2026-08, $1.2B); differences signed, shares
    in percentage points and dates in months; any warnings first.
    """
    import textwrap

    from capsim.experiments.pipelines.kpi_text import short_value, unit_shown

    head = ("KPI", "A mean", "B mean", "B - A", "95% CI", "effect", "p", "unit")
    rows = [head]
    for name, r in cmp["kpis"].items():
        u = r.get("unit", "")
        lo, hi = r["diff_ci95"]
        p, e = r["p_value"], r.get("effect_size")
        rows.append((name, short_value(r["a_mean"], u), short_value(r["b_mean"], u),
                     diff_value(r["diff_mean"], u), f"{diff_value(lo, u)} to {diff_value(hi, u)}",
                     "-" if e is None else ("inf" if e == float("inf") else f"{e:.2g}"),
                     "-" if p is None or p != p else f"{p:.2g}", unit_shown(u)))
    w = [max(len(x[i]) for x in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w[i]) if i in (0, len(head) - 1) else c.rjust(w[i])
                       for i, c in enumerate(x)).rstrip() for x in rows]
    lines.insert(1, "-" * max(len(x) for x in lines))
    narrow = [r["narrowing"] for r in cmp["kpis"].values() if r.get("narrowing") is not None]
    kind = ("paired (same seed and replications: common random numbers)" if cmp["paired"]
            else "unpaired (different seeds or replications: Welch intervals)")
    warn = "".join(f"WARNING: {m}\n" for m in cmp.get("warnings", []))
    sentence = textwrap.fill(cmp.get("headline") or headline(cmp), width)
    note = ("effect: |B - A| in standard deviations of the paired differences (unpaired: of "
            "the runs); rows by effect.")
    if narrow:
        note += f" Pairing narrows the intervals {float(np.median(narrow)):.3g}x (median)."
    note = textwrap.fill(note, width)
    return (f"{warn}B = {cmp['b']}  vs  A = {cmp['a']}: {kind}\n{sentence}\n\n"
            + "\n".join(lines) + f"\n{note}")


def _weekly(path: Path, col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = pq.read_table(path / "timeseries.parquet",
                       columns=["replication", "date", col]).to_pandas()
    ts["date"] = pd.to_datetime(ts["date"])
    wide = ts.pivot(index="replication", columns="date", values=col).sort_index()
    x = wide.to_numpy(float)
    n = x.shape[1] // 7 * 7
    return wide.index.to_numpy(), wide.columns.to_numpy()[:n:7], \
        x[:, :n].reshape(x.shape[0], -1, 7).mean(axis=2)


def weekly_difference(a: np.ndarray, b: np.ndarray, paired: bool,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean difference B - A per week with its interval: (mean, lo, hi).

    Paired (rows are the same replications): a t interval of the per-replication
    differences; unpaired: a Welch interval of the difference of means.
    """
    from scipy import stats as st

    if paired:
        d = b - a
        n = np.isfinite(d).sum(axis=0)
        m = np.nanmean(d, axis=0)
        se = np.nanstd(d, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
        df = np.maximum(n - 1, 1)
    else:
        m = np.nanmean(b, axis=0) - np.nanmean(a, axis=0)
        va = np.nanvar(a, axis=0, ddof=1) / a.shape[0]
        vb = np.nanvar(b, axis=0, ddof=1) / b.shape[0]
        se = np.sqrt(va + vb)
        with np.errstate(invalid="ignore", divide="ignore"):
            df = (va + vb) ** 2 / (va**2 / max(a.shape[0] - 1, 1) + vb**2 / max(b.shape[0] - 1, 1))
        df = np.where(np.isfinite(df) & (df > 0), df, 1.0)
    h = st.t.ppf(0.5 + level / 2, df) * se
    return m, m - h, m + h


def plot(cmp: dict, path: Path, page: plots.Page | None = None) -> Path:
    """Both runs' fan charts of demand and capacity, and the unmet difference B - A.

    The lower panel is the mean difference in unmet demand (unserved plus lost to
    throttling; unserved alone for runs that predate it) per week with its 95% interval
    (paired by replication when the runs share seeds and replications).
    """
    a, b = Path(cmp["a"]), Path(cmp["b"])
    for d in (a, b):
        if not (d / "timeseries.parquet").exists():
            raise StoreError(f"{d}: no timeseries.parquet (run not finalised)")
    unmet = all("unmet_tps" in pq.read_schema(d / "timeseries.parquet").names for d in (a, b))
    col, what = ("unmet_tps", "unmet") if unmet else ("unserved_tps", "unserved")
    kpi, kpi_label = (("unmet_demand_share", "unmet share of demand") if unmet
                      else ("unserved_fraction", "unserved share of tokens"))
    series = {}
    with plots.style():
        fig, axes = plots.new_figure(2, 1, size=(11, 8.6), sharex=True)
        ax1, ax2 = axes[:, 0]
        demands = {}
        for label, d in (("A", a), ("B", b)):
            reps, dates, cap = _weekly(d, "capacity_tps")
            _, _, dem = _weekly(d, "demand_tps")
            _, _, uns = _weekly(d, col)
            series[label] = (reps, dates, uns)
            demands[label] = (dates, dem)
            # A in filled bands, B as lines: two fans on one axis stay apart.
            plots.fan(ax1, dates, cap, f"{label} serving capacity",
                      plots.PALETTE[1 if label == "A" else 3], bands=label == "A",
                      ls="-" if label == "A" else "--")
        (da_, dem_a), (db_, dem_b) = demands["A"], demands["B"]
        if np.array_equal(da_, db_) and np.array_equal(dem_a, dem_b):
            plots.fan(ax1, da_, dem_a, "demand (the same in A and B)", plots.PALETTE[0])
        else:
            plots.fan(ax1, da_, dem_a, "A demand", plots.PALETTE[0])
            plots.fan(ax1, db_, dem_b, "B demand", plots.PALETTE[2], bands=False, ls="--")
        ax1.set_yscale("log")
        plots.decorate(ax1, ylabel="tokens/s (reference tokens/s, weekly mean)", yfmt="count",
                        title="Demand and serving capacity of A and B (log scale)")
        plots.legend_outside(ax1)
        (ra, da, ua), (rb, db, ub) = series["A"], series["B"]
        common = np.intersect1d(da, db)
        ia, ib = np.isin(da, common), np.isin(db, common)
        paired = bool(cmp["paired"] and np.array_equal(ra, rb))
        m, lo, hi = weekly_difference(ua[:, ia], ub[:, ib], paired)
        how = "paired by replication" if paired else "difference of means, unpaired"
        ax2.fill_between(common, lo, hi, color=plots.PALETTE[4], alpha=0.25, lw=0,
                         label="95% interval of the mean difference")
        ax2.plot(common, m, color=plots.PALETTE[4], label=f"mean B - A ({how})")
        ax2.axhline(0, color="black", lw=0.8)
        ax2.set_xlim(common[0], common[-1])
        plots.decorate(ax2, ylabel=f"{what} B - A (reference tokens/s)", yfmt="count",
                        title=f"Difference in {what} demand, B - A")
        plots.legend_outside(ax2)
        u = cmp["kpis"].get(kpi)
        if u and u.get("diff_mean") is not None and np.isfinite(u["diff_ci95"]).all():
            lo_, hi_ = u["diff_ci95"]
            unit = u.get("unit", "")
            title = (f"From A ({a.name}) to B ({b.name}): {kpi_label} "
                     f"{diff_value(u['diff_mean'], unit)} (95% CI {diff_value(lo_, unit)} to "
                     f"{diff_value(hi_, unit)})")
        else:
            title = f"What changes from A ({a.name}) to B ({b.name})?"
        # Wrapped to the figure's width, so that a long title (long run names) is never cut.
        fig.suptitle(plots._wrap(fig, title), x=0.01, ha="left")
        if page is None:
            page = plots.Page(f"A: {a.name}, scenario {cmp.get('a_scenario')}, seed "
                              f"{cmp.get('seed_a')}, {cmp.get('replications_a')} replications | "
                              f"B: {b.name}, scenario {cmp.get('b_scenario')}, seed "
                              f"{cmp.get('seed_b')}, {cmp.get('replications_b')} replications")
        return plots.save(fig, path, page)
