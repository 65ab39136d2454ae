"""Experiment: multi-cloud vs AWS only.

Multi-cloud vs AWS only: can Trainium on AWS alone carry all of Claude's demand, or do
Google TPUs and Azure NVIDIA GPUs change the odds of a shortfall?

AWS alone gets the CoWoS and HBM share of the AWS-only default scenario: the larger share
of the three-cloud scenario includes what Google's and NVIDIA's lines bring with them.
"""

from __future__ import annotations

import sys

from capsim.experiments.questions.common import (
    FORGONE,
    LOST_REVENUE,
    UNMET,
    UNSERVED,
    billions,
    param_toml,
    parser,
    print_rows,
    run_variant,
    summary,
)
from capsim.models.scenario import load

DESCRIPTION = "all of Claude's demand on AWS alone vs on AWS, Google and Azure (paired)"
SCENARIO = "anthropic-multicloud-2026"
ROWS = (
    UNMET,
    FORGONE,
    UNSERVED,
    ("p_shortfall_any", "P(some month not fully served)", "{:.2f}", "{:+.2f}", 1.0),
    ("slo_attainment", "share of requests meeting the SLO", "{:.3g}", "{:+.3g}", 1.0),
    LOST_REVENUE,
)


def main(argv: list[str] | None = None) -> int:
    """Run AWS-only and three-cloud variants with common random numbers and compare them."""
    args = parser("multi_cloud", DESCRIPTION).parse_args(argv)
    # Switching a cloud off removes its draws only: AWS's streams are the same in both.
    pools = load(None, args.overrides)[0].supply.pools
    aws_pools = [f"supply.pools.{n}.share={param_toml(p.share)}" for n, p in pools.items()]
    aws = run_variant(args, "aws-only",
                      ["clouds.google.enabled=false", "clouds.azure.enabled=false", *aws_pools],
                      SCENARIO)
    multi = run_variant(args, "multi-cloud", [], SCENARIO)
    a, b = summary(aws)["kpis"], summary(multi)["kpis"]
    print(f"All of Claude's demand ({SCENARIO}), {summary(aws)['replications']} replications "
          "(mean [95% CI]); difference multi-cloud - AWS only, paired:")
    res = print_rows(aws, multi, ROWS, "AWS only", "multi-cloud")
    diffs = {k: v[0] for k, v in res.items()}
    texts = {k: v[1] for k, v in res.items()}
    print(f"Conclusion: adding Google and Azure to AWS takes unmet demand (unserved plus lost "
          f"to throttling) from {a['unmet_demand_share']['mean']:.1%} to "
          f"{b['unmet_demand_share']['mean']:.1%} of the demand the market would bring "
          f"(paired difference {texts['unmet_demand_share']}) and changes forgone revenue by "
          f"{billions(diffs['forgone_revenue_total_usd'])} "
          f"({texts['forgone_revenue_total_usd']} $B) over the window.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
