"""One registry of every KPI and daily series a run reports: name, unit, meaning, bounds.

The summary (units, interval bounds, which KPIs are better higher), the CLI's KPI
choices, the Parquet field metadata of the run directory and README's tables all read
this table, so adding a KPI touches one place (after Mesa's DataCollector, which maps
each reported name to what computes it).

Kinds say what a number adds up over:
- ``daily``: the value of one day (a daily mean rate, a level at midday, a day's dollars);
- ``running_total``: a cumulative count or amount from the run's start to that day;
- ``window``: a statistic over the evaluation window (``[scenario] evaluation_start`` to
  ``evaluation_end``), e.g. a share or a probability;
- ``window_total``: a sum over the evaluation window; ``run_total``: over the whole run;
- ``at_date``: a value on the date in the name; ``end``: a value on the last day.

Per-group names end in ``__<generation>``, ``__<cloud>`` or ``__<pool>`` and share the
entry of their stem (``GROUP_SERIES``, ``CLOUD_KPIS``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from capsim.simcore.columns import Column

Kind = Literal["daily", "running_total", "window", "window_total", "run_total", "at_date", "end"]
INF = float(np.inf)


@dataclass(frozen=True)
class Metric:
    """One reported quantity.

    Attributes:
        name: column name (a stem for per-group entries).
        unit: physical unit, written into the Parquet field metadata.
        definition: one line a reader can act on.
        kind: what the number adds up over (see the module docstring).
        bounds: natural bounds; a t-interval on few replications is clipped to them.
        higher_is_better: True, False, or None when neither direction is a good outcome.
        dtype: Arrow type of the column: "float64" for quantities, "int64" for counts.
        binary: a 0/1 outcome per replication, summarised as a probability.
        milestone: reported under "milestones" in summary.json.
        component: the component that reports it (`REPORTED_BY`, `models.reporters`).
    """

    name: str
    unit: str
    definition: str
    kind: Kind
    bounds: tuple[float, float] = (0.0, INF)
    higher_is_better: bool | None = False
    dtype: Literal["float64", "int64"] = "float64"
    binary: bool = False
    milestone: bool = False
    component: str = ""


def _m(*args, **kw) -> Metric:
    return Metric(*args, **kw)


_KPIS = [
    _m("unmet_demand_share", "share of tokens",
       "unmet demand over the window (tokens not served plus demand lost to throttling: "
       "customers who left or never came) / the demand the market would bring "
       "(demand_potential_tps)", "window", (0.0, 1.0)),
    _m("forgone_revenue_total_usd", "USD",
       "revenue of the unmet demand at each day's price of its tier (unserved tokens plus "
       "demand lost to throttling), over the window", "window_total"),
    _m("p_shortfall_any", "probability",
       "at least one short month in the window (a month whose unmet demand exceeds "
       "service.short_month_threshold of the demand the market would bring)", "window",
       (0.0, 1.0), binary=True),
    _m("short_month_share", "share of months",
       "share of the window's months that are short", "window", (0.0, 1.0)),
    _m("first_short_month", "decimal year",
       "start of the first short month in the window (missing when no month is short)",
       "window", (-INF, INF), higher_is_better=True),
    _m("longest_short_spell_months", "months",
       "longest run of consecutive short months in the window", "window"),
    _m("unserved_fraction", "share of tokens",
       "demand-weighted share of tokens not served in the window (one part of unmet demand; "
       "the other is demand_lost_share)", "window", (0.0, 1.0)),
    _m("slo_attainment", "share of requests",
       "share of served requests whose time to first token is within service.slo_ttft_s "
       "and whose batch decodes within service.slo_tpot_s a token; the mean over the "
       "window's days",
       "window", (0.0, 1.0), higher_is_better=True),
    _m("sustained_adequacy_date", "decimal year",
       "start of the first month from which unmet demand stays below the short-month "
       "threshold for at least service.sustained_adequacy_months (12) months in a row "
       "(missing when the window has no such run)", "window", (-INF, INF)),
    _m("p_never_sustained_adequate", "probability",
       "the window has no run of service.sustained_adequacy_months months none of which is "
       "short: capacity never becomes adequate for a sustained period", "window", (0.0, 1.0),
       binary=True),
    _m("first_adequate_date", "decimal year",
       "first month from which no month of the window is short (missing when the last "
       "month is short; one late short month moves it: see sustained_adequacy_date)",
       "window", (-INF, INF)),
    _m("stranded_chip_months", "chip-months",
       "chips delivered but waiting for powered space, summed over the window", "window_total"),
    _m("stranded_power_mw_months", "MW-months",
       "energized facility MW not occupied by chips, summed over the window", "window_total"),
    _m("component_delay_chip_months", "chip-months",
       "chips due from the production lines that wait for CoWoS or HBM, over the window",
       "window_total"),
    _m("loan_share", "share of serving capacity",
       "serving capacity borrowed from training / serving capacity with the loan, over the "
       "window (how much serving relies on the loan)", "window", (0.0, 1.0)),
    _m("training_deficit_share", "share of the training reservation",
       "training compute lent away to serving / training's reservation, over the window "
       "(what training lacks of what it was reserved)", "window", (0.0, 1.0)),
    _m("aws_spend_total_usd", "USD",
       "what the case's cloud ([scenario] case_cloud, AWS) bills over the window: IT MW "
       "in service x price per MW-year",
       "window_total"),
    _m("commitment_gap_usd", "USD",
       "commitments minus spend within each commitment's period, all enabled clouds "
       "(negative: spend beyond them)", "run_total", (-INF, INF), higher_is_better=None),
    _m("p_spend_breach", "probability",
       "some calendar year of the window in which the clouds' spend exceeds what revenue "
       "and investment can pay (finance.spend_share_of_revenue x served revenue + "
       "investment released that year)", "window", (0.0, 1.0), binary=True),
    _m("spend_breach_usd", "USD",
       "spend beyond those means, summed over the window's calendar years", "window_total"),
    _m("revenue_total_usd", "USD",
       "served tokens at the scenario's (falling) prices, over the window", "window_total",
       higher_is_better=True),
    _m("lost_revenue_total_usd", "USD",
       "unserved tokens at the scenario's prices, over the window (one part of "
       "forgone_revenue_total_usd)", "window_total"),
    _m("revenue_per_mw_year_usd", "USD per MW-year",
       "served revenue over the window / occupied IT MW-years over the window (occupied "
       "facility MW / PUE)", "window", higher_is_better=None),
    _m("revenue_per_mw_year_2026_usd", "USD per MW-year",
       "served revenue in calendar 2026 / occupied IT MW-years in 2026", "at_date",
       higher_is_better=None),
    _m("revenue_per_mw_year_peak_ratio", "ratio",
       "highest full calendar year's revenue per occupied IT MW-year after 2026 / the 2026 "
       "value", "window", higher_is_better=None),
    _m("investment_total_usd", "USD",
       "investment tranches released over the deal: from [finance] deal_date (none is "
       "released before it) to the window's end", "window_total",
       higher_is_better=True),
    _m("ordered_total_mw", "MW facility",
       "facility MW of capacity ordered in the window (tranches, forecast policy)",
       "window_total", higher_is_better=None),
    _m("compute_mean_tps", "reference tokens/s",
       "installed compute of all enabled clouds (training and serving, after efficiency "
       "gains), mean over the window: the compute delivered", "window",
       higher_is_better=True),
    _m("power_ordered_total_mw", "MW facility",
       "facility MW of buildings the power-aware policy ordered for held chips, in the window",
       "window_total", higher_is_better=None),
    _m("held_chip_months", "chip-months",
       "chips due from the lines that the power-aware policy holds (not built) for lack of "
       "powered space, summed over the window", "window_total"),
    _m("held_chip_cost_usd", "USD",
       "what the chips held at the supplier cost over the window: held_chip_months x "
       "finance.held_chip_usd_per_chip_month (carrying their value; apart from what the "
       "clouds bill; missing when the scenario does not cost them)", "window_total"),
    _m("tenant_power_mw_end", "MW facility",
       "facility MW of the modelled clouds' new buildings that other tenants ([tenants]) "
       "hold at the end of the run, taken from Anthropic's share", "end",
       higher_is_better=None),
    _m("customers_throttled_peak", "customers",
       "most enterprise customers throttled (served below customers.throttled_threshold of "
       "their tokens) in any hour of the window", "window", dtype="int64"),
    _m("customers_throttled_committed_peak", "customers",
       "most committed-throughput customers throttled in any hour of the window", "window",
       dtype="int64"),
    _m("customers_throttled_on_demand_peak", "customers",
       "most on-demand enterprise customers throttled in any hour of the window", "window",
       dtype="int64"),
    _m("customer_hours_throttled", "customer-hours",
       "enterprise customer-hours throttled over the window", "window_total"),
    _m("customer_hours_throttled_share", "share of customer-hours",
       "enterprise customer-hours throttled over the window / active customer-hours",
       "window", (0.0, 1.0)),
    _m("enterprise_throttled_monthly_share", "share of customers",
       "share of active enterprise customers throttled at least once in a month, mean over "
       "the window's months", "window", (0.0, 1.0)),
    _m("customers_lost_to_competitors", "customers",
       "enterprise customers who left, or did not join, because of throttling (customers "
       "reactions), over the window", "window_total"),
    _m("demand_lost_share", "share of tokens",
       "share of the window's demand before customers reacted that left with lost customers "
       "and consumers", "window", (0.0, 1.0)),
    _m("revenue_per_demand_usd_per_mtok", "USD per million tokens",
       "revenue over the window / the window's demand before customers reacted",
       "window", higher_is_better=True),
    _m("p99_latency_s", "seconds",
       "p99 end-to-end latency (queue wait, prefill and decode) of the requests served in "
       "the window, every day weighing the same (a typical day's requests)", "window"),
    _m("ttft_p99_s", "seconds",
       "p99 time to first token (queue wait and prefill) of the requests served in the "
       "window, every day weighing the same (a typical day's requests)", "window"),
    _m("rejected_request_share", "share of requests",
       "share of requests turned away: they found a replica's waiting room full "
       "(service.queue_limit_s of work) or no serving capacity; the mean over the "
       "window's days", "window", (0.0, 1.0)),
    _m("overloaded_hour_share", "share of hours",
       "share of the window's hours whose serving demand reaches capacity (utilization >= "
       "1)", "window", (0.0, 1.0)),
    _m("trainium_gw_2026_12_31", "GW facility",
       "facility GW of the case's cloud ([scenario] case_cloud, AWS) energized and populated "
       "with chips on [scenario] milestone_date (2026-12-31)", "at_date",
       higher_is_better=True, milestone=True),
]
KPIS: dict[str, Metric] = {m.name: m for m in _KPIS}

CLOUD_KPIS: dict[str, Metric] = {m.name: m for m in [
    _m("energized_mw_end", "MW facility", "energized facility MW of the cloud on the last day",
       "end", higher_is_better=None),
    _m("compute_tps_end", "reference tokens/s",
       "installed compute of the cloud on the last day (after efficiency gains)", "end",
       higher_is_better=True),
    _m("spend_total_usd", "USD", "what the cloud bills over the window", "window_total",
       higher_is_better=None),
]}
"""Per enabled cloud, as kpis columns <name>__<cloud>."""

_SERIES = [
    _m("demand_tps", "reference tokens/s", "Claude demand on the modelled clouds, daily mean",
       "daily"),
    _m("peak_demand_tps", "reference tokens/s", "highest hourly demand of the day", "daily"),
    _m("capacity_tps", "reference tokens/s",
       "serving capacity including what training lends, daily mean", "daily"),
    _m("capacity_own_tps", "reference tokens/s",
       "serving capacity without the training loan (the serving share alone), daily mean",
       "daily"),
    _m("loan_tps", "reference tokens/s",
       "capacity training lends to serving, daily mean", "daily"),
    _m("served_tps", "reference tokens/s", "tokens served, daily mean", "daily"),
    _m("unserved_tps", "reference tokens/s", "demand not served, daily mean", "daily"),
    _m("unserved_committed_tps", "reference tokens/s",
       "unserved demand of committed-throughput enterprise customers", "daily"),
    _m("unserved_on_demand_tps", "reference tokens/s",
       "unserved demand of on-demand enterprise customers", "daily"),
    _m("unserved_consumer_tps", "reference tokens/s", "unserved consumer demand", "daily"),
    _m("unserved_batch_tps", "reference tokens/s", "unserved batch demand", "daily"),
    _m("peak_utilization", "ratio",
       "highest hourly demand / serving capacity of the day (capped at 1e6)", "daily"),
    _m("slo_hours", "hours",
       "hours of the day in which at least service.slo_request_share of the served "
       "requests meet the TTFT and TPOT targets", "daily",
       (0.0, 24.0), dtype="int64"),
    _m("p50_latency_s", "seconds",
       "median end-to-end latency of the day's served requests", "daily"),
    _m("p99_latency_s", "seconds",
       "p99 end-to-end latency of the day's served requests", "daily"),
    _m("ttft_p50_s", "seconds",
       "median time to first token (queue wait plus prefill) of the day's served requests",
       "daily"),
    _m("ttft_p99_s", "seconds",
       "p99 time to first token (queue wait plus prefill) of the day's served requests",
       "daily"),
    _m("serving_replicas", "replicas",
       "model replicas serving, daily mean: installed chips of each generation times the "
       "share of capacity serving, over its chips per replica (batching.chips_per_replica)",
       "daily"),
    _m("surge_multiplier", "ratio", "highest demand multiplier from surges in the day",
       "daily", (1.0, INF)),
    _m("energized_mw", "MW facility", "facility MW powered on, all clouds", "daily"),
    _m("occupied_mw", "MW facility", "facility MW taken by installed and failed chips",
       "daily"),
    _m("chips_shipped", "chips", "chips shipped since before the start (installed base "
       "included)", "running_total", dtype="int64"),
    _m("chips_in_transit", "chips", "chips shipped, in transit or integration", "daily",
       dtype="int64"),
    _m("chips_waiting", "chips", "chips delivered, waiting for powered space", "daily",
       dtype="int64"),
    _m("chips_installed", "chips", "healthy chips installed in powered space", "daily",
       dtype="int64"),
    _m("chips_failed", "chips", "installed chips out for repair", "daily", dtype="int64"),
    _m("chips_retired", "chips", "chips retired since the start", "running_total",
       dtype="int64"),
    _m("customers_active", "customers", "enterprise customers active", "daily",
       dtype="int64"),
    _m("customers_committed", "customers",
       "committed-throughput enterprise customers active", "daily", dtype="int64"),
    _m("customers_throttled", "customers",
       "most enterprise customers throttled in one hour of the day", "daily", dtype="int64"),
    _m("customers_throttled_committed", "customers",
       "most committed-throughput customers throttled in one hour of the day", "daily",
       dtype="int64"),
    _m("customers_throttled_on_demand", "customers",
       "most on-demand enterprise customers throttled in one hour of the day", "daily",
       dtype="int64"),
    _m("customer_hours_throttled", "customer-hours",
       "enterprise customer-hours throttled on the day", "daily"),
    _m("customers_lost", "customers", "enterprise customers lost to competitors since the "
       "start (left or did not join because of throttling)", "running_total",
       dtype="int64"),
    _m("demand_potential_tps", "reference tokens/s",
       "demand before customers reacted (what demand_tps would be without the customers "
       "who left), daily mean", "daily"),
    _m("demand_lost_tps", "reference tokens/s",
       "demand lost to throttling (customers who left or never came): demand_potential_tps "
       "- demand_tps, daily mean", "daily"),
    _m("unmet_tps", "reference tokens/s",
       "unmet demand: unserved_tps + demand_lost_tps, daily mean", "daily"),
    *[_m(f"unmet_{tier}_tps", "reference tokens/s",
         f"unmet demand of the {label} tier (unserved plus lost to throttling), daily mean",
         "daily")
      for tier, label in (("committed", "committed-throughput"), ("on_demand", "on-demand"),
                          ("consumer", "consumer"), ("batch", "batch"))],
    _m("revenue_daily_usd", "USD", "revenue from served tokens on the day", "daily",
       higher_is_better=True),
    _m("lost_revenue_daily_usd", "USD", "revenue lost to unserved tokens on the day",
       "daily"),
    _m("forgone_revenue_daily_usd", "USD",
       "revenue of the day's unmet demand at the day's prices: lost_revenue_daily_usd plus "
       "demand lost to throttling", "daily"),
    _m("occupied_it_mw", "MW IT", "IT MW taken by installed and failed chips (occupied "
       "facility MW / PUE)", "daily"),
    _m("run_rate_usd", "USD per year",
       "Anthropic-wide revenue run-rate implied by the modelled clouds (AWS-implied in the "
       "AWS-only default), as investment tranches read it: their revenue, 30-day mean, / "
       "their share of Claude demand (demand.cloud_share)", "daily", higher_is_better=True),
    _m("run_rate_reported_usd", "USD per year",
       "Anthropic-wide revenue run-rate as Anthropic reports it, implied by the modelled "
       "clouds (AWS-implied in the AWS-only default): the last 28 days of consumption "
       "revenue (enterprise tiers) x 13 plus the month's subscription revenue (consumer "
       "tier) x 12, over the modelled clouds' share of demand (models.reported)",
       "daily", higher_is_better=True),
    _m("spend_daily_usd", "USD", "what the clouds bill for the day", "daily",
       higher_is_better=None),
    _m("spend_anthropic_daily_usd", "USD",
       "Anthropic-wide compute spend of the day implied by the modelled clouds (AWS-implied "
       "in the AWS-only default): what they bill / their share of Claude demand "
       "(demand.cloud_share; as run_rate_usd)", "daily",
       higher_is_better=None),
    _m("investment_cum_usd", "USD", "investment tranches released since the start",
       "running_total", higher_is_better=True),
    _m("ordered_cum_mw", "MW facility", "facility MW ordered during the run since the start",
       "running_total", higher_is_better=None),
    _m("fp8_eflops", "EFLOP/s", "dense FP8 EFLOP/s of healthy installed chips (generations "
       "that state fp8_tflops)", "daily", higher_is_better=True),
    _m("h100e", "H100-equivalents",
       "compute of healthy installed chips in H100-equivalents: dense FP8 FLOP/s / the "
       "H100's 1,979 TFLOP/s (generations that state fp8_tflops; models.reported)", "daily",
       higher_is_better=True),
    _m("chips_awaiting_components", "chips",
       "chips due from the production lines that wait for CoWoS or HBM", "daily",
       dtype="int64"),
    _m("chips_held", "chips", "chips due from the production lines that the power-aware "
       "policy holds (not built) until powered space is in sight", "daily", dtype="int64"),
    _m("power_ordered_cum_mw", "MW facility", "facility MW of buildings ordered for held "
       "chips since the start", "running_total", higher_is_better=None),
]
SERIES: dict[str, Metric] = {m.name: m for m in _SERIES}

GROUP_SERIES: dict[str, Metric] = {m.name: m for m in [
    *[_m(f"chips_{st}", "chips", f"{SERIES[f'chips_{st}'].definition}, of the generation",
         SERIES[f"chips_{st}"].kind, dtype="int64")
      for st in ("in_transit", "waiting", "installed", "failed", "retired")],
    _m("compute_tps", "reference tokens/s",
       "installed compute of the generation or cloud (training and serving, after "
       "efficiency gains)", "daily", higher_is_better=True),
    _m("pool_stock", "components", "stock of the pool's components held for the scenario's "
       "chips (wafers or stacks)", "daily", higher_is_better=None),
    _m("energized_mw", "MW facility", "facility MW powered on, of the cloud", "daily"),
    _m("occupied_mw", "MW facility", "facility MW occupied by chips, of the cloud", "daily"),
    _m("spend_daily_usd", "USD", "what the cloud bills for the day", "daily",
       higher_is_better=None),
    _m("h100e", "H100-equivalents",
       "compute of the cloud's healthy installed chips in H100-equivalents (dense FP8 "
       "FLOP/s / 1,979 TFLOP/s)", "daily", higher_is_better=True),
    _m("occupied_it_mw", "MW IT", "IT MW of the cloud taken by installed and failed chips "
       "(occupied facility MW / PUE)", "daily"),
    _m("energized_it_mw", "MW IT", "IT MW of the campus's buildings for Anthropic powered on "
       "(facility MW / PUE; buildings of capacity orders are no campus's)", "daily"),
]}
"""Per generation, cloud, pool or campus, as series <stem>__<name>."""

REPORTED_BY: dict[str, tuple[str, ...]] = {
    "service": (
        "unmet_demand_share", "p_shortfall_any", "short_month_share", "first_short_month",
        "longest_short_spell_months", "first_adequate_date", "sustained_adequacy_date",
        "p_never_sustained_adequate", "unserved_fraction",
        "slo_attainment", "loan_share", "training_deficit_share", "p99_latency_s",
        "ttft_p99_s", "rejected_request_share", "overloaded_hour_share",
        "series.demand_tps", "series.peak_demand_tps", "series.capacity_tps",
        "series.capacity_own_tps", "series.loan_tps", "series.served_tps",
        "series.unserved_tps", "series.unserved_committed_tps", "series.unserved_on_demand_tps",
        "series.unserved_consumer_tps", "series.unserved_batch_tps", "series.peak_utilization",
        "series.slo_hours", "series.p50_latency_s", "series.p99_latency_s", "series.ttft_p50_s",
        "series.serving_replicas",
        "series.ttft_p99_s", "series.demand_potential_tps", "series.demand_lost_tps",
        "series.unmet_tps", "series.unmet_committed_tps", "series.unmet_on_demand_tps",
        "series.unmet_consumer_tps", "series.unmet_batch_tps"),
    "surges": ("series.surge_multiplier",),
    "fleet": (
        "stranded_chip_months", "compute_mean_tps", "trainium_gw_2026_12_31", "compute_tps_end",
        "series.occupied_mw", "series.chips_shipped", "series.chips_in_transit",
        "series.chips_waiting", "series.chips_installed", "series.chips_failed",
        "series.chips_retired", "series.fp8_eflops", "series.h100e", "group.h100e",
        "group.chips_in_transit",
        "group.chips_waiting", "group.chips_installed", "group.chips_failed",
        "group.chips_retired", "group.compute_tps", "group.occupied_mw"),
    "datacenters": ("stranded_power_mw_months", "energized_mw_end", "series.energized_mw",
                    "group.energized_mw", "group.energized_it_mw"),
    "supply": ("component_delay_chip_months", "held_chip_months",
               "series.chips_awaiting_components", "series.chips_held", "group.pool_stock"),
    "orders": ("ordered_total_mw", "power_ordered_total_mw", "series.ordered_cum_mw",
               "series.power_ordered_cum_mw"),
    "finance": (
        "aws_spend_total_usd", "held_chip_cost_usd", "commitment_gap_usd", "p_spend_breach",
        "spend_breach_usd",
        "forgone_revenue_total_usd", "revenue_total_usd", "lost_revenue_total_usd",
        "investment_total_usd", "spend_total_usd", "series.revenue_daily_usd",
        "series.lost_revenue_daily_usd", "series.forgone_revenue_daily_usd",
        "series.run_rate_usd", "series.run_rate_reported_usd", "series.spend_daily_usd",
        "series.spend_anthropic_daily_usd", "series.investment_cum_usd",
        "group.spend_daily_usd"),
    "customers": (
        "customers_throttled_peak", "customers_throttled_committed_peak",
        "customers_throttled_on_demand_peak", "customer_hours_throttled",
        "customer_hours_throttled_share", "enterprise_throttled_monthly_share",
        "customers_lost_to_competitors", "demand_lost_share",
        "revenue_per_demand_usd_per_mtok", "series.customers_active",
        "series.customers_committed", "series.customers_throttled",
        "series.customers_throttled_committed", "series.customers_throttled_on_demand",
        "series.customer_hours_throttled", "series.customers_lost"),
    "market": ("revenue_per_mw_year_usd", "revenue_per_mw_year_2026_usd",
               "revenue_per_mw_year_peak_ratio", "series.occupied_it_mw",
               "group.occupied_it_mw"),
    "tenants": ("tenant_power_mw_end",),
}
"""Which component reports each KPI (bare names, scalar and per cloud), series
(``series.<name>``) and per-group series stem (``group.<stem>``)."""


def _assign_components() -> None:
    """Write each entry's reporting component into the registry (every entry has one)."""
    tables = {"": KPIS, "cloud.": CLOUD_KPIS, "series.": SERIES, "group.": GROUP_SERIES}
    seen: set[str] = set()
    for component, names in REPORTED_BY.items():
        for full in names:
            prefix = full[:full.index(".") + 1] if "." in full else ""
            name = full[len(prefix):]
            table = tables["cloud." if not prefix and name in CLOUD_KPIS else prefix]
            if name not in table or full in seen:
                raise ValueError(f"REPORTED_BY[{component!r}]: {full!r} unknown or repeated")
            seen.add(full)
            table[name] = replace(table[name], component=component)
    for prefix, table in tables.items():
        missing = [n for n, m in table.items() if not m.component]
        if missing:
            raise ValueError(f"no component reports {', '.join(prefix + n for n in missing)}")


_assign_components()

TABLE_KEYS: dict[str, Metric] = {
    "replication": _m("replication", "index", "replication number (its random streams)",
                      "daily", dtype="int64"),
    "date": _m("date", "date", "calendar day (the daily value is taken at midday)", "daily"),
}


def lookup(name: str, table: str = "series") -> Metric | None:
    """The registry entry of a column of `table` ("series" or "kpis"), or None if unknown."""
    if name in TABLE_KEYS:
        return TABLE_KEYS[name]
    exact, groups = (SERIES, GROUP_SERIES) if table == "series" else (KPIS, CLOUD_KPIS)
    if name in exact:
        return exact[name]
    stem, sep, _ = name.partition("__")
    return groups.get(stem) if sep else None


def kpi_names() -> list[str]:
    """Scalar KPIs (not milestones), in the registry's order."""
    return [n for n, m in KPIS.items() if not m.milestone]


def milestone_names() -> list[str]:
    """Milestone KPIs, in the registry's order."""
    return [n for n, m in KPIS.items() if m.milestone]


def higher_is_better() -> set[str]:
    """KPIs (scalar and per cloud) where a higher value is the good outcome."""
    return {n for n, m in {**KPIS, **CLOUD_KPIS}.items() if m.higher_is_better}


def unit(name: str) -> str:
    """The unit of a KPI or per-cloud KPI column ("" when unknown)."""
    m = lookup(name, "kpis")
    return m.unit if m is not None else ""


def describe(table: str, name: str) -> Column | None:
    """Arrow type and field metadata (unit, description, kind) of a result column.

    `table` is "series" (timeseries.parquet) or "kpis" (kpis.parquet); unknown names get
    None (float64 without metadata).
    """
    m = lookup(name, table)
    if m is None:
        return None
    return Column(stored_dtype(m, table),
                  {"unit": m.unit, "description": m.definition, "kind": m.kind})


def stored_dtype(m: Metric, table: str) -> str:
    """How a column is stored in its Parquet file.

    A daily series value is stored as float32 (7 significant digits: a relative error
    below 6e-8, far inside any input's uncertainty), which halves timeseries.parquet. Kept
    at float64: dollars (a day's dollars add up to the KPI totals to the cent; a run-rate
    in USD per year is a rate, stored as float32), running
    totals (cumulative MW and counts since the start, whose last digits a reader may
    difference), counts (int64), and every KPI (one row per replication: small). The
    simulation itself computes in float64 throughout.
    """
    if (table in ("series", "group") and m.dtype == "float64" and m.kind != "running_total"
            and m.unit != "USD"):
        return "float32"
    return m.dtype


def markdown(table: str) -> str:
    """README's table of one kind of result column, one row per column.

    `table` is "series", "group" (per-group series), "kpis" or "cloud" (per-cloud KPIs);
    each row gives the name, Arrow type, unit, kind and meaning.
    """
    entries = {"series": SERIES, "group": GROUP_SERIES, "kpis": KPIS, "cloud": CLOUD_KPIS}[table]
    suffix = {"group": "__<g, c or pool>", "cloud": "__<cloud>"}.get(table, "")
    rows = ["| column | type | unit | kind | meaning |", "|---|---|---|---|---|"]
    for m in entries.values():
        dtype = {"float64": "double", "float32": "float"}.get(stored_dtype(m, table), "int64")
        rows.append(f"| `{m.name}{suffix}` | {dtype} | {m.unit} | {m.kind} | {m.definition} |")
    return "\n".join(rows)
