"""The history figure: the run's predictive band against every observation.

One row per observation (fitted and held out alike), each on its own scale: values are
divided by the observed value, so the observation sits at 1 and a row reads as "the run
is x times what was reported". The grey box is the observed range, the coloured bar the
run's 90% band (5th-95th percentile of the replications) and the dot its median; the
colour is the observation's kind, and a held-out observation has a hollow dot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from capsim.simcore import plots
from matplotlib import ticker
from matplotlib.patches import Patch

KIND_COLORS = {"independent": plots.PALETTE[0], "input-echo": plots.PALETTE[5],
               "plan": plots.PALETTE[3]}


def _ratio(x: float, value: float) -> float:
    return float(x / value) if value and np.isfinite(x) and x / value > 0 else np.nan


def _ratio_ticks(ax, rows: list[dict]) -> None:
    """Ticks at powers of two of the ratio, written as '0.5x', '1x', '2x'."""
    vals = [_ratio(r[k], float(r["observed"])) for r in rows for k in ("low", "high", "p05",
                                                                         "p95")]
    vals = [v for v in vals if np.isfinite(v)] or [1.0]
    lo = int(np.floor(np.log2(min(vals))))
    hi = int(np.ceil(np.log2(max(vals))))
    ticks = [2.0 ** k for k in range(lo, hi + 1)]
    ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_xlim(ticks[0] / 1.2, ticks[-1] * 1.2)


def title(history: dict) -> str:
    """The finding: how many independent observations the band holds, and the share in range."""
    ind = (history.get("by_kind") or {}).get("independent")
    if not ind:
        return (f"The run against the record: {history['inside']} of {history['total']} "
                "observations inside the 90% band")
    text = (f"Independent observations: {ind['inside']} of {ind['total']} inside the run's "
            "90% band")
    if ind.get("mean_share_in_range") is not None:
        text += (f"; {plots.human(ind['mean_share_in_range'], 'share')} of replications in "
                 "their observed ranges (mean)")
    return text


def history_figure(path: Path, history: dict, page: plots.Page | None = None) -> Path | None:
    """Draw the history figure of a run's summary "history" section (None without rows)."""
    rows = [r for r in history.get("observations", []) if r.get("observed")]
    if not rows:
        return None
    with plots.style():
        fig, axes = plots.new_figure(size=(10, 1.2 + 0.38 * len(rows)))
        ax = axes[0, 0]
        y = np.arange(len(rows))[::-1]
        for yi, r in zip(y, rows, strict=True):
            v = float(r["observed"])
            color = KIND_COLORS.get(r.get("kind", ""), plots.PALETTE[0])
            lo, hi = _ratio(r["low"], v), _ratio(r["high"], v)
            ax.fill_between([lo, hi], yi - 0.32, yi + 0.32, color="#bbbbbb", alpha=0.6, lw=0)
            ax.plot([_ratio(r["p05"], v), _ratio(r["p95"], v)], [yi, yi], color=color, lw=3)
            held = r.get("fitted") is False
            ax.plot([_ratio(r["p50"], v)], [yi], "o", ms=6, color=color,
                    mfc="white" if held else color)
        ax.axvline(1.0, color="#111111", lw=0.8, ls=":")
        ax.set_xscale("log")
        _ratio_ticks(ax, rows)
        labels = [f"{r['name']} ({r.get('kind', '?')}"
                  + {True: ", fitted", False: ", held out"}.get(r.get("fitted"), "") + ")"
                  for r in rows]
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel("run / observed value (log scale; 1 = the observation)")
        for k, c in KIND_COLORS.items():
            ax.plot([], [], color=c, lw=3, label=f"run's 90% band and median: {k}")
        ax.plot([], [], "o", color="#555555", mfc="white", label="held out (hollow median)")
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=[Patch(color="#bbbbbb", label="observed range"), *handles],
                  fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.9 / fig.get_figheight()),
                  ncols=3)
        ax.set_ylabel("observation (kind; fitted or held out)")
        fig.suptitle(plots._wrap(fig, title(history)), x=0.01, ha="left")
        return plots.save(fig, path, page)
