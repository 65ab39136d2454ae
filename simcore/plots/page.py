"""The page every figure shares: the style, the palette, the figure, its title and footer.

`save` writes a figure after calling the `before_save` hooks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

before_save: list[Callable[[Figure, Path], None]] = []
"""Called as f(figure, path) for every figure just before it is written."""

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
