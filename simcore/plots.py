"""Domain-free plots: fan charts, stacked areas, shares, heatmaps, ECDFs, ranking bars.

One style for every figure (`capsim.mplstyle`, shipped beside this module), readable tick
labels (thousands separators, K/M/B/T suffixes, percentages, years), legends outside the
data, and a footer line on every figure. Callers pass titles, labels and units; every
figure is written by `save`, which first calls the functions in `before_save` (tests
read the figure's texts there).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed on servers and CI
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from capsim.simcore.units import DAYS_PER_YEAR  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402

STYLE = Path(__file__).with_name("capsim.mplstyle")
"""The shared matplotlib style file."""

PALETTE = ("#1f5fa8", "#d1495b", "#2a9d8f", "#e9a03b", "#6c4f9c", "#5b5b5b")
LINE_COLORS = ("#111111", "#7a1f2b", "#0b4f6c", "#8a5a00")
"""Lines drawn over filled areas: darker than PALETTE so they stay visible on top."""
GAP_COLOR = "#e4572e"

FORMATS = ("png", "svg")
"""File formats `save` writes (from the path's suffix)."""


@dataclass(frozen=True)
class Page:
    """What every figure carries besides its data: the footer line and the raster dpi."""

    footer: str = ""
    dpi: int = 150


def _wrap(fig: Any, text: str) -> str:
    """A title broken into lines that fit the figure's width.

    About 9 characters an inch at the style's title size, so that a long finding is never
    cut off at the figure's edge.
    """
    import textwrap

    width = max(40, int(fig.get_figwidth() * 9))
    return "\n".join(textwrap.fill(line, width) for line in str(text).split("\n"))


def _suptitle(fig: Any, title: str) -> None:
    fig.suptitle(_wrap(fig, title), x=0.01, ha="left")


before_save: list[Callable[[Figure, Path], None]] = []
"""Called as f(figure, path) for every figure just before it is written."""


@contextlib.contextmanager

def style() -> Iterator[None]:
    """The shared style, for figures drawn outside this module's functions."""
    with plt.style.context(str(STYLE)):
        yield


def _styled(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (10, 5.2),
               sharex: bool = False, **kw: Any) -> tuple[Figure, np.ndarray]:
    """A figure with constrained layout and an (nrows x ncols) array of axes.

    Call inside `style()` (every function here does) so the shared style applies.
    """
    fig, axes = plt.subplots(nrows, ncols, figsize=size, sharex=sharex, squeeze=False,
                             layout="constrained", **kw)
    return fig, axes


def save(fig: Figure, path: Path, page: Page | None = None) -> Path:
    """Add the footer, run the `before_save` hooks, write `path` (format from its suffix)."""
    page = page or Page()
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        plt.close(fig)
        raise ValueError(f"{path}: plot format must be one of {', '.join(FORMATS)}")
    if page.footer:
        # Room for the footer below the axes (constrained layout keeps to the rect).
        engine = fig.get_layout_engine()
        if isinstance(engine, ConstrainedLayoutEngine):
            engine.set(rect=(0, 0.035, 1, 0.965))
        fig.text(0.005, 0.005, page.footer, ha="left", va="bottom", fontsize=7,
                 color="#666666", gid="footer")
    try:
        for hook in before_save:
            hook(fig, path)
        fig.savefig(path, dpi=page.dpi, format=fmt)
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------------- numbers on axes
_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def human(v: float, kind: str = "count", digits: int = 3) -> str:
    """A number for an axis or a sentence: 1,234 / 12.3M / $4.5B / 45%."""
    if v is None or not np.isfinite(v):
        return "-"
    if kind == "share":
        pct = v * 100
        if abs(pct) >= 10 or pct == round(pct):
            return f"{pct:.0f}%"
        return f"{pct:.1f}%" if abs(pct) >= 1 else f"{pct:.2g}%"
    if kind == "year":
        return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"
    sign = "-" if v < 0 else ""
    a = abs(v)
    pre = "$" if kind == "usd" else ""
    for scale, suffix in _SUFFIXES:
        if a >= scale and not (suffix == "K" and a < 1e5):
            return f"{sign}{pre}{a / scale:.{digits}g}{suffix}"
    if a >= 100 or a == 0:
        return f"{sign}{pre}{a:,.0f}"
    return f"{sign}{pre}{a:.{digits}g}"


def formatter(kind: str) -> ticker.Formatter:
    """A tick formatter of a kind: count, usd, share, year or plain.

    "count" gives 1,000 / 2.5M / 3B, "usd" $2.5B, "share" 45%, "year" 2031, "plain"
    matplotlib's own.
    """
    if kind == "plain":
        return ticker.ScalarFormatter()
    if kind not in ("count", "usd", "share", "year"):
        raise ValueError(f"formatter kind must be count, usd, share, year or plain, not {kind!r}")
    return ticker.FuncFormatter(lambda v, _pos: human(v, kind))


def format_axis(axis, kind: str | None) -> None:
    """Apply `formatter(kind)` to an axis; on a log axis, label major ticks only."""
    if kind is None:
        return
    axis.set_major_formatter(formatter(kind))
    if axis.get_scale() == "log":
        axis.set_minor_formatter(ticker.NullFormatter())


def date_axis(ax) -> None:
    """Years as ticks on a long span, concise month ticks on a short one."""
    lo, hi = ax.get_xlim()
    if hi - lo > 3 * 365:  # matplotlib date units are days
        step = max(1, int(np.ceil((hi - lo) / DAYS_PER_YEAR / 12)))
        ax.xaxis.set_major_locator(mdates.YearLocator(step))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    else:
        loc = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def legend_outside(ax, ncols: int = 1, title: str | None = None) -> None:
    """The axes' legend to the right of the data (constrained layout makes room).

    For figures of several panels; a single panel reads better with `legend_below`.
    """
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncols=ncols,
                  borderaxespad=0.0, title=title)


def legend_below(fig, ax, ncols: int = 2) -> None:
    """The axes' legend below the data, under the tick labels, centred.

    An axes legend rather than a figure legend: constrained layout keeps it inside the
    layout's rectangle, clear of the footer.
    """
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # A fixed drop below the axes (in inches): clear of the tick labels whatever the
        # panel's height; less where a shared x axis hides them.
        ticks = any(t.get_visible() for t in ax.get_xticklabels()) and ax.xaxis.get_visible()
        drop = ScaledTranslation(0, -(0.34 if ticks else 0.08), fig.dpi_scale_trans)
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  bbox_transform=ax.transAxes + drop, ncols=min(ncols, len(handles)),
                  borderaxespad=0.0)


def decorate(ax, *, ylabel: str, title: str | None = None, yfmt: str | None = None,
             xlabel: str | None = None, dates: bool = True) -> None:
    """Label an axes (y label with its unit), format its y ticks and its date x axis."""
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(_wrap(ax.figure, title))
    if xlabel:
        ax.set_xlabel(xlabel)
    if dates:
        date_axis(ax)
    format_axis(ax.yaxis, yfmt)


# ------------------------------------------------------------------------- colours
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


# ---------------------------------------------------------------------------- fans
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
        page: footer and dpi.
    """
    fig, axes = new_figure(size=(11, 5.4))
    ax = axes[0, 0]
    flags = [bands] * len(series) if isinstance(bands, bool) else list(bands)
    medians = {}
    for i, ((label, samples), color) in enumerate(zip(series.items(), colors, strict=False)):
        medians[label] = fan(ax, dates, np.asarray(samples, float), label, color,
                             bands=flags[i], ls=(styles or ["-"] * len(series))[i])
    for g in gaps:
        up, lo = medians[g.upper], medians[g.lower]
        where = up > lo
        ax.fill_between(dates, lo, up, where=where, interpolate=True, color=g.color,
                        alpha=g.alpha, lw=0, label=g.label)
    if log:
        ax.set_yscale("log")
    ax.set_xlim(dates[0], dates[-1])
    decorate(ax, ylabel=ylabel, yfmt=yfmt)
    _suptitle(fig, title)
    legend_below(fig, ax)
    return save(fig, path, page)


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


@_styled
def heatmap(path: Path, values: np.ndarray, rows: Sequence, cols: Sequence, *, title: str,
            label: str, xlabel: str, ylabel: str, vmin: float = 0.0, vmax: float = 1.0,
            cmap: str = "RdYlGn", cfmt: str | None = "share", annotate: bool = True,
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
        cmap: the colour map.
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
        mid = (vmin + vmax) / 2
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, human(v, cfmt or "count", 2), ha="center", va="center",
                        fontsize=7, color="white" if abs(v - mid) > 0.35 * (vmax - vmin)
                        else "#222222")
    cb = fig.colorbar(im, ax=ax, label=label)
    format_axis(cb.ax.yaxis, cfmt)
    _suptitle(fig, title)
    return save(fig, path, page)


@_styled
def box_scatter(path: Path, x: np.ndarray, y: np.ndarray, outcome: np.ndarray, *, xlabel: str,
                ylabel: str, title: str, box_x: tuple[float, float] | None = None,
                outcome_label: str = "outcome present", page: Page | None = None) -> Path:
    """Save a scatter of two inputs coloured by an outcome, with a box on the x range."""
    fig, axes = new_figure(size=(9, 5.4))
    ax = axes[0, 0]
    if box_x is not None:
        ax.axvspan(*box_x, color=PALETTE[1], alpha=0.12, lw=0, label="box")
    outcome = np.asarray(outcome, bool)
    ax.scatter(x[~outcome], y[~outcome], s=22, color=PALETTE[0], label="outcome absent")
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
