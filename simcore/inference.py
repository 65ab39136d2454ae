"""Likelihood-free calibration by history matching on a space-filling design (no domain).

History matching (Craig et al. 1997; Vernon, Goldstein and Bower 2010; Andrianakis et al.
2015) rules out the input values whose simulated outputs are implausibly far from the
observations. For design point j and observation k the implausibility is

    I_jk = |z_k - y_jk| / sqrt(sd_obs_k^2 + sd_disc_k^2)

on a chosen scale (log for positive quantities), with sd_obs from the observation's 90%
range and a model-discrepancy sd; a point is *not implausible* when max_k I_jk <= cutoff
(3, Pukelsheim's three-sigma rule). The design is a Latin hypercube from
`scipy.stats.qmc` in the unit cube, mapped through each input's prior quantile function,
so the design points are prior draws and the retained ones approximate the posterior
under a uniform ABC kernel (equal weights). Each point is simulated once with its own
seed (one replication), so the retained points' outputs are posterior-predictive draws.

The caller supplies a top-level `simulate(u_row, index)` function returning the outputs;
this module maps it over an executor, shows progress, and can be interrupted (the points
finished so far are returned).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from capsim.simcore.executors import Executor, SerialExecutor
from scipy.stats import qmc

Z90 = 1.6448536269514722


@dataclass
class Targets:
    """Observations: values, 90% ranges, whether each is compared on the log scale, fitted."""

    observed: np.ndarray
    low: np.ndarray
    high: np.ndarray
    log: np.ndarray
    fitted: np.ndarray
    discrepancy: float = 0.1
    """Model-discrepancy sd as a share of the observation's scale (log: ~10%)."""

    def scale(self, x: np.ndarray) -> np.ndarray:
        """Values on each observation's comparison scale (columns are observations)."""
        x = np.asarray(x, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.log, np.log(np.where(x > 0, x, np.nan)), x)

    def sd(self) -> np.ndarray:
        """Observation sd plus discrepancy sd, per observation, on its scale."""
        lo, hi, z = self.scale(self.low), self.scale(self.high), self.scale(self.observed)
        sd_obs = (hi - lo) / (2 * Z90)
        disc = np.where(self.log, self.discrepancy, self.discrepancy * np.abs(z))
        return np.sqrt(sd_obs ** 2 + disc ** 2)

    def implausibility(self, outputs: np.ndarray) -> np.ndarray:
        """(points x observations) implausibility; a missing output is implausible."""
        z = self.scale(self.observed)
        y = self.scale(outputs)
        out = np.abs(y - z) / self.sd()
        return np.where(np.isfinite(out), out, np.inf)


@dataclass
class Result:
    """The design, its outputs, and which points are not implausible."""

    unit: np.ndarray          # (points x inputs) design in [0, 1)
    outputs: np.ndarray       # (points x observations)
    implausibility: np.ndarray  # (points x observations)
    max_fitted: np.ndarray    # (points,) largest implausibility over the fitted observations
    accepted: np.ndarray      # (points,) bool
    cutoff: float
    cutoff_used: float
    done: np.ndarray          # (points,) bool: simulated (False if interrupted first)
    extra: list = field(default_factory=list)  # per point, what simulate returned besides

    @property
    def acceptance(self) -> float:
        """Share of the simulated points retained."""
        n = int(self.done.sum())
        return float(self.accepted.sum() / n) if n else 0.0


def design(n_points: int, n_inputs: int, seed: int) -> np.ndarray:
    """A Latin hypercube of n_points in [0, 1)^n_inputs (reproducible by seed)."""
    return qmc.LatinHypercube(d=n_inputs, seed=np.random.default_rng(seed)).random(n_points)


def history_match(simulate: Callable[..., tuple[np.ndarray, object]], unit: np.ndarray,
                  targets: Targets, *, cutoff: float = 3.0, min_accepted: int = 20,
                  executor: Executor | None = None, progress: bool | None = None,
                  args: Sequence = ()) -> Result:
    """Simulate every design point and keep the ones that are not implausible.

    Args:
        simulate: top-level function simulate(u_row, index, *args) -> (outputs, extra),
            outputs one value per observation (NaN when it cannot be computed).
        unit: the design in the unit cube (points x inputs).
        targets: the observations.
        cutoff: implausibility cut-off over the fitted observations.
        min_accepted: if fewer points pass the cut-off, the cut-off is raised to keep
            this many (the best ones), and `cutoff_used` says so.
        executor: where points run (default serial).
        progress: progress bar (None: when stderr is a terminal).
        args: extra arguments passed to simulate.

    A KeyboardInterrupt stops the simulation; the points finished so far are matched.
    """
    n, k = unit.shape[0], targets.observed.size
    outputs = np.full((n, k), np.nan)
    done = np.zeros(n, bool)
    extra: list = [None] * n
    executor = executor or SerialExecutor()
    bar = _progress(n, progress)
    try:
        for i, (out, ext) in executor.imap_unordered(
                _indexed, [(simulate, unit[i], i, tuple(args)) for i in range(n)]):
            outputs[i] = out
            extra[i] = ext
            done[i] = True
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        pass
    finally:
        if bar is not None:
            bar.close()
    return match(unit, outputs, done, targets, cutoff=cutoff, min_accepted=min_accepted,
                 extra=extra)


def match(unit: np.ndarray, outputs: np.ndarray, done: np.ndarray, targets: Targets, *,
          cutoff: float = 3.0, min_accepted: int = 20, extra: list | None = None) -> Result:
    """Keep the simulated design points that are not implausible (see `history_match`).

    Separate from the simulation so that one simulated design can be matched against
    different subsets of the observations (e.g. with a holdout).
    """
    n = unit.shape[0]
    imp = targets.implausibility(outputs)
    fitted = imp[:, targets.fitted] if targets.fitted.any() else np.zeros((n, 1))
    max_fit = np.where(done, fitted.max(axis=1), np.inf)
    used = cutoff
    accepted = done & (max_fit <= cutoff)
    if accepted.sum() < min(min_accepted, int(done.sum())):
        m = min(min_accepted, int(done.sum()))
        used = float(np.sort(max_fit)[m - 1]) if m else math.inf
        accepted = done & (max_fit <= used)
    return Result(unit, outputs, imp, max_fit, accepted, cutoff, used, done,
                  extra if extra is not None else [None] * n)


def _progress(total: int, enabled: bool | None):
    from capsim.simcore.progress import bar

    return bar(total, "design points", unit="pt", enabled=enabled)


def _indexed(simulate: Callable, u: np.ndarray, i: int, args: tuple) -> tuple[int, tuple]:
    return i, simulate(u, i, *args)


def weighted_quantiles(x: np.ndarray, q: Sequence[float], weights: np.ndarray | None = None
                       ) -> np.ndarray:
    """Quantiles of x (NaN dropped), weighted if weights are given."""
    x = np.asarray(x, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if x.size == 0:
        return np.full(len(q), np.nan)
    order = np.argsort(x)
    x, w = x[order], w[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cum, x)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of a set of weights."""
    w = np.asarray(weights, float)
    return float(w.sum() ** 2 / (w ** 2).sum()) if w.sum() > 0 else 0.0
