"""Ranking and selection: which of k simulated systems has the smallest mean. Domain-free.

`kn_select` is the fully sequential procedure KN of Kim and Nelson (2001, ACM TOMACS 11(3)):
after `n0` first-stage replications of every system, systems are compared in pairs on
the differences of their outputs, so common random numbers (replication r of every system
on the same seeds) shrink the variances it works with; a system leaves when its mean is
above another's by more than a triangular continuation region allows. With normal outputs
and true means at least `delta` apart (the indifference zone), the system kept is the
best with probability at least 1 - alpha. Looking only every `batch` replications is
conservative. `max_n` bounds the replications of a system; when it stops the procedure
with more than one system left, the smallest mean is chosen and the result says so.

`pcs_bonferroni` estimates the probability that the chosen system is the best from the
paired differences (a lower bound by Bonferroni's inequality, normal errors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as st

Sample = Callable[[list[int], int, int], np.ndarray]
"""sample(systems, first, count) -> (count x len(systems)) outputs of replications
first..first+count-1 of each system (the same seeds for every system)."""


@dataclass
class Selection:
    """The result of a selection procedure."""

    best: int
    survivors: list[int]
    replications: list[int]                    # per system, replications run
    eliminated_at: dict[int, int] = field(default_factory=dict)   # system -> replications
    decided: bool = True                       # False: stopped by max_n
    h2: float = 0.0
    data: np.ndarray | None = None             # (max replications x k), NaN where not run


def kn_constant(k: int, n0: int, alpha: float) -> float:
    """h^2 of KN with c = 1: (n0 - 1) [(2 alpha / (k - 1))^(-2 / (n0 - 1)) - 1]."""
    if k < 2 or n0 < 2 or not 0 < alpha < 1:
        raise ValueError("kn_constant: k >= 2, n0 >= 2, 0 < alpha < 1")
    return (n0 - 1) * ((2 * alpha / (k - 1)) ** (-2 / (n0 - 1)) - 1)


def kn_select(sample: Sample, k: int, n0: int = 10, delta: float = 1.0, alpha: float = 0.05,
              max_n: int = 1000, batch: int = 1) -> Selection:
    """KN: the system with the smallest mean, PCS >= 1 - alpha under the indifference zone."""
    if delta <= 0 or max_n < n0 or batch < 1:
        raise ValueError("kn_select: delta > 0, max_n >= n0, batch >= 1")
    h2 = kn_constant(k, n0, alpha)
    data = np.full((max_n, k), np.nan)
    data[:n0] = sample(list(range(k)), 0, n0)
    d = data[:n0]
    s2 = np.array([[np.var(d[:, i] - d[:, j], ddof=1) for j in range(k)] for i in range(k)])
    alive = list(range(k))
    n_of = [n0] * k
    eliminated: dict[int, int] = {}
    r = n0
    while len(alive) > 1:
        means = data[:r].mean(axis=0)
        out = set()
        for i in alive:
            for j in alive:
                if i == j:
                    continue
                w = max(0.0, delta / (2 * r) * (h2 * s2[i, j] / delta**2 - r))
                if means[i] > means[j] + w:
                    out.add(i)
                    break
        for i in out:
            eliminated[i] = r
        alive = [i for i in alive if i not in out]
        if len(alive) <= 1 or r >= max_n:
            break
        step = min(batch, max_n - r)
        data[r:r + step, alive] = sample(alive, r, step)
        for i in alive:
            n_of[i] = r + step
        r += step
    means = np.array([data[:n_of[i], i].mean() for i in range(k)])
    best = min(alive, key=lambda i: means[i])
    return Selection(best, alive, n_of, eliminated, len(alive) == 1, h2, data)


def paired_to_best(data: np.ndarray, best: int, level: float = 0.95) -> list[dict[str, Any]]:
    """Per system: mean of (system - best) on the replications both ran, with a t interval."""
    out = []
    for j in range(data.shape[1]):
        both = np.isfinite(data[:, j]) & np.isfinite(data[:, best])
        diff = data[both, j] - data[both, best]
        n = int(both.sum())
        m = float(diff.mean()) if n else float("nan")
        se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        t = float(st.t.ppf(0.5 + level / 2, n - 1)) if n > 1 else float("nan")
        out.append({"system": j, "n": n, "diff_mean": m, "se": se,
                    "diff_ci95": [m - t * se, m + t * se]})
    return out


def pcs_bonferroni(paired: list[dict[str, Any]], best: int) -> float:
    """Estimated P(the chosen system has the smallest mean): 1 - sum_j P(diff_j < 0).

    diff_j (system j minus the chosen) is taken as normal with its paired standard error.
    """
    p_wrong = 0.0
    for e in paired:
        if e["system"] == best:
            continue
        if not np.isfinite(e["se"]) or e["se"] == 0:
            p_wrong += 0.0 if e["diff_mean"] > 0 else 1.0
            continue
        p_wrong += float(st.norm.cdf(-e["diff_mean"] / e["se"]))
    return max(0.0, 1.0 - p_wrong)
