"""Domain-free plots: fan charts, stacked areas, shares, heatmaps, ECDFs, ranking bars.

One style for every figure (`capsim.mplstyle`, shipped beside this module), readable tick
labels (thousands separators, K/M/B/T suffixes, percentages, years), legends outside the
data, and a footer line on every figure. Callers pass titles, labels and units; every
figure is written by `save`, which first calls the functions in `before_save` (tests
read the figure's texts there).

The modules: `page` (the style, the palette, the figure, `save`), `axes` (tick labels,
dates, legends, colours), `fans` (fan charts, panels of them, shares over time) and
`charts` (stacked areas, heatmaps, scatters, ranking bars, ECDFs). Every name is
imported from here.
"""

from __future__ import annotations

import matplotlib

# Before any module here loads pyplot. Files only: no display needed on servers and CI.
matplotlib.use("Agg")
from capsim.simcore.plots.axes import (
    GROUP_CMAPS,
    OKABE_ITO,
    colors_for,
    date_axis,
    decorate,
    format_axis,
    formatter,
    grouped_colors,
    human,
    legend_below,
    legend_outside,
)
from capsim.simcore.plots.charts import (
    box_scatter,
    composition,
    ecdf_grid,
    heatmap,
    ranking_bars,
    stacked_area,
)
from capsim.simcore.plots.fans import (
    Gap,
    Level,
    Panel,
    fan,
    fan_chart,
    fan_panels,
    share_over_time,
)
from capsim.simcore.plots.page import (
    FORMATS,
    GAP_COLOR,
    LINE_COLORS,
    PALETTE,
    STYLE,
    Page,
    new_figure,
    save,
    style,
)

# Private, but experiments.sensitivity wraps the titles of the figures it draws itself.
from capsim.simcore.plots.page import _wrap as _wrap
from capsim.simcore.plots.page import before_save as before_save

__all__ = [
    "FORMATS",
    "GAP_COLOR",
    "GROUP_CMAPS",
    "OKABE_ITO",
    "LINE_COLORS",
    "PALETTE",
    "STYLE",
    "Gap",
    "Level",
    "Page",
    "Panel",
    "before_save",
    "box_scatter",
    "colors_for",
    "composition",
    "date_axis",
    "decorate",
    "ecdf_grid",
    "fan",
    "fan_chart",
    "fan_panels",
    "format_axis",
    "formatter",
    "grouped_colors",
    "heatmap",
    "human",
    "legend_below",
    "legend_outside",
    "new_figure",
    "ranking_bars",
    "save",
    "share_over_time",
    "stacked_area",
    "style",
]
