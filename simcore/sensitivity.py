"""Global sensitivity and scenario discovery. Domain-free.

- PRCC with bootstrap intervals, from any sampled design.
- Variance-based (Sobol') first and total order indices with bootstrap intervals, and
  Morris elementary effects for screening, through SALib: designs on the unit hypercube
  (a model maps each coordinate to its input, e.g. through a quantile function).
- Scenario discovery: a one-input threshold box (`best_box`) and PRIM (`prim`), the
  patient rule induction method of Friedman and Fisher (1999): peel the box that holds
  the points of interest, one small slice of one input at a time.
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


# ---------------------------------------------------------------------------
# Sobol' and Morris (SALib), on the unit hypercube
# ---------------------------------------------------------------------------

def _problem(names: list[str]) -> dict:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def sobol_design(names: list[str], n: int, seed: int) -> np.ndarray:
    """Saltelli's scheme: n x (d + 2) points of [0, 1]^d (first and total order only).

    `n` should be a power of two (Sobol' sequence balance); the sequence is scrambled
    with `seed`.
    """
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(_problem(names), n, calc_second_order=False, scramble=True,
                               seed=seed)


def sobol_indices(names: list[str], y: np.ndarray, seed: int, resamples: int = 200,
                  level: float = 0.95) -> dict[str, np.ndarray]:
    """First (S1) and total (ST) order indices with bootstrap half-widths (S1_conf, ST_conf).

    `y` holds the model's output at the points of `sobol_design`, in order.
    """
    from SALib.analyze import sobol as sobol_analyze

    y = np.asarray(y, float)
    if not np.isfinite(y).all():
        raise ValueError("sobol_indices: every output must be finite")
    if np.ptp(y) == 0:
        z = np.zeros(len(names))
        return {"S1": z, "S1_conf": z, "ST": z, "ST_conf": z}
    r = sobol_analyze.analyze(_problem(names), y, calc_second_order=False,
                              num_resamples=resamples, conf_level=level, seed=seed)
    return {k: np.asarray(r[k], float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def sum_first_order(res: dict[str, np.ndarray], seed: int = 0, draws: int = 2000
                    ) -> tuple[float, float, float]:
    """(sum of S1, lower, upper): a 95% interval treating the indices' errors as independent.

    Each S1_conf is a 95% half-width (1.96 standard errors); the sum's standard error is
    the root of the summed variances.
    """
    s = float(np.sum(res["S1"]))
    se = float(np.sqrt(np.sum((np.asarray(res["S1_conf"]) / 1.959964) ** 2)))
    return s, s - 1.959964 * se, s + 1.959964 * se


def morris_design(names: list[str], trajectories: int, seed: int, levels: int = 4) -> np.ndarray:
    """Morris trajectories: trajectories x (d + 1) points of [0, 1]^d."""
    from SALib.sample import morris as morris_sample

    return morris_sample.sample(_problem(names), trajectories, num_levels=levels, seed=seed)


def morris_effects(names: list[str], x: np.ndarray, y: np.ndarray, seed: int,
                   levels: int = 4, resamples: int = 200) -> dict[str, np.ndarray]:
    """mu_star (mean absolute elementary effect, with its 95% half-width mu_star_conf) and sigma.

    Effects are per unit of the hypercube coordinate (the input's quantile), so inputs
    with different units compare.
    """
    from SALib.analyze import morris as morris_analyze

    r = morris_analyze.analyze(_problem(names), np.asarray(x, float), np.asarray(y, float),
                               num_resamples=resamples, num_levels=levels, seed=seed)
    return {k: np.asarray(r[k], float) for k in ("mu", "mu_star", "mu_star_conf", "sigma")}


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """The Ishigami function on [0, 1]^3 (mapped to [-pi, pi]^3): known Sobol' indices."""
    z = -np.pi + 2 * np.pi * np.asarray(x, float)
    return np.sin(z[:, 0]) + a * np.sin(z[:, 1]) ** 2 + b * z[:, 2] ** 4 * np.sin(z[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Analytical (first order, total order) indices of `ishigami`."""
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


# ---------------------------------------------------------------------------
# PRIM
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PrimBox:
    """A box of inputs: per restricted input (column), its [low, high]."""

    limits: dict[int, tuple[float, float]]
    density: float     # share of points in the box with the outcome
    coverage: float    # share of all outcome points that fall in the box
    mass: float        # share of all points in the box
    base_rate: float   # share of all points with the outcome

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Which rows of `x` lie in the box."""
        inside = np.ones(len(x), bool)
        for j, (lo, hi) in self.limits.items():
            inside &= (x[:, j] >= lo) & (x[:, j] <= hi)
        return inside


def prim(x: np.ndarray, outcome: np.ndarray, alpha: float = 0.05, min_mass: float = 0.05,
         min_coverage: float = 0.5, max_dims: int | None = None
         ) -> tuple[PrimBox | None, list[PrimBox]]:
    """PRIM peeling: (the chosen box, the peeling trajectory).

    Starting from the box around all points, each step removes the slice (the `alpha`
    share of the points still inside, from the low or high end of one input) whose
    removal leaves the highest share of outcome points, until the box holds less than
    `min_mass` of the points. The chosen box is the densest on the trajectory that still
    holds `min_coverage` of the outcome points (None when no point or every point has
    the outcome) and restricts at most `max_dims` inputs (few points in many dimensions
    otherwise buy density with chance restrictions). Inputs whose limits never moved are
    not in `limits`.
    """
    x = np.asarray(x, float)
    outcome = np.asarray(outcome, bool)
    n, k = x.shape
    total = int(outcome.sum())
    if total == 0 or total == n:
        return None, []
    base = total / n
    lo = x.min(axis=0).astype(float)
    hi = x.max(axis=0).astype(float)
    inside = np.ones(n, bool)
    restricted: set[int] = set()

    def box() -> PrimBox:
        dens = float(outcome[inside].mean())
        return PrimBox({j: (float(lo[j]), float(hi[j])) for j in sorted(restricted)}, dens,
                       float(outcome[inside].sum() / total), float(inside.mean()), base)

    path = [box()]
    while inside.mean() > min_mass:
        best: tuple[float, int, str, float] | None = None
        xi = x[inside]
        for j in range(k):
            for side in ("low", "high"):
                q = np.quantile(xi[:, j], alpha if side == "low" else 1 - alpha)
                keep = xi[:, j] > q if side == "low" else xi[:, j] < q
                if keep.all() or not keep.any() or keep.mean() * inside.mean() < min_mass:
                    continue
                dens = outcome[inside][keep].mean()
                if best is None or dens > best[0] + 1e-12:
                    best = (float(dens), j, side, float(q))
        if best is None:
            break
        _, j, side, q = best
        if side == "low":
            lo[j] = q
            inside &= x[:, j] > q
        else:
            hi[j] = q
            inside &= x[:, j] < q
        restricted.add(j)
        path.append(box())
    ok = [b for b in path if b.coverage >= min_coverage
          and (max_dims is None or len(b.limits) <= max_dims)]
    chosen = max(ok, key=lambda b: (b.density, b.coverage)) if ok else None
    return chosen, path
