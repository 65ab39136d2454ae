"""Experiment: what must be ordered to keep expected unmet demand under the target?

Runs `capsim plan` on the scenario's levers (minimum expected spend subject to the
expected headline shortage KPI, unmet demand over the evaluation window, at most the
scenario's `[plan] max_unmet_share`), checks the plan on fresh seeds against the
scenario's own policy, and tests the best plans across the uncertain inputs. `-n` sets
the effort: budget 5n candidates, n first replications each (up to 4n for close ones),
12.5n fresh-seed replications, 6n states of the world; the default -n 8 is `capsim
plan`'s documented default budget.
"""

from __future__ import annotations

import sys

from capsim.experiments.pipelines import plan_outputs
from capsim.experiments.pipelines.plan_spec import OBJECTIVES
from capsim.experiments.questions.common import parser

from capsim import api

DESCRIPTION = ("what must be ordered to keep expected unmet demand under the scenario's "
               "target? (capsim plan)")


def main(argv: list[str] | None = None) -> int:
    """Search the levers, then state the plan, its risk on fresh seeds and its cost."""
    p = parser("order_plan", DESCRIPTION, replications=8)
    p.add_argument("--max-shortfall", type=float, default=0.10)
    p.add_argument("--objective", choices=tuple(OBJECTIVES), default="spend")
    args = p.parse_args(argv)
    n = args.replications
    out = args.out / "plan"
    r = api.plan(None, max_shortfall=args.max_shortfall, objective=args.objective,
                 budget=5 * n, seed=args.seed, workers=args.workers, out=out,
                 overrides=args.overrides, force=True, progress=None, reps=n, max_reps=4 * n,
                 check_reps=max(2, round(12.5 * n)), states=max(4, 6 * n), robust=3)
    print(plan_outputs.report(r, out))
    pf, of = r["fresh"]["plan"], r["fresh"]["own"]
    d = r["paired_plan_minus_own"]
    lo, hi = (v / 1e9 for v in d["spend_usd"]["diff_ci95"])
    what = r["risk_label"]
    if r["feasible_found"]:
        head = (f"the plan {r['chosen']} keeps the {what} at {pf['risk']:.3f} "
                f"[{pf['risk_lo']:.3f}, {pf['risk_hi']:.3f}] on fresh seeds ({r['verdict']} "
                f"the {r['limit']:g} target)")
    else:
        head = (f"no plan within the levers' bounds keeps the {what} under "
                f"{r['limit']:g}; the closest, {r['chosen']}, reaches {pf['risk']:.3f} "
                f"[{pf['risk_lo']:.3f}, {pf['risk_hi']:.3f}] on fresh seeds")
    print(f"Conclusion: {head}, against {of['risk']:.3f} [{of['risk_lo']:.3f}, "
          f"{of['risk_hi']:.3f}] for the scenario's own policy, for "
          f"{d['spend_usd']['diff_mean'] / 1e9:+,.1f}B [{lo:+,.1f}, {hi:+,.1f}] $ of spend "
          "(paired); levers: "
          + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in r["levers"].items()) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
