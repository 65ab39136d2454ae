"""The report of a run: a self-contained HTML document that opens with the answer.

Order: the answer in words (generated from the results), a table of contents, the KPI
table with units, definitions and 95% intervals, the history fit when the run has one,
by-cloud and by-generation tables, plots grouped by question with a caption each, the
scenario's key assumptions and the model's caveats, and the run's facts. Everything is
inline (CSS, images as data URIs), so the file opens anywhere with no network.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from capsim.experiments.pipelines import figures, kpi_text
from capsim.experiments.pipelines.answer import answer, pct, short_value
from capsim.experiments.pipelines.history_report import history_rows
from capsim.experiments.pipelines.runs import format_value
from capsim.models.scenario import Scenario, load
from capsim.simcore import plots, stats
from capsim.simcore.store import RunStore, StoreError, atomic_write_bytes
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).with_name("templates")

ASSUMPTIONS = (
    "demand.revenue_run_rate_usd", "demand.cloud_share", "demand.growth_start",
    "demand.growth_long_run", "demand.growth_halflife_years", "demand.efficiency_gain_per_year",
    "demand.price_decline_per_year", "service.serving_share", "service.training_flex_share",
    "service.slo_target_share", "datacenters.pue", "fleet.integration_days",
    "fleet.useful_life_years", "finance.capex_usd_per_mw",
    "market.elasticity", "market.tam_usd_per_year", "market.gross_margin_target",
    "finance.spend_share_of_revenue",
)
"""Scenario parameters the answer leans on most, shown with distribution, unit and source."""

KNOBS = ("demand.growth_multiplier", "supply.delivery_delay_days",
         "datacenters.power_on_delay_days", "surges.intensity_multiplier")

CAVEATS = (
    "Customers react to throttling ([customers], when reactions are on) through assumed "
    "rates with no published figure: retries wait at most until midnight UTC, customers "
    "leave or stay away at monthly reviews, and customers within a group (segment, size "
    "class, region) are alike; nobody who left comes back.",
    "Only the clouds in the scenario serve Claude; a cloud switched off takes no part. "
    "Demand that leaves goes to competitors, which are not modelled beyond that count.",
    "Compute and demand are in tokens per second of one reference model mix; a change of "
    "mix appears only through the yearly efficiency gain.",
    "Training is a reserved share of compute that lends part of itself to serving when "
    "serving is short; no training plan or schedule is modelled.",
    "Power paths are lead-time distributions per campus, not grid studies; network, storage, "
    "CPUs, cooling water and staff are not modelled.",
    "Service quality is analytic queueing per hour (Erlang C with the Allen-Cunneen "
    "correction), checked against a request-level simulation, not a trace of real requests.",
    "Money is nominal US dollars, not discounted; prices per MW-year and tokens are scenario "
    "assumptions.",
    "Many inputs have no public figure and are assumptions marked as such in scenario.toml; "
    "the results are consequences of the assumptions, not forecasts.",
)


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


def kpi_rows(summary: dict) -> list[dict]:
    """One row per KPI and milestone, in the terminal's number format (42%, 2026-08, $1.2B).

    Name, unit, definition, mean, 95% interval, median and the middle 90% of replications;
    a probability (the mean of a 0/1 indicator) has no percentiles.
    """
    rows = []
    for section in ("kpis", "milestones"):
        for name, d in summary.get(section, {}).items():
            u = kpi_text.unit(name, d)
            lo, hi = d.get("ci95") or (None, None)
            note = ""
            if d.get("share_never"):
                note = f"never within the horizon in {pct(d['share_never'])} of replications"
            elif d.get("n_missing"):
                note = f"{d['n_missing']} replications without a value"
            indicator = u == "probability"
            rows.append({"name": name, "unit": kpi_text.unit_shown(u),
                         "definition": kpi_text.definition(name),
                         "mean": short_value(d.get("mean"), u),
                         "ci": f"{short_value(lo, u)} to {short_value(hi, u)}",
                         "p50": "-" if indicator else short_value(d.get("p50"), u),
                         "spread": "-" if indicator else
                         f"{short_value(d.get('p05'), u)} to {short_value(d.get('p95'), u)}",
                         "note": note, "interval": d.get("interval", "Student t")})
    return rows


def _cell(d: dict, unit: str, floor: float | None = None) -> str:
    """'mean [lo, hi]'; counts and tokens/s as 12.3M, dollars as $1.2B; lo clipped at floor."""
    def f(v):
        if v is None or v != v:
            return "-"
        if unit == "USD":
            return format_value(v, unit)
        return plots.human(v)

    lo, hi = d.get("ci95") or (None, None)
    if floor is not None and lo is not None and lo == lo:
        lo = max(lo, floor)
    return f"{f(d.get('mean'))} [{f(lo)}, {f(hi)}]"


def cloud_rows(summary: dict, scenario: Scenario) -> tuple[list[str], list[dict]]:
    """(column headers, rows) of the by-cloud table: mean [95% CI] per metric."""
    by = summary.get("by_cloud") or {}
    if not by:
        return [], []
    metrics = list(next(iter(by.values())))
    heads = [f"{m} ({next(iter(by.values()))[m].get('unit', '')})" for m in metrics]
    rows = []
    for cloud, ms in by.items():
        label = scenario.clouds[cloud].label if cloud in scenario.clouds else cloud
        rows.append({"name": label, "cells": [_cell(ms[m], ms[m].get("unit", ""), 0.0)
                                              for m in metrics]})
    return heads, rows


GEN_COLUMNS = (("compute_tps__{g}", "installed compute (reference tokens/s)", "tokens/s"),
               ("chips_installed__{g}", "chips installed", "chips"),
               ("chips_waiting__{g}", "chips waiting for power", "chips"),
               ("chips_retired__{g}", "chips retired", "chips"))


def generation_rows(run_dir: Path, scenario: Scenario) -> tuple[list[str], list[dict], str]:
    """(headers, rows, date) of the by-generation table on the run's last day."""
    path = run_dir / "timeseries.parquet"
    names = set(pq.read_schema(path).names)
    gens = [g for g, gen in scenario.supply.generations.items()
            if scenario.clouds.get(gen.cloud) is not None and scenario.clouds[gen.cloud].enabled
            and f"compute_tps__{g}" in names]
    if not gens:
        return [], [], ""
    dates = pq.read_table(path, columns=["date"])["date"]
    last = pc.max(dates)
    cols = [c.format(g=g) for g in gens for c, _, _ in GEN_COLUMNS if c.format(g=g) in names]
    t = pq.read_table(path, columns=cols, filters=[("date", "==", last)])
    rows = []
    for g in gens:
        cells = []
        for col, _, kind in GEN_COLUMNS:
            c = col.format(g=g)
            if c not in names:
                cells.append("-")
                continue
            d = stats.describe(t[c].to_numpy().astype(float))
            unit = "reference tokens/s" if kind == "tokens/s" else "chips"
            cells.append(_cell(d, unit, 0.0))
        cloud = scenario.clouds[scenario.supply.generations[g].cloud].label
        rows.append({"name": f"{g} ({cloud})", "cells": cells})
    return [h for _, h, _ in GEN_COLUMNS], rows, str(last.as_py())


def _musd(v: float) -> str:
    return f"${v / 1e6:,.1f}M" if math.isfinite(v) else "-"


def implied_caveat(sc: Scenario) -> str:
    """The caveat on the run's Anthropic-wide figures: how they are implied."""
    how = kpi_text.implied(sc)
    return (f"Anthropic-wide figures (the revenue run-rates, Anthropic-wide spend, the "
            f"investment milestones they release) are {how}: the modelled clouds' revenue "
            "and spend over their share of Claude demand (demand.cloud_share), so they grow "
            "no faster than those clouds' capacity.")


def revenue_per_mw(run_dir: Path, summary: dict, implied: str = "implied") -> dict | None:
    """Revenue per MW-year of occupied IT capacity by calendar year, or None without it.

    Per replication and year: served revenue / occupied IT MW-years; the table gives the
    percentiles across replications, the mean revenue and IT MW, and each year's median
    ratio to 2026. The sentence sets the 2026 value against the public run-rate: the value
    the model would show if its run-rate on the last 2026 observation's date were the
    public one (its median 2026 value x observed / the model's median run-rate then).
    """
    import pandas as pd
    from capsim.models.market import revenue_per_mw_year

    path = run_dir / "timeseries.parquet"
    cols = ["replication", "date", "revenue_daily_usd", "occupied_it_mw"]
    if not set(cols) <= set(pq.read_schema(path).names):
        return None
    ts = pq.read_table(path, columns=cols).to_pandas()
    recs = []
    for rep, g in ts.groupby("replication"):
        years, per, days = revenue_per_mw_year(g["date"].to_numpy("datetime64[D]"),
                                               g["revenue_daily_usd"].to_numpy(float),
                                               g["occupied_it_mw"].to_numpy(float))
        rev = g.groupby(pd.to_datetime(g["date"]).dt.year)
        for y, v, d in zip(years, per, days, strict=True):
            recs.append({"replication": rep, "year": int(y), "per": v, "days": int(d),
                         "rev": float(rev["revenue_daily_usd"].sum()[y]),
                         "mw": float(rev["occupied_it_mw"].mean()[y])})
    df = pd.DataFrame(recs)
    ref = df[df.year == 2026].set_index("replication")["per"]
    df["ratio"] = df["per"] / df["replication"].map(ref)
    rows = []
    for y, g in df.groupby("year"):
        q = np.nanpercentile(g["per"], [5, 50, 95])
        rows.append({"year": y, "days": int(g["days"].max()),
                     "revenue": format_value(g["rev"].mean(), "USD"),
                     "it_mw": f"{g['mw'].mean():,.0f}",
                     "p05": _musd(q[0]), "p50": _musd(q[1]), "p95": _musd(q[2]),
                     "ratio": f"{np.nanmedian(g['ratio']):.2f}" if ref.size else "-"})
    out: dict = {"rows": rows, "sentence": ""}
    obs = [o for o in (summary.get("history") or {}).get("observations", [])
           if {"run_rate_usd", "run_rate_reported_usd"} & set(o.get("series") or [])
           and str(o.get("date", "")) >= "2026"]
    if ref.size:
        med = float(np.nanmedian(ref))
        text = f"2026: {_musd(med)} of revenue per occupied IT MW-year (median)"
        if obs:
            o = obs[-1]
            pub = med * o["observed"] / o["p50"]
            text += (f"; with the public run-rate of {format_value(o['observed'], 'USD')} a year "
                     f"on {o['date']} (the model's {implied} median then: "
                     f"{format_value(o['p50'], 'USD')})"
                     f" it would be {_musd(pub)}")
        later = df[(df.year > 2026) & (df.days >= 365)].groupby("year")["ratio"].median()
        if later.size:
            text += (f". Highest later year (median): {later.max():.2f}x the 2026 value "
                     f"({int(later.idxmax())}).")
        out["sentence"] = text
    return out


def _describe_param(p: Any) -> str:
    d = p.as_toml()
    d.pop("unit", None)
    d.pop("source", None)
    dist = d.pop("dist", "constant")
    body = ", ".join(f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}"
                     for k, v in d.items())
    return f"{dist}: {body}"


def assumptions(scenario: Scenario) -> list[dict]:
    """The key parameters: value or distribution, unit and source."""
    rows = []
    for key in ASSUMPTIONS:
        p = _get(scenario, key)
        if p is None or not hasattr(p, "as_toml"):
            continue
        rows.append({"key": key, "value": _describe_param(p), "unit": p.unit,
                     "source": p.source})
    return rows


def _embed(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


MAX_PLOT_BYTES = 64 * 2**20
"""The largest plot file the report embeds."""


def _own_file(path: Path, run_dir: Path) -> bool:
    """True for a regular file inside the run directory (no link leads elsewhere)."""
    try:
        st = path.lstat()
        inside = path.resolve().is_relative_to(run_dir.resolve())
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and inside and st.st_size <= MAX_PLOT_BYTES


def figure_groups(run_dir: Path) -> list[dict]:
    """The run's plots grouped by question, each with its caption and embedded image.

    Only regular files inside the run directory are embedded: a plot that is a link
    (or a plots/ that is one) is left out, so the report never carries a file from
    elsewhere on the machine.
    """
    plots_dir = run_dir / "plots"
    if plots_dir.is_symlink():
        return []
    try:  # each plot's caption from its data; the index's own for plots drawn before them
        made = json.loads((plots_dir / figures.CAPTIONS).read_text())
    except (OSError, ValueError):
        made = {}
    groups: dict[str, list[dict]] = {g: [] for g in figures.GROUPS}
    known = set()
    for f in figures.FIGURES:
        path = next((p for p in (plots_dir / f"{f.name}.png", plots_dir / f"{f.name}.svg")
                     if _own_file(p, run_dir)), None)
        known.add(f.name)
        if path is not None:
            groups[f.group].append({"id": f.name, "src": _embed(path),
                                    "caption": made.get(f.name) or f.caption})
    other = [p for p in sorted(plots_dir.glob("*.png"))
             if p.stem not in known and _own_file(p, run_dir)]
    out = [{"id": g, "title": figures.GROUPS[g], "figures": fs} for g, fs in groups.items() if fs]
    if other:
        out.append({"id": "other", "title": "Other plots in this run directory",
                    "figures": [{"id": p.stem, "src": _embed(p), "caption": p.stem}
                                for p in other]})
    return out


def _sensitivity(path: Path | None) -> dict | None:
    if path is None:
        return None
    if path.is_dir():
        found = sorted(path.glob("sensitivity_*.json"))
        if not found:
            raise StoreError(f"{path}: no sensitivity_*.json (run `capsim sensitivity {path}`)")
        path = found[0]
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: cannot read a sensitivity result: {exc}") from None
    if not isinstance(data, dict) or "ranking" not in data:
        raise StoreError(f"{path}: not a sensitivity result (no 'ranking')")
    return data


def context(run_dir: Path, sensitivity: Path | None = None) -> dict:
    """Everything the template shows, computed from the run directory."""
    store = RunStore.open(run_dir)
    m = store.manifest()
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        from capsim.experiments.pipelines.runs import write_summary

        write_summary(store)
    summary = json.loads(summary_path.read_text())
    sc = load(run_dir / "scenario.toml")[0]
    kpis = store.read_kpis().sort_values("replication")
    sens = _sensitivity(sensitivity)
    clouds = {c: cl.label for c, cl in sc.clouds.items() if cl.enabled}
    gen_heads, gen_rows, gen_date = generation_rows(run_dir, sc)
    cloud_heads, c_rows = cloud_rows(summary, sc)
    facts = {k: m.get(k) for k in ("status", "replications_done", "seed", "executor", "workers",
                                   "capsim_version", "started", "finished", "python", "numpy",
                                   "simpy", "scenario_sha256", "command")}
    facts["overrides"] = " ".join(m.get("overrides") or []) or "none"
    return {
        "title": sc.scenario.title or sc.name, "scenario": sc, "run_dir": str(run_dir),
        "manifest": m, "summary": summary, "replications": summary.get("replications"),
        "partial": m.get("status") != "complete",
        "answer": answer(summary, run_dir, kpis, sc, sens),
        "kpis": kpi_rows(summary),
        "history": history_rows(summary),
        "revenue_per_mw": revenue_per_mw(run_dir, summary, kpi_text.implied(sc)),
        "cloud_heads": cloud_heads, "cloud_rows": c_rows,
        "gen_heads": gen_heads, "gen_rows": gen_rows, "gen_date": gen_date,
        "groups": figure_groups(run_dir),
        "assumptions": assumptions(sc),
        "knobs": [(k, _get(sc, k)) for k in KNOBS if _get(sc, k) is not None],
        "clouds": list(clouds.values()),
        "caveats": (*CAVEATS, implied_caveat(sc)), "facts": facts,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def breakable(name: str) -> Markup:
    """A snake_case name that may wrap after its underscores (a <wbr> after each)."""
    return Markup("_<wbr>").join(escape(name).split("_"))


def render(run_dir: Path, sensitivity: Path | None = None) -> str:
    """The report's HTML text."""
    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["breakable"] = breakable
    return env.get_template("report.html.j2").render(**context(Path(run_dir), sensitivity))


def write(run_dir: Path, out: Path | None = None, sensitivity: Path | None = None) -> Path:
    """Write the report (default DIR/report.html) atomically."""
    out = out or run_dir / "report.html"
    atomic_write_bytes(out, render(run_dir, sensitivity).encode("utf-8"))
    return out
