"""Other figures: stacked areas and shares, heatmaps, scatters, ranking bars and ECDFs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from capsim.simcore.plots.axes import (
    colors_for,
    decorate,
    format_axis,
    human,
    legend_below,
    legend_outside,
)
from capsim.simcore.plots.page import (
    LINE_COLORS,
    PALETTE,
    Page,
    _styled,
    _suptitle,
    new_figure,
    save,
)
from matplotlib import ticker


@_styled
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
    yfmt: str | None = "count",
    page: Page | None = None,
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
        yfmt: tick format of the y axis.
        page: footer and dpi.
    """
    dates = np.asarray(dates)
    ys = [np.nan_to_num(np.asarray(v, float), nan=0.0) for v in layers.values()]
    for label, y in zip(layers, ys, strict=True):
        if y.shape != dates.shape:
            raise ValueError(f"layer {label!r}: shape {y.shape} does not match dates {dates.shape}")
    fig, axes = new_figure(size=(11, 5.4))
    ax = axes[0, 0]
    if ys:
        ax.stackplot(dates, *ys, labels=list(layers), colors=colors_for(len(ys), colors),
                     alpha=0.85, lw=0)
    _lines(ax, dates, lines, line_styles)
    ax.set_ylim(bottom=0)
    if dates.size:
        ax.set_xlim(dates[0], dates[-1])
    decorate(ax, ylabel=ylabel, yfmt=yfmt)
    _suptitle(fig, title)
    legend_below(fig, ax)
    return save(fig, path, page)


def _lines(ax, dates, lines, line_styles) -> None:
    styles = line_styles or {}
    for (label, y), color in zip((lines or {}).items(), colors_for(len(lines or {}), LINE_COLORS),
                                 strict=True):
        y = np.asarray(y, float)
        if y.shape != np.shape(dates):
            raise ValueError(f"line {label!r}: shape {y.shape} does not match dates "
                             f"{np.shape(dates)}")
        ax.plot(dates, y, color=color, ls=styles.get(label, "-"), label=label)


@_styled
def composition(
    path: Path,
    dates: np.ndarray,
    layers: Mapping[str, np.ndarray],
    lines: Mapping[str, np.ndarray],
    *,
    ylabel: str,
    title: str,
    total_label: str = "total",
    share_title: str = "Share of each layer in the total",
    colors: Sequence[str] | None = None,
    line_styles: Mapping[str, str] | None = None,
    yfmt: str | None = "count",
    page: Page | None = None,
) -> Path:
    """Save two panels: the layers' total and `lines` on a log axis, and each layer's share.

    A stack on a linear axis hides the early years when the total grows a hundredfold;
    the log panel shows levels at every scale, the share panel shows who carries them.
    """
    dates = np.asarray(dates)
    ys = np.array([np.nan_to_num(np.asarray(v, float), nan=0.0) for v in layers.values()])
    if ys.ndim != 2 or ys.shape[1] != dates.size:
        raise ValueError(f"layers: shape {ys.shape} does not match dates {dates.shape}")
    total = ys.sum(axis=0)
    fig, axes = new_figure(2, 1, size=(11, 8.2), sharex=True,
                           gridspec_kw={"height_ratios": [1.1, 1]})
    top, bottom = axes[:, 0]
    top.plot(dates, np.where(total > 0, total, np.nan), color=PALETTE[0], lw=2.0,
             label=total_label)
    _lines(top, dates, lines, line_styles)
    top.set_yscale("log")
    decorate(top, ylabel=ylabel, yfmt=yfmt, title="Levels (log scale)")
    legend_outside(top)
    share = np.divide(ys, total, out=np.zeros_like(ys), where=total > 0)
    bottom.stackplot(dates, *share, labels=list(layers), colors=colors_for(len(ys), colors),
                     alpha=0.9, lw=0)
    bottom.set_ylim(0, 1)
    bottom.set_xlim(dates[0], dates[-1])
    decorate(bottom, ylabel="share of the total (%)", yfmt="share",
              title=share_title)
    legend_outside(bottom)
    _suptitle(fig, title)
    return save(fig, path, page)


@_styled
def heatmap(path: Path, values: np.ndarray, rows: Sequence, cols: Sequence, *, title: str,
            label: str, xlabel: str, ylabel: str, vmin: float = 0.0, vmax: float = 1.0,
            cmap: str = "cividis", cfmt: str | None = "share", annotate: bool = True,
            page: Page | None = None) -> Path:
    """Save a heatmap of `values` (rows x cols) with labelled axes and a colour bar.

    Args:
        path: the file to write.
        values: (rows x cols) numbers; NaN cells stay blank.
        rows: row tick labels (top to bottom).
        cols: column tick labels.
        title: the figure title.
        label: the colour bar's label, with its unit.
        xlabel: the x-axis label.
        ylabel: the y-axis label.
        vmin: the colour scale's low end.
        vmax: the colour scale's high end.
        cmap: the colour map (default cividis: ordered in lightness, readable with any
            common colour-vision deficiency and in grey).
        cfmt: the colour bar's tick format, also used for cell annotations.
        annotate: write each cell's value in it.
        page: footer and dpi.
    """
    values = np.asarray(values, float)
    fig, axes = new_figure(size=(11, 0.42 * len(rows) + 2.2))
    ax = axes[0, 0]
    im = ax.imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if annotate:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                # White on dark cells, dark on light ones (the cell colour's luminance).
                r, g, b, _ = im.cmap(im.norm(v))
                dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5
                ax.text(j, i, human(v, cfmt or "count", 2), ha="center", va="center",
                        fontsize=7, color="white" if dark else "#222222")
    cb = fig.colorbar(im, ax=ax, label=label)
    format_axis(cb.ax.yaxis, cfmt)
    _suptitle(fig, title)
    return save(fig, path, page)


@_styled
def box_scatter(path: Path, x: np.ndarray, y: np.ndarray, outcome: np.ndarray, *, xlabel: str,
                ylabel: str, title: str, box_x: tuple[float, float] | None = None,
                outcome_label: str = "outcome present", absent_label: str = "outcome absent",
                page: Page | None = None) -> Path:
    """Save a scatter of two inputs coloured by an outcome, with a box on the x range."""
    fig, axes = new_figure(size=(9, 5.4))
    ax = axes[0, 0]
    if box_x is not None:
        ax.axvspan(*box_x, color=PALETTE[1], alpha=0.12, lw=0, label="box")
    outcome = np.asarray(outcome, bool)
    ax.scatter(x[~outcome], y[~outcome], s=22, color=PALETTE[0], label=absent_label)
    ax.scatter(x[outcome], y[outcome], s=22, color=PALETTE[1], marker="x", label=outcome_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _suptitle(fig, title)
    legend_below(fig, ax)
    return save(fig, path, page)


@_styled
def ranking_bars(path: Path, names: Sequence[str], values: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, *, xlabel: str, ylabel: str, title: str,
                 xlim: tuple[float, float] | None = (-1.0, 1.0),
                 page: Page | None = None) -> Path:
    """Save horizontal bars with interval whiskers, the first name on top.

    Positive values are drawn in one colour, negative in another.
    """
    vals = np.asarray(values, float)
    err = np.array([vals - np.asarray(lo, float), np.asarray(hi, float) - vals])
    err = np.where(np.isfinite(err), np.maximum(err, 0), 0)
    fig, axes = new_figure(size=(9, 0.55 * len(names) + 2.0))
    ax = axes[0, 0]
    pos = np.arange(len(names))[::-1]
    colors = [PALETTE[1] if v > 0 else PALETTE[0] for v in vals]
    ax.barh(pos, vals, xerr=err, color=colors, capsize=3)
    ax.set_yticks(pos, list(names))
    ax.axvline(0, color="black", lw=0.8)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False, axis="y")
    _suptitle(fig, title)
    return save(fig, path, page)


@_styled
def ecdf_grid(path: Path, samples: Mapping[str, np.ndarray], *, title: str,
              units: Mapping[str, str] | None = None, kinds: Mapping[str, str] | None = None,
              notes: Mapping[str, str] | None = None, page: Page | None = None) -> Path:
    """Save empirical CDFs of several scalar samples, one small panel each.

    Args:
        path: the file to write.
        samples: panel name -> values (NaNs are left out and counted in the panel's note).
        title: the figure title.
        units: panel name -> unit for the x-axis label.
        kinds: panel name -> tick format (`formatter`), default "count".
        notes: panel name -> a short note under the panel title.
        page: footer and dpi.
    """
    names = list(samples)
    cols = min(3, len(names)) or 1
    rows = int(np.ceil(len(names) / cols)) or 1
    fig, axes = new_figure(rows, cols, size=(4.2 * cols, 2.9 * rows + 0.8))
    for ax, name in zip(axes.flat, names, strict=False):
        raw = np.asarray(samples[name], float)
        x = np.sort(raw[np.isfinite(raw)])
        if x.size:
            ax.step(np.r_[x[0], x], np.r_[0, np.arange(1, x.size + 1) / x.size], where="post",
                    color=PALETTE[0])
        missing = raw.size - x.size
        sub = (notes or {}).get(name, "")
        if missing:
            sub = f"{sub}; " if sub else ""
            sub += f"{missing} of {raw.size} without a value"
        ax.set_title(name + (f"\n{sub}" if sub else ""), fontsize=9)
        ax.set_xlabel(f"value ({(units or {}).get(name) or 'no unit'})", fontsize=8.5)
        ax.set_ylabel("share of replications <= x (%)", fontsize=8.5)
        ax.set_ylim(0, 1.02)
        kind = (kinds or {}).get(name, "count")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(4, integer=kind == "year"))
        format_axis(ax.xaxis, kind)
        format_axis(ax.yaxis, "share")
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    _suptitle(fig, title)
    return save(fig, path, page)
