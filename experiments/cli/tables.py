"""The plain-text tables the `capsim` command prints: KPIs, clouds, calibration, PRCC."""

from __future__ import annotations

import numpy as np
from capsim.experiments.pipelines.answer import headline_names, short_value
from capsim.experiments.pipelines.kpi_text import unit_shown
from capsim.experiments.pipelines.runs import format_value

WIDTH = 100
"""The widest line of the table `capsim run` prints by default."""


def headline_table(summary: dict, names: list[str] | None = None, width: int = WIDTH) -> str:
    """The headline KPIs: mean, 95% CI and the middle 90% of replications, at most `width` wide.

    A 0/1 indicator is a probability: its mean and Wilson interval, no percentiles.
    """
    have = {**summary.get("kpis", {}), **summary.get("milestones", {})}
    names = names if names is not None else headline_names(summary)
    rows = [("KPI", "mean", "95% CI", "90% of reps", "unit")]
    for name in names:
        d = have[name]
        u = d.get("unit", "")
        lo, hi = d.get("ci95") or (None, None)
        spread = "-" if u == "probability" else \
            f"{short_value(d.get('p05'), u)} to {short_value(d.get('p95'), u)}"
        rows.append((name, short_value(d.get("mean"), u),
                     f"{short_value(lo, u)} to {short_value(hi, u)}", spread, unit_shown(u)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    room = max(8, width - sum(widths) - 8)
    lines = []
    for r in rows:
        unit = r[4] if len(r[4]) <= room else r[4][:room - 1] + "~"
        lines.append("  ".join([r[0].ljust(widths[0]), *(c.rjust(w) for c, w in
                                zip(r[1:4], widths[1:], strict=True)), unit]).rstrip())
    lines.insert(1, "-" * min(width, max(len(x) for x in lines)))
    return "\n".join(lines)


def kpi_table(summary: dict) -> str:
    """A plain-text table of the summary's KPIs and milestones."""
    _fmt = format_value
    rows = [("KPI", "mean", "95% CI", "p05", "p50", "p95", "unit")]
    for section in ("kpis", "milestones"):
        for name, d in summary[section].items():
            u = d.get("unit", "")
            lo, hi = d["ci95"]
            rows.append((name, _fmt(d["mean"], u), f"[{_fmt(lo, u)}, {_fmt(hi, u)}]",
                         _fmt(d["p05"], u), _fmt(d["p50"], u), _fmt(d["p95"], u), u))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    fa = summary["kpis"].get("first_adequate_date")
    if fa and fa.get("share_never"):
        lines.append(f"first_adequate_date: never adequate within the horizon in "
                     f"{fa['share_never']:.0%} of replications (not in the statistics above)")
    fs = summary["kpis"].get("first_short_month")
    if fs and fs.get("share_never"):
        lines.append(f"first_short_month: no short month in the window in "
                     f"{fs['share_never']:.0%} of replications (not in the statistics above)")
    if summary.get("by_cloud"):
        lines += ["", cloud_table(summary["by_cloud"])]
    return "\n".join(lines)


def _cell(v: float | None, unit: str) -> str:
    if v is None or v != v:
        return "-"
    return f"{v:.3g}" if unit.endswith("tokens/s") else format_value(v, unit)


def cloud_table(by_cloud: dict) -> str:
    """Capacity and spend by cloud: mean [95% CI] of each per-cloud KPI."""
    metrics = list(next(iter(by_cloud.values())))
    rows = [("cloud", *(f"{m} ({next(iter(by_cloud.values()))[m]['unit']})" for m in metrics))]
    for cloud, ms in by_cloud.items():
        cells = []
        for m in metrics:
            d, u = ms[m], ms[m]["unit"]
            lo, hi = d["ci95"]
            cells.append(f"{_cell(d['mean'], u)} [{_cell(lo, u)}, {_cell(hi, u)}]")
        rows.append((cloud, *cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "By cloud (mean [95% CI]; energy and compute on the last day, spend over the run):\n" \
        + "\n".join(lines)


def calibration_report(s: dict) -> str:
    """A plain-text account of a calibration summary."""
    lines = [f"{s['scenario']}: {s['simulated']} of {s['design_points']} points simulated, "
             f"{s['accepted']} retained (acceptance {s['acceptance']:.1%}, ESS "
             f"{s['ess']:.0f}, cut-off {s['cutoff_used']:.2f}), {s['wall_seconds']:.0f} s",
             "", f"{'observation':26s} {'observed':>9s} {'prior p05':>9s} {'p95':>9s} "
             f"{'post p05':>9s} {'p50':>9s} {'p95':>9s} {'score':>5s} inside fitted"]
    for r in s["fit"]:
        lines.append(
            f"{r['name']:26s} {r['observed']:9.3g} {r['prior_p05']:9.3g} {r['prior_p95']:9.3g} "
            f"{r['post_p05']:9.3g} {r['post_p50']:9.3g} {r['post_p95']:9.3g} "
            f"{r['score']:5.2f} {'yes' if r['inside_posterior'] else 'NO':6s} "
            f"{'yes' if r['fitted'] else 'held out'}")
    h = s["holdout"]
    if h["total"]:
        lines += ["", f"holdout after {s['holdout_after']}: {h['inside']} of {h['total']} "
                  "held-out observations inside the posterior-predictive 90% band"]
    top = sorted(s["parameters"].items(),
                 key=lambda kv: -np.nan_to_num(kv[1]["ks_distance"]))[:8]
    lines += ["", "inputs the record moves most (prior -> posterior 90% interval):"]
    lines += [f"  {k}: {v['prior_p05']:.3g}-{v['prior_p95']:.3g} -> "
              f"{v['posterior_p05']:.3g}-{v['posterior_p95']:.3g} {v['unit']}" for k, v in top]
    return "\n".join(lines)


def prcc_text(r: dict) -> str:
    """A PRCC ranking and its scenario-discovery box, as `capsim sensitivity DIR` prints it."""
    from capsim.models.capacity import HIGHER_IS_BETTER

    lines = [f"Sensitivity of {r['kpi']} over {r['points']} design points (PRCC, 95% bootstrap "
             "CI):"]
    for i, e in enumerate(r["ranking"], 1):
        lo, hi = e["ci95"]
        lines.append(f"  {i}. {e['param']:40s} {e['prcc']:+.2f}  [{lo:+.2f}, {hi:+.2f}]")
    b = r["box"]
    worse = "lower" if r["kpi"] in HIGHER_IS_BETTER else "higher"
    if b:
        lines.append(f"Scenario discovery: {r['kpi']} is {worse} than its median in "
                     f"{b['density']:.0%} of points with {b['param']} {b['side']} "
                     f"{b['threshold']:.4g} (vs {b['base_rate']:.0%} overall; the box holds "
                     f"{b['coverage']:.0%} of those points).")
    lines += [f"warning: {m}" for m in r["warnings"]]
    return "\n".join(lines)
