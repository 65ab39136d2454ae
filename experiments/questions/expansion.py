"""Experiment: with vs without the expansion.

With vs without the expansion: only the campuses that existed before the announcement,
or the planned build-out toward the 'up to 5 GW' Anthropic secured.
"""

from __future__ import annotations

import sys

from capsim.experiments.questions.common import difference, estimate, parser, run_variant, summary
from capsim.models.scenario import load

DESCRIPTION = "the planned campus expansion vs only pre-announcement campuses (paired)"


def main(argv: list[str] | None = None) -> int:
    """Run both variants with common random numbers and compare them."""
    args = parser("expansion", DESCRIPTION).parse_args(argv)
    sc = load(None, args.overrides)[0]
    # Expansion campuses are the ones with nothing energized at the start (of enabled clouds).
    new = [n for n, c in sc.datacenters.campuses.items()
           if c.energized_at_start == 0 and sc.clouds[c.cloud].enabled]
    without = run_variant(args, "without-expansion",
                          [f"datacenters.campuses.{n}.new_buildings=0" for n in new])
    with_ = run_variant(args, "with-expansion", [])
    a, b = summary(without)["kpis"], summary(with_)["kpis"]
    _, d = difference(without, with_, "unmet_demand_share")
    _, du = difference(without, with_, "unserved_fraction")
    print(f"Expansion campuses: {', '.join(new)}")
    print(f"  unmet share of demand without: {estimate(a['unmet_demand_share'])}")
    print(f"  unmet share of demand with:    {estimate(b['unmet_demand_share'])}")
    print(f"  paired difference (with - without): {d}; of it unserved tokens {du}")
    print(f"Conclusion: with the build-out unmet demand (unserved plus lost to throttling) "
          f"goes from {a['unmet_demand_share']['mean']:.1%} to "
          f"{b['unmet_demand_share']['mean']:.1%} of the demand the market would bring "
          f"(paired difference {d}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
