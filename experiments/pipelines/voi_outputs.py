"""`capsim value-of-information`: its figure and the table it prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from capsim.simcore import plots


def _usd(v: float) -> str:
    return f"{'-' if v < 0 else ''}${abs(v) / 1e9:,.2f}B"


def voi_plot(r: dict[str, Any], path: Path) -> Path:
    """EVSI of each observation (+- 2 standard errors), with EVPI as the ceiling."""
    import matplotlib.pyplot as plt

    rows = r["observations"][::-1]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 2.2), dpi=110)
    ax.barh(y, [e["evsi_usd"] / 1e9 for e in rows], 0.6,
            xerr=[2 * e["evsi_se_usd"] / 1e9 for e in rows], color=plots.PALETTE[0], capsize=3,
            label="expected value of the observation (EVSI), +- 2 standard errors")
    ax.axvline(r["evpi_usd"] / 1e9, color=plots.PALETTE[1], ls="--",
               label=f"value of knowing the state exactly (EVPI) {_usd(r['evpi_usd'])}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{e['observation']}\n{e['series']} {e['date']}" for e in rows],
                  fontsize=8)
    ax.set_xlabel("USD billions of expected spend plus forgone revenue saved by waiting for it")
    ax.set_title(plots._wrap(fig, f"{finding(r)} ({r['scenario']}: {r['states']} states x "
                                  f"{len(r['plans'])} plans; chosen now: {r['plan_now']})"),
                 loc="left", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def finding(r: dict[str, Any]) -> str:
    """What the figure shows, from its numbers: which observation is worth waiting for."""
    clear = [e for e in r["observations"] if e["evsi_usd"] > 2 * e["evsi_se_usd"]]
    ceiling = f"knowing the state exactly is worth {_usd(r['evpi_usd'])}"
    if not clear:
        return ("No candidate observation is worth measurably more than nothing (every "
                f"value within 2 standard errors of zero); {ceiling}")
    best = max(clear, key=lambda e: e["evsi_usd"])
    return (f"Waiting for {best['observation']} is worth {_usd(best['evsi_usd'])} "
            f"(+- {_usd(2 * best['evsi_se_usd'])}); {ceiling}")


def report(r: dict[str, Any]) -> str:
    """The ranked table `capsim value-of-information` prints."""
    lines = [f"Value of information for {r['scenario']} ({r['states']} states, seed "
             f"{r['seed']}; loss = {r['loss']}, risk = expected {r['risk']}).",
             f"Plan chosen now: {r['plan_now']} (expected loss {_usd(r['expected_loss_now_usd'])}"
             f", risk {r['expected_risk_now']:.4f}) among {', '.join(r['plans'])}.",
             f"Perfect information (EVPI): {_usd(r['evpi_usd'])}, risk change "
             f"{r['evpi_risk_change']:+.4f}.",
             f"  {'rank':4s} {'observation':28s} {'series @ date':40s} {'error':>6s} "
             f"{'EVSI':>10s} {'+- se':>9s} {'switch':>7s} {'risk chg':>9s}"]
    for i, e in enumerate(r["observations"], 1):
        where = f"{e['series']} {e['operator']} {e['date']}"
        lines.append(f"  {i:4d} {e['observation']:28s} {where:40s} {e['error_share']:6.0%} "
                     f"{_usd(e['evsi_usd']):>10s} {_usd(e['evsi_se_usd']):>9s} "
                     f"{e['switch_share']:7.0%} {e['risk_change']:+9.4f}")
    lines.append(finding(r) + ".")
    lines.append("EVSI: expected spend plus forgone revenue saved by choosing the plan after "
                 "seeing the number; switch: share of states where it changes the plan.")
    if "plot" in r:
        lines.append(f"  plot: {r['plot']}")
    return "\n".join(lines)
