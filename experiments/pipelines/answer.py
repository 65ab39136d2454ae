"""The answer of a run's report in words: how likely a shortfall is, when, how much, why.

Every sentence is made from the run's own numbers (its summary, KPIs and daily series).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from capsim.experiments.pipelines import figures
from capsim.experiments.pipelines.kpi_text import (  # noqa: F401 (read here by callers)
    HEADLINE_KPIS,
    HEADLINE_MAX,
    headline_names,
    month_of,
    pct,
    short_value,
)
from capsim.experiments.pipelines.runs import format_value
from capsim.models.scenario import Scenario
from capsim.simcore import stats


def interval(d: dict, unit: str) -> str:
    """The 95% interval of a summary entry, in its unit."""
    lo, hi = d.get("ci95") or (None, None)
    if unit in ("probability",) or unit.startswith("share"):
        return f"{pct(lo)}-{pct(hi)}"
    return f"{format_value(lo, unit)} to {format_value(hi, unit)}"


def first_short_months(run_dir: Path, kpis, threshold: float = 1e-9) -> np.ndarray:
    """Decimal year of each replication's first short month (NaN: none).

    From the `first_short_month` KPI when the run has it, else from the daily series
    (a month is short when any of its demand is unserved, as in the shortfall plot).
    """
    if "first_short_month" in kpis:
        return kpis["first_short_month"].to_numpy(float)
    import pandas as pd

    ts = pq.read_table(run_dir / "timeseries.parquet",
                       columns=["replication", "date", "demand_tps", "unserved_tps"]).to_pandas()
    ts["month"] = pd.to_datetime(ts["date"]).dt.to_period("M")
    g = ts.groupby(["replication", "month"])[["demand_tps", "unserved_tps"]].sum()
    short = g[g["unserved_tps"] > threshold * g["demand_tps"]].reset_index()
    first = short.groupby("replication")["month"].min()
    reps = sorted(ts["replication"].unique())
    out = np.full(len(reps), np.nan)
    for i, r in enumerate(reps):
        if r in first.index:
            m = first[r]
            out[i] = m.year + (m.month - 1) / 12
    return out


def answer(summary: dict, run_dir: Path, kpis, scenario: Scenario,
           sensitivity: dict | None = None) -> dict:
    """The answer in words: probability, never adequate, when, how much, drivers.

    Returns {"headline": sentence with the probability and the never-adequate share,
    "when": ..., "how_much": ..., "drivers": ... or None, "figures": {...}} where the
    texts are plain strings made from the run's own numbers.
    """
    k = summary.get("kpis", {})
    n = int(summary.get("replications") or len(kpis))
    out: dict = {"figures": {}}
    out["headline"] = _headline(k, n, scenario, out["figures"])
    first = first_short_months(run_dir, kpis, figures.short_threshold(scenario))
    out["when"] = _when(k, first)
    out["how_much"] = _how_much(k) + _service(k)
    out["drivers"] = _drivers(sensitivity)
    return out


def _headline(k: dict, n: int, scenario: Scenario, numbers: dict) -> str:
    """P(some month short) and P(never adequate), with intervals; fills `numbers`."""
    meta = scenario.scenario
    w0 = getattr(meta, "evaluation_start", None) or meta.start
    end = getattr(meta, "evaluation_end", None) or meta.end
    window = "" if (w0, end) == (meta.start, meta.end) else f" from {w0:%Y-%m} to {end:%Y-%m}"
    p = k.get("p_shortfall_any")
    never = k.get("p_never_sustained_adequate")
    fa = None if never else k.get("first_adequate_date")  # runs that predate it
    parts = []
    u, f = k.get("unmet_demand_share"), k.get("forgone_revenue_total_usd")
    if u and u.get("mean") is not None:
        lead = (f"{pct(u['mean'])} of the demand the market would bring{window} goes unmet, "
                f"unserved or lost to throttling (95% CI {interval(u, 'share')})")
        if f and f.get("mean") is not None:
            lead += (f", forgoing {format_value(f['mean'], 'USD')} of revenue (95% CI "
                     f"{interval(f, 'USD')})")
        parts.append(lead)
        numbers["unmet_demand_share"] = [u["mean"], *(u.get("ci95") or (None, None))]
    if p:
        lo, hi = p["ci95"]
        parts.append(f"{'capacity' if parts else 'Capacity'} falls short of demand in at least "
                     f"one month{window} in "
                     f"{pct(p['mean'])} of {n} replications (95% CI {pct(lo)}-{pct(hi)})")
        numbers["p_shortfall"] = [p["mean"], lo, hi]
    if never and never.get("mean") is not None:
        lo, hi = never["ci95"]
        months = scenario.service.sustained_adequacy_months
        parts.append(f"capacity never stays adequate for {months} months in a row before "
                     f"{end:%Y-%m} in {pct(never['mean'])} (95% CI {pct(lo)}-{pct(hi)})")
        numbers["never_adequate"] = [never["mean"], lo, hi]
    if fa is not None:
        n_all = int(fa.get("n", 0)) + int(fa.get("n_missing", 0))
        never = int(fa.get("n_missing", 0))
        share, lo, hi = stats.proportion_ci(never, n_all) if n_all else (math.nan,) * 3
        parts.append(f"it never becomes adequate before {end:%Y-%m} in {pct(share)} "
                     f"(95% CI {pct(lo)}-{pct(hi)})")
        numbers["never_adequate"] = [share, lo, hi]
    if not parts:
        return "This run has no shortfall KPIs."
    text = "; ".join(parts[:-1]) + (", and " if len(parts) > 1 else "") + parts[-1] + "."
    return text[0].upper() + text[1:]


def _when(k: dict, first: np.ndarray) -> str:
    """When the first short month comes, when capacity catches up, how many months short."""
    sa = k.get("sustained_adequacy_date")
    fa = None if sa else k.get("first_adequate_date")  # runs that predate it
    fin = first[np.isfinite(first)]
    adequate = ""
    if sa is not None and sa.get("n"):
        adequate = (f" Where capacity does catch up, unmet demand stays below the short-month "
                    f"threshold from {month_of(sa['p50'])} on for a sustained run of months in "
                    f"the median such replication ({int(sa['n'])} of "
                    f"{int(sa['n']) + int(sa.get('n_missing', 0))} replications get there).")
    if fa is not None and fa.get("n"):
        adequate = (f" Where capacity does catch up, it covers demand from "
                    f"{month_of(fa['p50'])} on in the median such replication (adequate: every "
                    "later month fully served).")
    if fin.size:
        q05, q50, q95 = np.percentile(fin, [5, 50, 95])
        text = (f"When: the first short month is {month_of(q50)} in the median "
                f"replication with a shortfall; 90% of them between {month_of(q05)} "
                f"and {month_of(q95)} ({fin.size} of {first.size} replications have one).")
    else:
        text = "When: no replication has a short month."
    text += adequate
    sms = k.get("short_month_share")
    if sms:
        text += (f" On average {pct(sms['mean'])} of months are short "
                 f"(95% CI {interval(sms, 'share')}).")
    return text


def _how_much(k: dict) -> str:
    """Unmet demand and its parts (unserved tokens, lost customers), forgone revenue."""
    much = []
    t = k.get("unmet_demand_share")
    if t and t.get("mean") is not None:
        much.append(f"{pct(t['mean'])} of the demand the market would bring goes unmet on "
                    f"average (median replication {pct(t.get('p50'))}), in two parts")
    u = k.get("unserved_fraction")
    if u:
        much.append(f"{pct(u['mean'])} of tokens go unserved on average (95% CI "
                    f"{interval(u, 'share')}; median replication {pct(u['p50'])})")
    c = k.get("customers_throttled_peak")
    if c:
        much.append(f"at the worst hour {format_value(c['p50'], 'customers')} enterprise "
                    f"customers are throttled in the median replication "
                    f"({format_value(c['p95'], 'customers')} at the 95th percentile)")
    m = k.get("enterprise_throttled_monthly_share")
    if m and m.get("mean") is not None:
        much.append(f"in an average month {pct(m['mean'])} of enterprise customers are "
                    f"throttled at least once (median replication {pct(m.get('p50'))})")
    lost = k.get("customers_lost_to_competitors")
    if lost and lost.get("mean") is not None:
        gone = k.get("demand_lost_share") or {}
        much.append(f"{format_value(lost['mean'], 'customers')} enterprise customers go to "
                    f"competitors because of throttling on average (median "
                    f"{format_value(lost.get('p50'), 'customers')}); with the consumers who "
                    f"leave, {pct(gone.get('mean'))} of demand goes to competitors")
    fr = k.get("forgone_revenue_total_usd")
    if fr and fr.get("mean") is not None:
        much.append(f"revenue forgone to unmet demand (unserved and lost) is "
                    f"{format_value(fr['mean'], 'USD')} on average (95% CI "
                    f"{interval(fr, 'USD')}; median {format_value(fr.get('p50'), 'USD')})")
    lr = k.get("lost_revenue_total_usd") or k.get("lost_revenue_usd")
    if lr:
        much.append(f"of it, revenue lost to unserved tokens is "
                    f"{format_value(lr['mean'], 'USD')} on average (95% CI "
                    f"{interval(lr, 'USD')}; median "
                    f"{format_value(lr['p50'], 'USD')})")
    return ("How much: " + "; ".join(much) + ".") if much else ""


def _service(k: dict) -> str:
    """Service KPIs of newer runs (issue 14), when present: the spell and the loan."""
    extra = []
    d = k.get("longest_short_spell_months")
    if d and d.get("mean") is not None:
        extra.append(f"the longest run of short months lasts {d['mean']:.1f} months on average "
                     f"(median {d.get('p50', math.nan):.0f})")
    d = k.get("loan_share")
    if d and d.get("mean") is not None:
        extra.append(f"training lends {pct(d['mean'])} of serving capacity on average "
                     f"(median {pct(d.get('p50'))})")
    d = k.get("training_deficit_share")
    if d and d.get("mean") is not None:
        extra.append(f"training is left without {pct(d['mean'])} of its reservation on "
                     f"average (median {pct(d.get('p50'))})")
    if not extra:
        return ""
    text = "; ".join(extra)
    return " " + text[0].upper() + text[1:] + "."


def _drivers(sensitivity: dict | None) -> str | None:
    """The three strongest drivers of a sweep's PRCC ranking (None without one)."""
    if not (sensitivity and sensitivity.get("ranking")):
        return None
    top = sensitivity["ranking"][:3]
    items = ", ".join(f"{e['param']} (PRCC {e['prcc']:+.2f}, 95% CI {e['ci95'][0]:+.2f} to "
                      f"{e['ci95'][1]:+.2f})" for e in top)
    warn = " Caution: " + "; ".join(sensitivity["warnings"]) if sensitivity.get(
        "warnings") else ""
    return (f"Strongest drivers of {sensitivity.get('kpi')} over "
            f"{sensitivity.get('points')} design points of a sweep: {items}.{warn}")


def short_answer(summary: dict, threshold: float | None = None) -> str:
    """The answer in one or two sentences: how likely a shortfall is, when, how much, for whom.

    Made from the summary alone (so `capsim run` can print it before any plot is drawn);
    `threshold` is the share of a month's demand unserved that makes the month short.
    """
    k = summary.get("kpis", {})
    n = int(summary.get("replications") or 0)
    p, first = k.get("p_shortfall_any"), k.get("first_short_month")
    short = "a month short of capacity" if threshold is None else \
        f"a month with more than {pct(threshold)} of its demand unserved"
    parts = []
    unmet = k.get("unmet_demand_share")
    if unmet and unmet.get("mean") is not None:
        text = (f"On average {pct(unmet['mean'])} of demand goes unmet (95% CI "
                f"{interval(unmet, 'share')})")
        forgone = k.get("forgone_revenue_total_usd")
        if forgone and forgone.get("mean") is not None:
            text += f", forgoing {format_value(forgone['mean'], 'USD')} of revenue"
        parts.append(text)
    if p:
        lo, hi = p["ci95"]
        lead = short if parts else f"{short[0].upper()}{short[1:]}"  # after a ";" or first
        text = (f"{lead} comes in {pct(p['mean'])} of {n} replications "
                f"(95% CI {pct(lo)}-{pct(hi)})")
        if first and first.get("n"):
            text += (f", first in {month_of(first.get('p50'))} in the median replication "
                     f"with one")
        parts.append(text)
    much = []
    u = k.get("unserved_fraction")
    if u and u.get("mean") is not None:
        much.append(f"{pct(u['mean'])} of tokens go unserved on average")
    lost = k.get("customers_lost_to_competitors")
    if lost and lost.get("mean") is not None:
        much.append(f"{format_value(lost['mean'], 'customers')} enterprise customers leave "
                    "for competitors")
    gone = k.get("demand_lost_share")
    if gone and gone.get("mean") is not None:
        much.append(f"{pct(gone['mean'])} of the demand the market would bring goes elsewhere")
    if not parts and not much:
        return "This run has no shortfall KPIs."
    first_sentence = "; ".join(parts) + "." if parts else ""
    second = ""
    if much:
        text = ", ".join(much[:-1]) + (" and " if len(much) > 1 else "") + much[-1]
        second = f"{text[0].upper()}{text[1:]}."
    return " ".join(s for s in (first_sentence, second) if s)
