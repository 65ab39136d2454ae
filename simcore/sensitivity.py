"""Global sensitivity from a sampled design.

Global sensitivity from a sampled design: PRCC with bootstrap intervals, and a one-box
scenario discovery (the input range that concentrates an outcome). Domain-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st


def prcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Partial rank correlation of each column of `x` (n x k) with `y` (n).

    Ranks remove monotone non-linearity; each input's correlation with the output is
    taken after regressing both on the other inputs' ranks.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n, k = x.shape
    rx = np.column_stack([st.rankdata(x[:, j]) for j in range(k)])
    ry = st.rankdata(y)
    out = np.zeros(k)
    for j in range(k):
        others = np.column_stack([np.ones(n), np.delete(rx, j, axis=1)])
        bx, *_ = np.linalg.lstsq(others, rx[:, j], rcond=None)
        by, *_ = np.linalg.lstsq(others, ry, rcond=None)
        ex, ey = rx[:, j] - others @ bx, ry - others @ by
        denom = np.sqrt((ex @ ex) * (ey @ ey))
        out[j] = (ex @ ey) / denom if denom > 0 else 0.0
    return out


def prcc_with_ci(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, boot: int = 200,
                 level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(PRCC, lower, upper): percentile bootstrap interval over resampled design rows."""
    est = prcc(x, y)
    n = len(y)
    draws = np.array([prcc(x[i], y[i]) for i in (rng.integers(0, n, n) for _ in range(boot))])
    a = (1 - level) / 2
    return est, np.nanquantile(draws, a, axis=0), np.nanquantile(draws, 1 - a, axis=0)


@dataclass(frozen=True)
class Box:
    """One-sided range of one input where the outcome is concentrated."""

    column: int
    side: str          # "above" or "below"
    threshold: float
    density: float     # share of points in the box with the outcome
    coverage: float    # share of all outcome points that fall in the box
    base_rate: float   # share of all points with the outcome


def best_box(x: np.ndarray, outcome: np.ndarray, min_coverage: float = 0.5) -> Box | None:
    """The single-input threshold box with the highest outcome density at a given coverage.

    A one-dimensional version of PRIM's peeling: for each input and side, thresholds at
    the design's quantiles are tried, keeping boxes that hold at least `min_coverage` of the
    outcome points.
    """
    outcome = np.asarray(outcome, bool)
    total = outcome.sum()
    if total == 0 or total == outcome.size:
        return None
    base = total / outcome.size
    best: Box | None = None
    for j in range(x.shape[1]):
        for q in np.linspace(0.05, 0.95, 19):
            t = np.quantile(x[:, j], q)
            for side, inside in (("above", x[:, j] >= t), ("below", x[:, j] <= t)):
                if not inside.any():
                    continue
                cov = outcome[inside].sum() / total
                dens = outcome[inside].mean()
                if cov >= min_coverage and (best is None or dens > best.density + 1e-12):
                    best = Box(j, side, float(t), float(dens), float(cov), float(base))
    return best
