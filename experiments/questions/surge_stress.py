"""Surge stress: how large must surges get before service quality breaks?"""

from __future__ import annotations

import sys

from capsim.experiments.questions.common import difference, estimate, parser, run_variant, summary

DESCRIPTION = "surge intensity 0x-8x: the size at which SLO attainment drops (paired)"
LEVELS = (0.0, 1.0, 2.0, 4.0, 8.0)
BREAK_POINTS = 0.05  # a drop of 5 percentage points of SLO hours counts as breaking


def main(argv: list[str] | None = None) -> int:
    """Run surge intensities with common random numbers; find where the SLO breaks."""
    args = parser("surge_stress", DESCRIPTION, replications=24).parse_args(argv)
    dirs = {k: run_variant(args, f"intensity-{k:g}", [f"surges.intensity_multiplier={k}"])
            for k in LEVELS}
    calm = dirs[0.0]
    print("Surge intensity vs no surges, paired (SLO hours share, mean [95% CI]):")
    breaking = None
    for k in LEVELS:
        s = summary(dirs[k])["kpis"]["slo_attainment"]
        line = f"  {k:>3g}x: {estimate(s)}"
        if k > 0:
            d, txt = difference(calm, dirs[k], "slo_attainment")
            line += f"   change {txt}"
            if breaking is None and d <= -BREAK_POINTS:
                breaking = k
        print(line)
    if breaking is None:
        print(f"Conclusion: up to {LEVELS[-1]:g}x today's surges, SLO hours fall by less than "
              f"{100 * BREAK_POINTS:.0f} percentage points on average.")
    else:
        print(f"Conclusion: surges {breaking:g}x today's size cut SLO hours by at least "
              f"{100 * BREAK_POINTS:.0f} percentage points on average.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
