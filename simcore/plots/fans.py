"""Fan charts: medians with 50% and 90% bands over dates, alone or in panels, and shares."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from capsim.simcore.plots.axes import decorate, legend_below
from capsim.simcore.plots.page import (
    GAP_COLOR,
    LINE_COLORS,
    PALETTE,
    Page,
    _styled,
    _suptitle,
    new_figure,
    save,
)


def fan(ax, dates: np.ndarray, samples: np.ndarray, label: str, color: str, *,
        bands: bool | None = True, ls: str = "-") -> np.ndarray:
    """Median line with 50% and 90% bands of `samples` (replications x time).

    With `bands=False` the 90% band is drawn as two thin dotted lines instead of a fill,
    so that two series close to each other stay apart; with None, the median alone.
    Returns the median.
    """
    with warnings.catch_warnings():  # a column with no value at all draws as a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        q05, q25, q50, q75, q95 = np.nanpercentile(samples, [5, 25, 50, 75, 95], axis=0)
    if bands is None:
        ax.plot(dates, q50, color=color, ls=ls, label=f"{label} (median)")
    elif bands:
        ax.fill_between(dates, q05, q95, color=color, alpha=0.13, lw=0)
        ax.fill_between(dates, q25, q75, color=color, alpha=0.28, lw=0)
        ax.plot(dates, q50, color=color, ls=ls, label=f"{label} (median, 50% and 90% bands)")
    else:
        ax.plot(dates, q50, color=color, ls=ls, label=f"{label} (median)")
        ax.plot(dates, q05, color=color, lw=0.8, ls=":", label=f"{label} (5th-95th percentile)")
        ax.plot(dates, q95, color=color, lw=0.8, ls=":")
    return q50


@dataclass(frozen=True)
class Gap:
    """Shade where the median of series `upper` exceeds the median of series `lower`."""

    upper: str
    lower: str
    label: str
    color: str = GAP_COLOR
    alpha: float = 0.35


@dataclass(frozen=True)
class Panel:
    """A panel under a fan chart, on a linear scale with a zero line.

    Where the median of the first series is below zero, the panel is shaded
    (`shade` is the shading's legend label; None: no shading). `ylim` cuts the y axis
    (None: the data's range).
    """

    title: str
    series: Mapping[str, np.ndarray]
    ylabel: str
    yfmt: str | None = "share"
    colors: Sequence[str] = PALETTE
    shade: str | None = None
    ylim: tuple[float, float] | None = None


def _lower_panel(fig, ax, dates: np.ndarray, panel: Panel) -> None:
    """Draw `panel` on `ax`: fans, the zero line, shading below zero, its legend."""
    medians = [fan(ax, dates, np.asarray(samples, float), label, color)
               for (label, samples), color in zip(panel.series.items(), panel.colors,
                                                  strict=False)]
    ax.axhline(0.0, color=LINE_COLORS[0], lw=0.9, ls="-")
    if panel.shade and medians:
        below = medians[0] < 0
        ax.fill_between(dates, np.minimum(medians[0], 0.0), 0.0, where=below,
                        interpolate=True, color=GAP_COLOR, alpha=0.35, lw=0, label=panel.shade)
    ax.set_xlim(dates[0], dates[-1])
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    decorate(ax, ylabel=panel.ylabel, title=panel.title, yfmt=panel.yfmt)
    legend_below(fig, ax)


@_styled
def fan_chart(
    path: Path,
    dates: np.ndarray,
    series: Mapping[str, np.ndarray],
    *,
    ylabel: str,
    title: str,
    log: bool = False,
    colors: Sequence[str] = PALETTE,
    bands: bool | Sequence[bool | None] = True,
    styles: Sequence[str] | None = None,
    gaps: Sequence[Gap] = (),
    yfmt: str | None = "count",
    panel: Panel | None = None,
    top_title: str | None = None,
    page: Page | None = None,
) -> Path:
    """Save a fan chart of one or more (replications x time) arrays over calendar dates.

    Args:
        path: the file to write (.png or .svg).
        dates: the x values, one per column of every array.
        series: label -> (replications x time) array.
        ylabel: the y-axis label with its unit.
        title: the figure title (a finding or a question).
        log: log-scale y axis.
        colors: one colour per series, in order.
        bands: fills (True), dotted 90% lines (False) or none (None), for all series or
            one per series.
        styles: line style of each series' median.
        gaps: shaded regions between two series' medians.
        yfmt: tick format of the y axis (see `formatter`).
        panel: a second panel under the chart, over the same dates (linear scale).
        top_title: the title of the chart's own panel (with `panel`).
        page: footer and dpi.
    """
    if panel is None:
        fig, axes = new_figure(size=(11, 5.4))
    else:
        fig, axes = new_figure(2, 1, size=(11, 9.6), sharex=True,
                               gridspec_kw={"height_ratios": [3, 2]})
    ax = axes[0, 0]
    flags = [bands] * len(series) if isinstance(bands, bool) else list(bands)
    medians = {}
    for i, ((label, samples), color) in enumerate(zip(series.items(), colors, strict=False)):
        medians[label] = fan(ax, dates, np.asarray(samples, float), label, color,
                             bands=flags[i], ls=(styles or ["-"] * len(series))[i])
    for g in gaps:
        up, lo = medians[g.upper], medians[g.lower]
        where = up > lo
        if not where.any():  # nothing to shade: no patch, and no legend entry for one
            continue
        ax.fill_between(dates, lo, up, where=where, interpolate=True, color=g.color,
                        alpha=g.alpha, lw=0, label=g.label)
    if log:
        ax.set_yscale("log")
    ax.set_xlim(dates[0], dates[-1])
    decorate(ax, ylabel=ylabel, yfmt=yfmt, title=top_title if panel is not None else None)
    _suptitle(fig, title)
    legend_below(fig, ax)
    if panel is not None:
        _lower_panel(fig, axes[1, 0], dates, panel)
    return save(fig, path, page)


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


@_styled
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
    yfmt: str | None = "count",
    page: Page | None = None,
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
        yfmt: tick format of the y axes.
        page: footer and dpi.
    """
    names = list(panels)
    if not names:
        raise ValueError("fan_panels: no panels to draw")
    ylabels = [ylabel] * len(names) if isinstance(ylabel, str) else list(ylabel)
    if len(ylabels) != len(names):
        raise ValueError(f"fan_panels: {len(ylabels)} y labels for {len(names)} panels")
    fig, axes = new_figure(len(names), 1, size=(11, 1.2 + 3.3 * len(names)), sharex=True)
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
        decorate(ax, ylabel=yl, title=name, yfmt=yfmt)
        legend_below(fig, ax)
    _suptitle(fig, title)
    return save(fig, path, page)


@_styled
def share_over_time(
    path: Path, dates: np.ndarray, share: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
    ylabel: str, title: str, color: str = PALETTE[1], page: Page | None = None,
) -> Path:
    """Save a step plot of a probability over time with its confidence band."""
    fig, axes = new_figure(size=(11, 4.4))
    ax = axes[0, 0]
    ax.fill_between(dates, lo, hi, step="post", color=color, alpha=0.2, lw=0,
                    label="95% interval")
    ax.step(dates, share, where="post", color=color, label="estimate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(dates[0], dates[-1])
    decorate(ax, ylabel=ylabel, yfmt="share")
    _suptitle(fig, title)
    legend_below(fig, ax)
    return save(fig, path, page)
