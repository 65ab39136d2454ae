"""Axes: numbers and dates as tick labels, legends clear of the data, labels, colours."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from capsim.simcore.plots.page import PALETTE, _wrap
from capsim.simcore.units import DAYS_PER_YEAR
from matplotlib import ticker
from matplotlib.transforms import ScaledTranslation

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
    if kind == "month":  # a decimal year as YYYY-MM
        year = int(np.floor(v))
        return f"{year}-{min(12, int((v - year) * 12) + 1):02d}"
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

    "count" gives 1,000 / 2.5M / 3B, "usd" $2.5B, "share" 45%, "year" 2031, "month"
    2031-07 (of a decimal year), "plain"
    matplotlib's own.
    """
    if kind == "plain":
        return ticker.ScalarFormatter()
    if kind not in ("count", "usd", "share", "year", "month"):
        raise ValueError("formatter kind must be count, usd, share, year, month or plain, not "
                         f"{kind!r}")
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
        below = (0.34 if ticks else 0.08) + (0.25 if ax.get_xlabel() else 0.0)
        drop = ScaledTranslation(0, -below, fig.dpi_scale_trans)
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
OKABE_ITO = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
             "#000000")
"""Okabe and Ito's eight colours, told apart with any common colour-vision deficiency."""


def colors_for(n: int, colors: Sequence[str] | None = None) -> list[str]:
    """`n` distinct colours: `colors` (default PALETTE) when long enough, else Okabe-Ito.

    Past eight, Okabe-Ito's colours repeat in a lighter shade (each a different line style
    or label still tells them apart).
    """
    colors = PALETTE if colors is None else colors
    if n <= len(colors):
        return list(colors[:n])
    out = []
    for i in range(n):
        base = np.array(matplotlib.colors.to_rgb(OKABE_ITO[i % len(OKABE_ITO)]))
        light = min(0.6, 0.3 * (i // len(OKABE_ITO)))
        r, g, b = (float(x) for x in base + (1 - base) * light)
        out.append(matplotlib.colors.to_hex((r, g, b)))
    return out


# Sequential maps whose hues stay apart for colour-blind readers: blue and orange first
# (most figures have one to three groups); no red beside green.
GROUP_CMAPS = ("Blues", "Oranges", "Purples", "Greys", "Greens", "YlOrBr")


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
