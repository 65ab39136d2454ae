"""Question scripts: each answers one question, runnable as `capsim experiment NAME`.

A question module has a DESCRIPTION and a `main(argv) -> int`. The questions use the
public API (`capsim.run`, `capsim.plan`, ...) as a notebook would, and the shared helpers
of `common`; the library (`capsim.experiments.pipelines`) never imports them.
"""

NAMES = ("baseline", "expansion", "power_delay", "surge_stress", "multi_cloud",
         "milestone_funding", "procurement", "power_aware", "order_plan", "drivers",
         "rival_tenant", "feedback")
"""The questions, in the order `capsim experiment --list` shows them."""
