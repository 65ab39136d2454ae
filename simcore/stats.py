"""Estimates with confidence intervals, and paired (common random numbers) differences."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as st


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the finite values of `x`.

    Returns (mean, lo, hi); the interval is (nan, nan) with fewer than two values and
    has zero width when all values are equal.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan
    se = float(x.std(ddof=1)) / math.sqrt(n)
    h = float(st.t.ppf(0.5 + level / 2, n - 1)) * se
    return m, m - h, m + h


def describe(x: np.ndarray) -> dict:
    """{"mean", "ci95": [lo, hi], "p05", "p50", "p95", "n"} over the finite values of `x`.

    `n_missing` counts values that were NaN (for example a date never reached).
    """
    x = np.asarray(x, dtype=float)
    finite = x[np.isfinite(x)]
    m, lo, hi = mean_ci(finite)
    if finite.size:
        p05, p50, p95 = (float(v) for v in np.percentile(finite, [5, 50, 95]))
    else:
        p05 = p50 = p95 = math.nan
    return {"mean": m, "ci95": [lo, hi], "p05": p05, "p50": p50, "p95": p95,
            "n": int(finite.size), "n_missing": int(x.size - finite.size)}


def proportion_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """Share k/n with a Wilson score interval (sound near 0 and 1, unlike the t-interval)."""
    if n == 0:
        return math.nan, math.nan, math.nan
    z = float(st.norm.ppf(0.5 + level / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return p, lo, hi


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict:
    """B - a per replication (common random numbers): mean, CI, paired t-test p-value."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal shapes, got {a.shape} and {b.shape}")
    d = b - a
    ok = np.isfinite(d)
    d = d[ok]
    m, lo, hi = mean_ci(d, level)
    if d.size >= 2 and np.ptp(d) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(st.ttest_1samp(d, 0.0).pvalue)
    else:
        p = 1.0 if d.size and m == 0 else math.nan
    return {"diff_mean": m, "diff_ci95": [lo, hi], "p_value": p, "n": int(d.size)}


def unpaired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict:
    """B - a for independent samples: Welch interval and test."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    m = float(b.mean() - a.mean()) if a.size and b.size else math.nan
    if a.size < 2 or b.size < 2:
        return {"diff_mean": m, "diff_ci95": [math.nan, math.nan], "p_value": math.nan}
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return {"diff_mean": m, "diff_ci95": [m, m], "p_value": 1.0 if m == 0 else 0.0}
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    h = float(st.t.ppf(0.5 + level / 2, df)) * se
    with warnings.catch_warnings():  # near-identical samples: scipy warns, the p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(st.ttest_ind(b, a, equal_var=False).pvalue)
    return {"diff_mean": m, "diff_ci95": [m - h, m + h], "p_value": p}
