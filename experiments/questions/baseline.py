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
    fa = k["first_adequate_date"]
    print(f"Baseline, {s['replications']} replications (mean [95% CI]):")
    print(f"  P(some month not fully served)  {estimate(k['p_shortfall_any'], '{:.2f}')}")
    print(f"  unserved share of tokens         {estimate(k['unserved_fraction'])}")
    print(f"  share of requests meeting the SLO {estimate(k['slo_attainment'])}")
    print(f"  Trainium GW on 2026-12-31        {estimate(m['trainium_gw_2026_12_31'])}")
    never = fa.get("share_never", 0.0)
    print(f"Conclusion: capacity falls short in some month with probability "
          f"{estimate(k['p_shortfall_any'], '{:.2f}')}; over the horizon "
          f"{k['unserved_fraction']['mean']:.1%} of tokens go unserved on average "
          f"(median replication {k['unserved_fraction']['p50']:.1%}); capacity never catches up "
          f"within the horizon in {never:.0%} of replications.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
