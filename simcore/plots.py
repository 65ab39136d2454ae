"""Domain-free plots: fan charts, shares over time, ECDFs. Callers pass labels and units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed on servers and CI
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PALETTE = ("#1f5fa8", "#d1495b", "#2a9d8f", "#e9a03b", "#6c4f9c", "#5b5b5b")


def _style(ax, ylabel: str, title: str) -> None:
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(True, alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))


def _finish(fig, ax, path: Path, ylabel: str, title: str, legend: str) -> Path:
    _style(ax, ylabel, title)
    ax.legend(loc=legend, fontsize=9, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def fan(ax, dates: np.ndarray, samples: np.ndarray, label: str, color: str) -> None:
    """Median line with 50% and 90% bands of `samples` (replications x time)."""
    q05, q25, q50, q75, q95 = np.nanpercentile(samples, [5, 25, 50, 75, 95], axis=0)
    ax.fill_between(dates, q05, q95, color=color, alpha=0.15, lw=0)
    ax.fill_between(dates, q25, q75, color=color, alpha=0.3, lw=0)
    ax.plot(dates, q50, color=color, lw=1.6, label=f"{label} (median, 50% and 90% bands)")


def fan_chart(
    path: Path,
    dates: np.ndarray,
    series: Mapping[str, np.ndarray],
    *,
    ylabel: str,
    title: str,
    log: bool = False,
    colors: Sequence[str] = PALETTE,
) -> Path:
    """Save a fan chart of one or more (replications x time) arrays over calendar dates."""
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    for (label, samples), color in zip(series.items(), colors, strict=False):
        fan(ax, dates, np.asarray(samples, float), label, color)
    if log:
        ax.set_yscale("log")
    return _finish(fig, ax, path, ylabel, title, "upper left")


def share_over_time(
    path: Path, dates: np.ndarray, share: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
    ylabel: str, title: str, color: str = PALETTE[1],
) -> Path:
    """Save a step plot of a probability over time with its confidence band."""
    fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
    ax.fill_between(dates, lo, hi, step="post", color=color, alpha=0.2, lw=0, label="95% interval")
    ax.step(dates, share, where="post", color=color, lw=1.6, label="estimate")
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, ax, path, ylabel, title, "best")


def heatmap(path: Path, values: np.ndarray, rows: Sequence, cols: Sequence, *, title: str,
            label: str, vmin: float = 0.0, vmax: float = 1.0, cmap: str = "RdYlGn") -> Path:
    """Save a heatmap of `values` (rows x cols) with a colour bar."""
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.8), dpi=110)
    im = ax.imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_title(title, loc="left", fontsize=11)
    fig.colorbar(im, ax=ax, label=label)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def box_scatter(path: Path, x: np.ndarray, y: np.ndarray, outcome: np.ndarray, *, xlabel: str,
                ylabel: str, title: str, box_x: tuple[float, float] | None = None) -> Path:
    """Save a scatter of two inputs coloured by an outcome, with a box on the x range."""
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    if box_x is not None:
        ax.axvspan(*box_x, color=PALETTE[1], alpha=0.12, lw=0, label="box")
    outcome = np.asarray(outcome, bool)
    ax.scatter(x[~outcome], y[~outcome], s=22, color=PALETTE[0], label="outcome absent")
    ax.scatter(x[outcome], y[outcome], s=22, color=PALETTE[1], marker="x", label="outcome present")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def ecdf_grid(path: Path, samples: Mapping[str, np.ndarray], *, title: str) -> Path:
    """Save empirical CDFs of several scalar samples, one small panel each."""
    names = list(samples)
    cols = min(3, len(names)) or 1
    rows = int(np.ceil(len(names) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), dpi=110, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        x = np.sort(np.asarray(samples[name], float))
        x = x[np.isfinite(x)]
        if x.size:
            ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", color=PALETTE[0])
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.25)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
