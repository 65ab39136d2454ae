"""Money: what the capacity costs (first version: TCO per MW of IT power energized)."""

from __future__ import annotations

import numpy as np


def capacity_spend_usd(energized_mw: np.ndarray, pue: float, tco_usd_per_mw_it_year: float) -> float:
    """Spend over the series: each day's energized IT MW at the yearly TCO rate.

    Energized space is paid for whether or not chips fill it yet.
    """
    it_mw = np.asarray(energized_mw, float) / pue
    return float(it_mw.sum() * tco_usd_per_mw_it_year / 365.25)
