"""The backtest's figures: per observed series, the record, each origin's fan, the baselines."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from capsim.models.observations import Observation


def series_key(o: Observation) -> str:
    """Observations of one series: the same simulated series, aggregation and unit."""
    return f"{'+'.join(o.series)}|{o.aggregation}|{o.unit}"


def _file_name(key: str) -> str:
    series, agg, _unit = key.split("|")
    short = series.split("+")[0] + ("-and-more" if "+" in series else "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{short}-{agg}")[:80] + ".png"


def finding(t: pd.DataFrame) -> str:
    """What the forecasts of one series did, in words: inside, above or below the band."""
    above = int((t["observed"] > t["p95"]).sum())
    below = int((t["observed"] < t["p05"]).sum())
    inside = len(t) - above - below
    parts = [f"{inside} of {len(t)} forecasts inside the 90% band"]
    parts += [f"{n} {w} it" for n, w in ((above, "above"), (below, "below")) if n]
    return "; the record ".join([parts[0], " and ".join(parts[1:])]) if len(parts) > 1 \
        else parts[0]


def plot_series(folder: Path, obs: list[Observation], table: pd.DataFrame) -> list[str]:
    """One PNG per series with forecasts in `table`; the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    origins = sorted(table["origin"].unique())
    colors = dict(zip(origins, plt.get_cmap("viridis")(np.linspace(0, 0.9, len(origins))),
                      strict=True))
    for key, t in table.groupby("series", sort=True):
        record = sorted((o for o in obs if series_key(o) == key), key=lambda o: o.date)
        fig, ax = plt.subplots(figsize=(9, 4.2))
        for origin, g in t.groupby("origin", sort=True):
            g = g.sort_values("date")
            x = pd.to_datetime(g["date"])
            c = colors[origin]
            if len(g) > 1:
                ax.fill_between(x, g["p05"], g["p95"], color=c, alpha=0.18, lw=0)
                ax.plot(x, g["p50"], color=c, lw=1.6, label=f"from {origin}: median, 90% band")
            else:
                ax.errorbar(x, g["p50"], yerr=[g["p50"] - g["p05"], g["p95"] - g["p50"]],
                            fmt="s", color=c, ms=4, capsize=3,
                            label=f"from {origin}: median, 90% band")
            ax.plot(x, g["trend"], color=c, lw=0.9, ls="--")
            ax.plot(x, g["growth"], color=c, lw=0.9, ls=":")
        dates = pd.to_datetime([o.date for o in record])
        val = np.array([o.value for o in record])
        ax.errorbar(dates, val, yerr=[val - [o.low for o in record],
                                      [o.high for o in record] - val],
                    fmt="o", color="black", ms=5, capsize=3, zorder=5,
                    label="record (observed range)")
        ax.plot([], [], color="grey", ls="--", lw=0.9, label="baseline: trend of last two")
        ax.plot([], [], color="grey", ls=":", lw=0.9, label="baseline: last year's growth")
        positive = np.r_[val, t["p05"].to_numpy(float)]
        if np.all(positive[np.isfinite(positive)] > 0) and val.max() / max(val.min(), 1e-300) > 20:
            ax.set_yscale("log")
        ax.set_title(f"{key.split('|')[0][:70]} ({key.split('|')[1]}): {finding(t)}\n"
                     f"{record[0].unit}", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
        fig.tight_layout()
        name = _file_name(str(key))
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append(name)
    return written
