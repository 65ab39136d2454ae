"""Short labels of the registry's KPIs, for plot titles, axes and ticks.

`models.kpis` holds each KPI's unit and one-line definition; a plot has room for a few
words only, and a snake_case name is no label. A test checks that every KPI of the
registry has one here.
"""

from __future__ import annotations

LABELS: dict[str, str] = {
    "unmet_demand_share": "unmet demand",
    "forgone_revenue_total_usd": "revenue forgone with unmet demand",
    "p_shortfall_any": "chance of a short month",
    "short_month_share": "months that are short",
    "first_short_month": "first short month",
    "longest_short_spell_months": "longest run of short months",
    "unserved_fraction": "tokens not served",
    "slo_attainment": "requests meeting the latency SLO",
    "sustained_adequacy_date": "capacity adequate for good from",
    "p_never_sustained_adequate": "chance capacity never stays adequate",
    "first_adequate_date": "no short month after",
    "stranded_chip_months": "chips waiting for power",
    "stranded_power_mw_months": "powered space without chips",
    "component_delay_chip_months": "chips delayed by CoWoS or HBM",
    "loan_share": "serving capacity lent by training",
    "training_deficit_share": "training compute lent away",
    "aws_spend_total_usd": "spend on the case's cloud",
    "commitment_gap_usd": "commitments minus spend",
    "p_spend_breach": "chance spend exceeds the means",
    "spend_breach_usd": "spend beyond the means",
    "revenue_total_usd": "revenue earned",
    "lost_revenue_total_usd": "revenue lost to unserved tokens",
    "revenue_per_mw_year_usd": "revenue per IT MW-year",
    "revenue_per_mw_year_2026_usd": "revenue per IT MW-year in 2026",
    "revenue_per_mw_year_peak_ratio": "best later year's revenue per MW-year / 2026",
    "investment_total_usd": "investment released",
    "ordered_total_mw": "capacity ordered",
    "compute_mean_tps": "installed compute (mean)",
    "power_ordered_total_mw": "power ordered for held chips",
    "held_chip_months": "chips held for lack of power",
    "tenant_power_mw_end": "power taken by other tenants",
    "customers_throttled_peak": "enterprise customers throttled at the worst hour",
    "customers_throttled_committed_peak": "committed customers throttled at the worst hour",
    "customers_throttled_on_demand_peak": "on-demand customers throttled at the worst hour",
    "customer_hours_throttled": "customer-hours throttled",
    "customer_hours_throttled_share": "customer-hours throttled",
    "enterprise_throttled_monthly_share": "customers throttled in a month",
    "customers_lost_to_competitors": "customers lost to competitors",
    "demand_lost_share": "demand gone to competitors",
    "revenue_per_demand_usd_per_mtok": "revenue per million tokens of demand",
    "p99_latency_s": "p99 end-to-end latency",
    "ttft_p99_s": "p99 time to first token",
    "rejected_request_share": "requests turned away",
    "overloaded_hour_share": "hours at or over capacity",
    "trainium_gw_2026_12_31": "GW energized and filled at the milestone",
    "energized_mw_end": "energized power at the end",
    "compute_tps_end": "installed compute at the end",
    "spend_total_usd": "spend",
}
"""KPI name -> a label of a few words (the unit is added where the plot shows values)."""
