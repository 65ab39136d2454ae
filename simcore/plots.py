"""Domain-free plots: fan charts, stacked areas, shares over time, ECDFs.

Callers pass labels and units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed on servers and CI
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PALETTE = ("#1f5fa8", "#d1495b", "#2a9d8f", "#e9a03b", "#6c4f9c", "#5b5b5b")
LINE_COLORS = ("#111111", "#7a1f2b", "#0b4f6c", "#8a5a00")
"""Lines drawn over filled areas: darker than PALETTE so they stay visible on top."""


def colors_for(n: int, colors: Sequence[str] | None = None) -> list[str]:
    """`n` distinct colours: `colors` (default PALETTE) when long enough, else tab20."""
    colors = PALETTE if colors is None else colors
    if n <= len(colors):
        return list(colors[:n])
    cmap = plt.get_cmap("tab20")
    return [matplotlib.colors.to_hex(cmap(i % cmap.N)) for i in range(n)]


GROUP_CMAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")


def grouped_colors(groups: Sequence) -> list[str]:
    """One colour per item: a hue per group, darker to lighter shades within a group.

    With a single group, PALETTE's distinct colours (or tab20) read better than shades.
    """
    keys = list(dict.fromkeys(groups))
    if len(keys) <= 1:
        return colors_for(len(groups))
    size = {k: list(groups).count(k) for k in keys}
    seen = dict.fromkeys(keys, 0)
    out = []
    for g in groups:
        cmap = plt.get_cmap(GROUP_CMAPS[keys.index(g) % len(GROUP_CMAPS)])
        # Shades from 0.85 (dark) to 0.4 (light): the lightest still shows on white.
        shade = 0.85 - 0.45 * seen[g] / max(1, size[g] - 1)
        seen[g] += 1
        out.append(matplotlib.colors.to_hex(cmap(shade)))
    return out


def _style(ax, ylabel: str, title: str) -> None:
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(True, alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)
    lo, hi = ax.get_xlim()
    if hi - lo > 3 * 365:  # matplotlib date units are days
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    else:
        # A short horizon has one or two year ticks at most: let months show.
        loc = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


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


def stacked_area(
    path: Path,
    dates: np.ndarray,
    layers: Mapping[str, np.ndarray],
    lines: Mapping[str, np.ndarray] | None = None,
    *,
    ylabel: str,
    title: str,
    colors: Sequence[str] | None = None,
    line_styles: Mapping[str, str] | None = None,
    legend: str = "upper left",
) -> Path:
    """Save 1-D `layers` stacked over calendar dates, with optional `lines` drawn on top.

    Args:
        path: the image file to write.
        dates: the x values (dates), one per point.
        layers: label -> 1-D array of the same length as `dates`, stacked bottom first.
            NaNs count as zero so that one gap does not hide the layers above it.
        lines: label -> 1-D array drawn as a line over the stack (not stacked).
        ylabel: the y-axis label, with its unit.
        title: the plot title.
        colors: one colour per layer (default PALETTE, or tab20 for more layers).
        line_styles: label of a line -> matplotlib line style, e.g. "--" (default solid).
        legend: where the legend goes.
    """
    dates = np.asarray(dates)
    ys = [np.nan_to_num(np.asarray(v, float), nan=0.0) for v in layers.values()]
    for label, y in zip(layers, ys, strict=True):
        if y.shape != dates.shape:
            raise ValueError(f"layer {label!r}: shape {y.shape} does not match dates {dates.shape}")
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    if ys:
        ax.stackplot(dates, *ys, labels=list(layers), colors=colors_for(len(ys), colors),
                     alpha=0.85, lw=0)
    styles = line_styles or {}
    for (label, y), color in zip((lines or {}).items(), colors_for(len(lines or {}), LINE_COLORS),
                                 strict=True):
        y = np.asarray(y, float)
        if y.shape != dates.shape:
            raise ValueError(f"line {label!r}: shape {y.shape} does not match dates {dates.shape}")
        ax.plot(dates, y, color=color, lw=1.6, ls=styles.get(label, "-"), label=label)
    ax.set_ylim(bottom=0)
    if dates.size:
        ax.set_xlim(dates[0], dates[-1])
    return _finish(fig, ax, path, ylabel, title, legend)


@dataclass(frozen=True)
class Level:
    """A horizontal reference level on a panel, drawn from `start` to `end` (None: the edge)."""

    label: str
    value: float
    start: dt.date | np.datetime64 | None = None
    end: dt.date | np.datetime64 | None = None


def _day(d: dt.date | np.datetime64) -> np.datetime64:
    """A date or a datetime64 as a datetime64 in days."""
    return np.datetime64(d, "D") if isinstance(d, dt.date) else d.astype("datetime64[D]")


def fan_panels(
    path: Path,
    dates: np.ndarray,
    panels: Mapping[str, Mapping[str, np.ndarray]],
    *,
    ylabel: str | Sequence[str],
    title: str,
    levels: Mapping[str, Sequence[Level]] | None = None,
    log: bool = False,
    colors: Sequence[str] = PALETTE,
) -> Path:
    """Save fan charts in panels stacked vertically over shared calendar dates.

    Args:
        path: the image file to write.
        dates: the x values (dates), one per column of every array.
        panels: panel title -> {series label -> (replications x time) array}.
        ylabel: one y-axis label (with its unit) for all panels, or one per panel.
        title: the figure title.
        levels: panel title -> horizontal reference levels drawn on that panel.
        log: log-scale y axes.
        colors: series colours, in order within each panel.
    """
    names = list(panels)
    if not names:
        raise ValueError("fan_panels: no panels to draw")
    ylabels = [ylabel] * len(names) if isinstance(ylabel, str) else list(ylabel)
    if len(ylabels) != len(names):
        raise ValueError(f"fan_panels: {len(ylabels)} y labels for {len(names)} panels")
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.0 + 3.4 * len(names)), dpi=110,
                             sharex=True, squeeze=False)
    for ax, name, yl in zip(axes[:, 0], names, ylabels, strict=True):
        for (label, samples), color in zip(panels[name].items(), colors, strict=False):
            fan(ax, dates, np.asarray(samples, float), label, color)
        lo, hi = np.datetime64(dates[0], "D"), np.datetime64(dates[-1], "D")
        for lv, color in zip((levels or {}).get(name, ()), LINE_COLORS * 4, strict=False):
            # Clipped to the plotted dates; a dotted mark where a level ends inside them.
            x0 = lo if lv.start is None else max(lo, _day(lv.start))
            x1 = hi if lv.end is None else min(hi, _day(lv.end))
            if x1 <= x0:
                continue
            ax.plot([x0, x1], [lv.value, lv.value], color=color, lw=1.4, ls="--", label=lv.label)
            if x1 < hi:
                ax.axvline(x1, color=color, lw=0.8, ls=":")
        if log:
            ax.set_yscale("log")
        ax.set_xlim(dates[0], dates[-1])
        _style(ax, yl, name)
        ax.legend(loc="best", fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=12, x=0.01, ha="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


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
