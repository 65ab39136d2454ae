"""Experiment: customers who react to throttling, on and off, under a demand-growth stress.

Both variants run the default scenario with ``demand.growth_multiplier`` (default 2: log
growth doubled) on the same seeds (common random numbers). "On" keeps the scenario's
reactions (retries later the same day, churn and fewer newcomers when throttled; the
[customers] section, models/customers.py); "off" sets ``customers.reactions = []``:
nobody retries, leaves or stays away because of the service. Issue 15 asks that with
feedback on the stress loses more customers to competitors and earns less revenue per
unit of demand (the demand before customers react, the same in both variants).
"""

from __future__ import annotations

import sys

from capsim.experiments.questions.common import (
    UNSERVED,
    Row,
    kpis,
    parser,
    print_rows,
    run_variant,
    summary,
)
from capsim.simcore.stats import paired_difference

DESCRIPTION = ("Customers who react to throttling (retries, churn, fewer newcomers), on and "
               "off, under a demand-growth stress (paired)")
ROWS: tuple[Row, ...] = (
    ("customers_lost_to_competitors", "enterprise customers lost to competitors", "{:,.0f}",
     "{:+,.0f}", 1.0),
    ("revenue_per_demand_usd_per_mtok", "revenue per M tokens of demand, $", "{:.4g}",
     "{:+.3g}", 1.0),
    ("demand_lost_share", "share of demand that left", "{:.3g}", "{:+.3g}", 1.0),
    UNSERVED,
    ("customers_throttled_peak", "most customers throttled in an hour", "{:,.0f}", "{:+,.0f}",
     1.0),
    ("enterprise_throttled_monthly_share", "customers throttled at least once a month",
     "{:.3g}", "{:+.3g}", 1.0),
    ("revenue_total_usd", "revenue in the window, $B", "{:,.1f}", "{:+,.1f}", 1e9),
)


def main(argv: list[str] | None = None) -> int:
    """Run the stressed default scenario with and without reactions and compare them."""
    p = parser("feedback", DESCRIPTION, replications=20)
    p.add_argument("--growth-multiplier", type=float, default=2.0,
                   help="demand.growth_multiplier of both variants (default 2)")
    args = p.parse_args(argv)
    if not 0 < args.growth_multiplier <= 10:
        p.error(f"--growth-multiplier must lie in (0, 10], got {args.growth_multiplier}")
    stress = f"demand.growth_multiplier={args.growth_multiplier:g}"
    off = run_variant(args, "feedback-off", [stress, "customers.reactions=[]"])
    on = run_variant(args, "feedback-on", [stress])
    print(f"Customers who react, growth multiplier {args.growth_multiplier:g}, "
          f"{summary(on)['replications']} replications (mean [95% CI]); difference on - off, "
          "paired:")
    print_rows(off, on, ROWS, "off", "on")
    a, b = kpis(off), kpis(on)
    verdict = []
    for kpi, want, text in (("customers_lost_to_competitors", +1, "customers lost"),
                            ("revenue_per_demand_usd_per_mtok", -1,
                             "revenue per unit of demand")):
        d = paired_difference(a[kpi].to_numpy(), b[kpi].to_numpy())
        lo, hi = d["diff_ci95"]
        moved = (lo > 0) if want > 0 else (hi < 0)
        verdict.append(f"{text} {'rise' if d['diff_mean'] > 0 else 'fall'} by "
                       f"{d['diff_mean']:+.4g} (paired 95% CI {lo:+.4g} to {hi:+.4g}, "
                       f"{'clear' if moved else 'not clear'})")
    print("Conclusion: with feedback on, " + "; ".join(verdict) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
