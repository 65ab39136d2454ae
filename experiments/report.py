"""A self-contained HTML report of a run: KPI table, plots embedded, scenario and manifest.

Everything is inline (CSS, PNGs as data URIs), so the file opens anywhere with no network.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from capsim.experiments.runs import format_value as _fmt
from capsim.models.scenario import load
from capsim.simcore.store import RunStore, atomic_write_bytes

PLOT_TITLES = {
    "fan_chart.png": "Capacity vs demand: Claude demand on the modelled clouds against the "
                     "serving capacity of all enabled clouds",
    "capacity_by_generation.png": "Installed compute by chip generation (median of each "
                                  "generation, stacked; training and serving), with median "
                                  "demand and the median capacity allocated to serving (dashed)",
    "capacity_by_cloud.png": "Installed compute by cloud (training and serving), median with "
                             "50% and 90% bands",
    "shortfall_probability.png": "Probability of a shortfall by month",
    "slo_breach_probability.png": "Probability of an SLO breach by month",
    "slo_heatmap.png": "Share of hours meeting the SLO by year and month",
    "power.png": "Datacenter power: energized vs populated",
    "stranded_chips.png": "Chips delivered but waiting for powered space",
    "chips_by_state.png": "Chips by state: in transit, waiting for power, installed, in repair, "
                          "retired (median of each state, stacked; the dotted line is chips "
                          "shipped)",
    "spend_vs_commitment.png": "Cumulative spend on each cloud against its commitment over the "
                               "commitment window",
    "revenue.png": "Revenue: Anthropic-wide run-rate, and revenue earned and lost to unserved "
                   "tokens on the modelled clouds, per year",
    "kpi_ecdf.png": "KPI distributions across replications",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}
h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.muted{color:#666;font-size:.9rem}figure{margin:1rem 0}img{max-width:100%;border:1px solid #eee}
code{background:#f3f3f3;padding:0 .2rem}
"""


def _kpi_rows(summary: dict) -> str:
    rows = []
    for section in ("kpis", "milestones"):
        for name, d in summary.get(section, {}).items():
            u = d.get("unit", "")
            lo, hi = d["ci95"]
            rows.append(
                f"<tr><td><code>{html.escape(name)}</code></td><td>{_fmt(d['mean'], u)}</td>"
                f"<td>[{_fmt(lo, u)}, {_fmt(hi, u)}]</td><td>{_fmt(d['p05'], u)}</td>"
                f"<td>{_fmt(d['p50'], u)}</td><td>{_fmt(d['p95'], u)}</td>"
                f"<td>{html.escape(u)}</td></tr>")
    return "\n".join(rows)


def render(run_dir: Path) -> str:
    """The report's HTML text."""
    store = RunStore.open(run_dir)
    m = store.manifest()
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        from capsim.experiments.runs import write_summary

        write_summary(store)
    summary = json.loads(summary_path.read_text())
    sc = load(run_dir / "scenario.toml")[0]
    figures = []
    for name, title in PLOT_TITLES.items():
        p = run_dir / "plots" / name
        if p.exists():
            data = base64.b64encode(p.read_bytes()).decode()
            figures.append(f'<figure><img alt="{html.escape(title)}" '
                           f'src="data:image/png;base64,{data}"><figcaption class="muted">'
                           f"{html.escape(title)}</figcaption></figure>")
    # Only what runs: a disabled cloud's generations and campuses take no part.
    clouds = {c: cl.label for c, cl in sc.clouds.items() if cl.enabled}
    gens = [g for g, gen in sc.supply.generations.items() if gen.cloud in clouds]
    campuses = [k for k, cp in sc.datacenters.campuses.items() if cp.cloud in clouds]
    knobs = {
        "demand.growth_multiplier": sc.demand.growth_multiplier,
        "supply.delivery_delay_days": sc.supply.delivery_delay_days,
        "datacenters.power_on_delay_days": sc.datacenters.power_on_delay_days,
        "surges.intensity_multiplier": sc.surges.intensity_multiplier,
    }
    facts = {k: m.get(k) for k in ("status", "replications_done", "seed", "executor", "workers",
                                   "capsim_version", "started", "finished", "python", "numpy",
                                   "simpy", "scenario_sha256")}
    facts["overrides"] = " ".join(m.get("overrides") or []) or "none"
    fact_rows = "\n".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                          for k, v in facts.items())
    knob_rows = "\n".join(f"<tr><td><code>{k}</code></td><td>{v:g}</td></tr>"
                          for k, v in knobs.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>capsim report: {html.escape(sc.name)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(sc.scenario.title or sc.name)}</h1>
<p class="muted">capsim run <code>{html.escape(str(run_dir))}</code>:
scenario <code>{html.escape(sc.name)}</code>, {sc.scenario.start} to {sc.scenario.end},
{summary.get('replications')} replications, seed {m.get('seed')}.</p>
<p>{html.escape(sc.scenario.description)}</p>
<h2>Key figures</h2>
<table id="kpis"><thead><tr><th>KPI</th><th>mean</th><th>95% CI</th>
<th>p05</th><th>p50</th><th>p95</th><th>unit</th></tr></thead><tbody>
{_kpi_rows(summary)}
</tbody></table>
<p class="muted">Intervals are Student-t for means (Wilson for the probability); p05..p95 are
percentiles across replications.</p>
<h2>Plots</h2>
{''.join(figures) or '<p>No plots in this run directory.</p>'}
<h2>Scenario</h2>
<p>Enabled clouds: {html.escape(', '.join(clouds.values()))};
{len(gens)} chip generations ({html.escape(', '.join(gens))}),
{len(campuses)} campuses ({html.escape(', '.join(campuses))}).
The full resolved scenario, with every parameter's unit and source, is <code>scenario.toml</code>
in the run directory.</p>
<table><thead><tr><th>stress knob</th><th>value</th></tr></thead><tbody>
{knob_rows}
</tbody></table>
<h2>Run</h2>
<table><tbody>
{fact_rows}
</tbody></table>
</body></html>
"""


def write(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report (default DIR/report.html) atomically."""
    out = out or run_dir / "report.html"
    atomic_write_bytes(out, render(run_dir).encode("utf-8"))
    return out
