"""Proper scores of probabilistic forecasts: ensemble CRPS, the interval score, coverage.

A forecast here is an ensemble (samples of the predictive distribution) or a central
band; the observation is one number. Every function is vectorised over leading axes:
`samples` has the ensemble on its last axis and `observed` broadcasts against the rest.
Non-finite samples are left out of each ensemble (a replication that never reached a
date, say); an ensemble with no finite sample scores NaN.

References: Gneiting and Raftery (2007), "Strictly proper scoring rules, prediction, and
estimation", JASA 102(477), sections 4.2 (CRPS) and 6.2 (interval score).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as st


def crps_sample(samples: np.ndarray, observed: np.ndarray | float) -> np.ndarray:
    """Continuous ranked probability score of an ensemble: E|X - y| - E|X - X'| / 2.

    The empirical distribution of the samples is scored exactly (the "energy form" with
    1/m^2 weights), computed from the sorted ensemble in O(m log m):
    E|X - X'| = 2/m^2 * sum_i (2i - m - 1) x_(i). Lower is better; the unit is the
    observation's.

    Args:
        samples: array (..., m), the ensemble on the last axis.
        observed: the observed value(s), broadcastable to samples.shape[:-1].

    Returns:
        Array of shape samples.shape[:-1] (a 0-d array for one ensemble).
    """
    x = np.sort(np.asarray(samples, dtype=float), axis=-1)  # NaN sort last
    y = np.asarray(observed, dtype=float)
    finite = np.isfinite(x)
    m = finite.sum(axis=-1)
    xz = np.where(finite, x, 0.0)
    abs_err = np.where(finite, np.abs(xz - y[..., None]), 0.0).sum(axis=-1)
    rank = np.arange(1, x.shape[-1] + 1, dtype=float)
    weights = np.where(finite, 2.0 * rank - m[..., None] - 1.0, 0.0)
    spread = (weights * xz).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = abs_err / m - spread / (m.astype(float) ** 2)
    return np.where((m > 0) & np.isfinite(y), score, np.nan)


def crps_normal(mean: np.ndarray | float, sd: np.ndarray | float,
                observed: np.ndarray | float) -> np.ndarray:
    """Closed-form CRPS of a normal forecast N(mean, sd^2) (Gneiting and Raftery, eq. 21)."""
    sd_ = np.asarray(sd, dtype=float)
    z = (np.asarray(observed, dtype=float) - np.asarray(mean, dtype=float)) / sd_
    return sd_ * (z * (2 * st.norm.cdf(z) - 1) + 2 * st.norm.pdf(z) - 1 / np.sqrt(np.pi))


def central_band(samples: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The central `level` band of each ensemble (quantiles (1-level)/2 and (1+level)/2).

    Non-finite samples are ignored; an ensemble with none finite gives NaN bounds.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    x = np.asarray(samples, dtype=float)
    x = np.where(np.isfinite(x), x, np.nan)
    q = [(1 - level) / 2, (1 + level) / 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN ensemble gives NaN
        lo, hi = np.nanquantile(x, q, axis=-1)
    return lo, hi


def interval_score(lower: np.ndarray | float, upper: np.ndarray | float,
                   observed: np.ndarray | float, alpha: float) -> np.ndarray:
    """Interval score of a central (1 - alpha) band: width plus 2/alpha times any miss.

    IS = (u - l) + (2/alpha)(l - y)[y < l] + (2/alpha)(y - u)[y > u]. Proper for the
    (alpha/2, 1 - alpha/2) quantiles; lower is better; the unit is the observation's.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    y = np.asarray(observed, dtype=float)
    below = np.clip(lo - y, 0.0, None)
    above = np.clip(y - hi, 0.0, None)
    return (hi - lo) + (2.0 / alpha) * (below + above)


def in_band(lower: np.ndarray | float, upper: np.ndarray | float,
            observed: np.ndarray | float) -> np.ndarray:
    """Whether each observation lies in its band [lower, upper] (bounds included)."""
    y = np.asarray(observed, dtype=float)
    return (np.asarray(lower, dtype=float) <= y) & (y <= np.asarray(upper, dtype=float))


def coverage(lower: np.ndarray | float, upper: np.ndarray | float,
             observed: np.ndarray | float) -> float:
    """Share of observations inside their bands (NaN when there are none)."""
    hits = np.atleast_1d(in_band(lower, upper, observed))
    return float(hits.mean()) if hits.size else float("nan")


def share_inside(samples: np.ndarray, low: np.ndarray | float,
                 high: np.ndarray | float) -> np.ndarray:
    """Share of each ensemble's finite samples inside an observed range [low, high]."""
    x = np.asarray(samples, dtype=float)
    finite = np.isfinite(x)
    lo = np.asarray(low, dtype=float)[..., None]
    hi = np.asarray(high, dtype=float)[..., None]
    inside = finite & (x >= lo) & (x <= hi)
    m = finite.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, inside.sum(axis=-1) / m, np.nan)
