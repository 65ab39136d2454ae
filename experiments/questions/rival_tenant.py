"""Experiment: Anthropic's shortfall with and without a rival AWS tenant, on the same seeds.

The rival is OpenAI's AWS commitment ($38B over 7 years, expansion from 2027; the
scenario's [tenants.openai], models/tenants.py): from November 2025 it takes a share of
each new AWS building until it holds its contracted MW. Everything else, and every random
draw, is the same in both variants (common random numbers), so the paired difference per
replication is the rival's effect. Issue 15 asks for a higher Anthropic shortfall with the
rival, reported with its paired 95% confidence interval.
"""

from __future__ import annotations

import sys

import numpy as np
from capsim.experiments.questions.common import (
    UNMET,
    UNSERVED,
    Row,
    kpis,
    parser,
    print_rows,
    run_variant,
    summary,
)
from capsim.simcore.stats import paired_difference

DESCRIPTION = "Anthropic's shortfall with and without OpenAI as a rival AWS tenant (paired)"
ROWS: tuple[Row, ...] = (
    UNMET,
    UNSERVED,
    ("p_shortfall_any", "probability of a short month", "{:.3g}", "{:+.3g}", 1.0),
    ("short_month_share", "share of short months", "{:.3g}", "{:+.3g}", 1.0),
    ("tenant_power_mw_end", "MW held by the rival at the end", "{:,.0f}", "{:+,.0f}", 1.0),
    ("revenue_total_usd", "revenue in the window, $B", "{:,.1f}", "{:+,.1f}", 1e9),
)


def main(argv: list[str] | None = None) -> int:
    """Run the default scenario with and without the rival tenant and compare them."""
    args = parser("rival_tenant", DESCRIPTION, replications=20).parse_args(argv)
    alone = run_variant(args, "without-rival", ["tenants.openai.enabled=false"])
    rival = run_variant(args, "with-rival", ["tenants.openai.enabled=true"])
    print(f"Rival AWS tenant (OpenAI), {summary(rival)['replications']} replications "
          "(mean [95% CI]); difference with - without, paired:")
    print_rows(alone, rival, ROWS, "without", "with")
    a, b = kpis(alone), kpis(rival)
    for kpi in ("unmet_demand_share", "unserved_fraction", "p_shortfall_any"):
        d = paired_difference(a[kpi].to_numpy(), b[kpi].to_numpy())
        lo, hi = d["diff_ci95"]
        lower = int(np.sum(b[kpi].to_numpy() < a[kpi].to_numpy() - 1e-12))
        print(f"{kpi}: with - without = {d['diff_mean']:+.4f} [{lo:+.4f}, {hi:+.4f}] "
              f"(paired t p = {d['p_value']:.3g}); replications where the rival lowers it: "
              f"{lower} of {len(a)}.")
    d = paired_difference(a["unmet_demand_share"].to_numpy(),
                          b["unmet_demand_share"].to_numpy())
    higher = d["diff_mean"] > 0 and d["diff_ci95"][0] > 0
    print(f"Conclusion: the rival takes {b['tenant_power_mw_end'].mean():,.0f} MW of AWS power "
          f"by the end on average and {'raises' if higher else 'does not clearly raise'} "
          f"Anthropic's unmet share of demand (unserved plus lost) by {d['diff_mean']:+.2%} "
          f"(paired 95% CI {d['diff_ci95'][0]:+.2%} to {d['diff_ci95'][1]:+.2%}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
