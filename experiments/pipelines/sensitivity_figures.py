"""Figures of `capsim sensitivity --groups`: convergence against N, indices by year."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from capsim.experiments.pipelines.kpi_text import label
from capsim.simcore import plots


def convergence_plot(r: dict[str, Any], path: Path, top: int = 8) -> Path:
    """Per KPI: total order indices (95% intervals) and their half-widths against N."""
    import matplotlib.pyplot as plt

    kpis = r["kpis"]
    fig, axes = plt.subplots(len(kpis), 2, figsize=(11, 3.6 * len(kpis)), dpi=110,
                             squeeze=False)
    for row, kpi in enumerate(kpis):
        groups = [e["group"] for e in r["final"][kpi][:top]]
        colors = plots.colors_for(len(groups))
        ns = [s["n"] for s in r["steps"]]
        for g, c in zip(groups, colors, strict=True):
            at = [next(e for e in s["indices"][kpi] if e["group"] == g) for s in r["steps"]]
            st = np.array([e["ST"] for e in at])
            hw = np.array([e["ST_conf"] for e in at])
            axes[row, 0].errorbar(ns, st, yerr=hw, color=c, marker="o", capsize=3, label=g)
            axes[row, 1].plot(ns, hw, color=c, marker="o", label=g)
        axes[row, 1].axhline(r["target"], color="black", ls="--", lw=1,
                             label=f"target {r['target']:g}")
        for ax in axes[row]:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("base samples N (Saltelli: N x (groups + 2) points)")
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel(f"total order index of {label(kpi)}")
        axes[row, 1].set_ylabel("95% half-width")
        axes[row, 1].legend(fontsize=7, loc="upper right")
    strongest = ", ".join(f"{label(k)}: {r['final'][k][0]['group']}" for k in kpis
                          if r["final"][k])
    fig.suptitle(plots._wrap(fig, f"Strongest group ({strongest}); grouped Sobol' indices "
                                  f"against N: {r['stop_reason']}"),
                 fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def yearly_plot(r: dict[str, Any], path: Path) -> Path:
    """Total order index of each group per calendar year of the headline KPI (a heat map)."""
    import matplotlib.pyplot as plt

    years = list(r["by_year"])
    groups = [e["group"] for e in r["final"][r["kpis"][0]]]

    def cell(key: str) -> np.ndarray:
        return np.array([[next(e[key] for e in r["by_year"][y] if e["group"] == g)
                          for y in years] for g in groups]) if years else np.zeros(
            (len(groups), 0))

    z, hw = cell("ST"), cell("ST_conf")
    loose = ~(hw <= r["target"])  # NaN counts as not resolved
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(years) + 4), 0.5 * len(groups) + 1.8),
                           dpi=110)
    im = ax.imshow(np.clip(z, 0, 1), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(years)), years)
    ax.set_yticks(range(len(groups)), groups, fontsize=8)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            ax.text(j, i, f"{z[i, j]:.2f}\n+-{hw[i, j]:.2f}", ha="center", va="center",
                    fontsize=6.5, color="white" if z[i, j] < 0.5 else "black",
                    fontweight="normal" if loose[i, j] else "bold")
            if loose[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                           edgecolor="0.45", lw=0))
    fig.colorbar(im, ax=ax, label="total order index")
    n = r["steps"][-1]["n"] if r.get("steps") else 0
    title = f"Which groups drive {label(r['by_year_kpi'])} each year (total order Sobol' index)"
    if z.size and np.isfinite(z).any():
        gi, yj = (int(v) for v in np.unravel_index(int(np.nanargmax(z)), z.shape))
        title = (f"{groups[gi]} drives {label(r['by_year_kpi'])} most in {years[yj]} (total "
                 f"order index {z[gi, yj]:.2f} +- {hw[gi, yj]:.2f})")
    title += (f"; hatched: 95% half-width above {r['target']:g} at N = {n}, "
              f"{int(loose.sum())} of {loose.size} cells" if loose.any() else
              f"; every cell within +-{r['target']:g}")
    ax.set_title(plots._wrap(fig, title), loc="left", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
