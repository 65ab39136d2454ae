"""Baseline: does Trainium capacity on AWS keep up with Claude demand in the default scenario?"""

from __future__ import annotations

import sys

from capsim.experiments.questions.common import estimate, parser, run_variant, summary

DESCRIPTION = "the default scenario: probability, timing and size of shortfalls"


def main(argv: list[str] | None = None) -> int:
    """Run the default scenario and state what it says."""
    args = parser("baseline", DESCRIPTION).parse_args(argv)
    s = summary(run_variant(args, "baseline", []))
    k, m = s["kpis"], s["milestones"]
    print(f"Baseline, {s['replications']} replications (mean [95% CI]):")
    print(f"  unmet share of demand            {estimate(k['unmet_demand_share'])}")
    print(f"  forgone revenue, $B              "
          f"{estimate(k['forgone_revenue_total_usd'], '{:,.1f}', 1e9)}")
    print(f"  P(some month short)              {estimate(k['p_shortfall_any'], '{:.2f}')}")
    print(f"  unserved share of tokens         {estimate(k['unserved_fraction'])}")
    print(f"  share of requests meeting the SLO {estimate(k['slo_attainment'])}")
    print(f"  Trainium GW on 2026-12-31        {estimate(m['trainium_gw_2026_12_31'])}")
    never = k["p_never_sustained_adequate"]["mean"]
    u = k["unmet_demand_share"]
    print(f"Conclusion: over the window {u['mean']:.1%} of the demand the market would bring "
          f"goes unmet on average (median replication {u['p50']:.1%}; "
          f"{k['unserved_fraction']['mean']:.1%} of tokens unserved, the rest lost to "
          f"throttling), forgoing ${k['forgone_revenue_total_usd']['mean'] / 1e9:,.0f}B of "
          f"revenue; some month is short with probability "
          f"{estimate(k['p_shortfall_any'], '{:.2f}')}; capacity never stays adequate for a "
          f"sustained run of months within the window in {never:.0%} of replications.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
