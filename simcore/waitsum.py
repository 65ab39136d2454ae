"""Quantiles of a queueing wait plus an independent lognormal time, per element.

R = W + X, where W is a queueing wait and X an independent time (a service, or part of
one), both in the same unit:

- W: an atom ``1 - p`` at zero and, with probability ``p`` (Erlang C), an exponential with
  rate ``theta`` (the M/M/c wait, or its Allen-Cunneen scaling; see ``simcore.latency``);
- X: lognormal with mean ``m`` and squared coefficient of variation ``s`` (deterministic
  when ``s = 0``).

Every element has its own ``p``, ``theta``, ``m`` and ``s`` (``simcore.latency`` fixes the
service shape for a whole array; here it varies, e.g. from day to day). The distribution
of the sum is composed numerically, never by adding quantiles:
``P(R <= x) = F_X(x) - p * H(x)`` with ``H(x) = E[exp(-theta (x - X)); X <= x]``, a
quadrature over 256 probability nodes of X (dense in its upper tail, where high quantiles
are decided; a forward recurrence over the nodes, computed once per element, makes each
evaluation O(1) and never overflows), and each quantile is found by vectorized bisection
between X's own quantile (W >= 0) and an upper bound, to a part in 10^5. Elements whose
wait cannot move the quantile by a part in 10^6 of the mean skip the search; elements with
``p`` or ``theta`` not finite (an overloaded queue) get ``inf``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

_POINTS = 256
_V = (np.arange(_POINTS) + 0.5) / _POINTS
_U = 1.0 - (1.0 - _V) ** 3            # probability nodes, dense in the upper tail
_Z = special.ndtri(_U)               # their standard-normal scores
_W = 3.0 * (1.0 - _V) ** 2 / _POINTS  # weights du
_CHUNK = 1024                        # elements per block of the (elements, nodes) arrays (2 MB)


def lognormal_sigma(scv: ArrayLike) -> np.ndarray:
    """Sigma of the lognormal with the given squared coefficient of variation."""
    return np.sqrt(np.log1p(np.asarray(scv, float)))


def lognormal_ppf(q: float, mean: ArrayLike, scv: ArrayLike) -> np.ndarray:
    """The q-quantile of a lognormal with `mean` and `scv` (the mean itself when scv = 0)."""
    s = lognormal_sigma(scv)
    return np.asarray(mean, float) * np.exp(-0.5 * s * s + s * float(special.ndtri(q)))


def lognormal_cdf(x: np.ndarray, mean: np.ndarray, scv: np.ndarray) -> np.ndarray:
    """P(X <= x) for a lognormal with `mean` and `scv` (a step at the mean when scv = 0)."""
    s = lognormal_sigma(scv)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.maximum(x, 1e-300) / mean) + 0.5 * s * s) / np.where(s > 0, s, 1.0)
    return np.where(s > 0, special.ndtr(z), (x >= mean).astype(float))


def quantiles(wait_p: ArrayLike, theta: ArrayLike, mean: ArrayLike, scv: ArrayLike,
              qs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles of W + X per element (see the module docstring), one array per level.

    Args:
        wait_p: chance of waiting p (Erlang C); inf or nan marks an overloaded element.
        theta: rate of the conditional wait (per unit of time), > 0 where stable.
        mean: mean of X (> 0).
        scv: squared coefficient of variation of X (>= 0).
        qs: probability levels in (0, 1).
    """
    mean0, scv0 = np.asarray(mean, float), np.asarray(scv, float)
    for q in qs:
        if not 0.0 < q < 1.0:
            raise ValueError(f"q(={q}) must lie in (0, 1)")
    p, th, m, s = np.broadcast_arrays(*(np.asarray(a, float) for a in (wait_p, theta, mean0,
                                                                       scv0)))
    shape = p.shape
    p, th, m, s = p.ravel(), th.ravel(), m.ravel(), s.ravel()
    stable = np.isfinite(p) & np.isfinite(th) & (th > 0)
    # Only elements that may wait can need a search (most hours have p = 0).
    may_wait = np.flatnonzero(stable & (p > 0))
    # The wait shifts the q-quantile by at most ln(p / ((1 - q)/2)) / theta beyond X's
    # (1 - q)/2-tail quantile; where that is below 1e-6 of the mean it is left out.
    p_w, th_w = np.maximum(p[may_wait], 1e-300), th[may_wait]
    with np.errstate(divide="ignore", invalid="ignore"):
        w_hi = [np.log(p_w / ((1.0 - q) / 2.0)) / th_w for q in qs]
    keep = [w > 1e-6 * m[may_wait] for w in w_hi]
    # X's quantile, computed on the inputs before broadcasting (e.g. once a day when mean
    # and scv are daily), then spread to every element; infinite where overloaded.
    out = [np.where(stable.reshape(shape), lognormal_ppf(q, mean0, scv0), np.inf).ravel()
           for q in qs]
    # The searches, a block of elements at a time: the quadrature's cumulants of an element
    # are computed once for every level that needs them.
    hot = may_wait[np.logical_or.reduce(keep)] if keep else may_wait[:0]
    for lo in range(0, hot.size, _CHUNK):
        block = hot[lo:lo + _CHUNK]
        cum = _cumulants(th[block], m[block], lognormal_sigma(s[block]))
        at = np.searchsorted(may_wait, block)  # each element's place among may_wait
        for q, x, w, k in zip(qs, out, w_hi, keep, strict=True):
            j = np.flatnonzero(k[at])           # the block's elements this level searches
            if not j.size:
                continue
            i = block[j]
            top = lognormal_ppf(1.0 - (1.0 - q) / 2.0, m[i], s[i]) + np.maximum(w[at[j]], 0.0)
            x[i] = _bisect(q, p[i], th[i], m[i], s[i], x[i], np.maximum(top, x[i]), cum[:, j])
    return [x.reshape(shape) for x in out]


def cdf(x: ArrayLike, wait_p: ArrayLike, theta: ArrayLike, mean: ArrayLike,
        scv: ArrayLike) -> np.ndarray:
    """P(W + X <= x) per element (the function whose roots `quantiles` finds)."""
    x, p, th, m, s = np.broadcast_arrays(*(np.asarray(a, float) for a in (x, wait_p, theta,
                                                                          mean, scv)))
    return _cdf(x.ravel(), p.ravel(), th.ravel(), m.ravel(), s.ravel()).reshape(x.shape)


def _cdf(x: np.ndarray, p: np.ndarray, th: np.ndarray, m: np.ndarray,
         s: np.ndarray, cum: np.ndarray | None = None, cols: np.ndarray | None = None
         ) -> np.ndarray:
    """P(W + X <= x) per element.

    `cum` ((nodes, elements), see `_cumulants`), if given, holds the elements' cumulants
    in its columns `cols` (default: all, in order).
    """
    sig = lognormal_sigma(s)
    if cum is None:
        cum = _cumulants(th, m, sig)
    if cols is None:
        cols = np.arange(x.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _cdf_at(x, p, th, m, s, sig, 0.5 * sig * sig, cum, cols, True)


def _cdf_at(x: np.ndarray, p: np.ndarray, th: np.ndarray, m: np.ndarray, s: np.ndarray,
            sig: np.ndarray, half_var: np.ndarray, cum: np.ndarray, cols: np.ndarray,
            any_det: bool) -> np.ndarray:
    """`_cdf` given X's sigma and 0.5 sigma^2 (under the caller's errstate).

    `any_det`: whether some element may have s <= 0 (a deterministic X).
    """
    # X's own cdf at x and H(x) = exp(-theta (x - X_k)) * cum_k with k the last node at
    # or below x, both from x's standard score.
    zx = (np.log(np.maximum(x, 1e-300) / m) + half_var) / np.where(sig > 0, sig, 1.0)
    k = np.searchsorted(_Z, zx, side="right") - 1
    kk = np.maximum(k, 0)
    node = m * np.exp(-half_var + sig * _Z[kk])
    h = np.where(k >= 0, np.exp(-th * np.maximum(x - node, 0.0)) * cum[kk, cols], 0.0)
    if any_det:
        det = s <= 0
        if det.any():
            g = x[det] - m[det]
            h[det] = np.where(g >= 0, np.exp(-th[det] * np.maximum(g, 0.0)), 0.0)
    f_x = np.where(sig > 0, special.ndtr(zx), (x >= m).astype(float))
    return f_x - p * h


def _cumulants(th: np.ndarray, m: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """cum_k = sum over nodes j <= k of w_j exp(-theta (X_k - X_j)): (nodes, elements).

    A forward recurrence over the sorted nodes, so that every exponent is <= 0 (no
    overflow however large theta * X); H then costs O(1) per evaluation. Nodes by row:
    each step of the recurrence is one contiguous row.
    """
    nodes = m[None, :] * np.exp(-0.5 * sig[None, :] ** 2 + sig[None, :] * _Z[:, None])
    decay = np.exp(-th[None, :] * np.diff(nodes, axis=0))
    cum = np.empty_like(nodes)
    cum[0] = _W[0]
    for j in range(1, _POINTS):
        cum[j] = _W[j] + cum[j - 1] * decay[j - 1]
    return cum


def _bisect(q: float, p: np.ndarray, th: np.ndarray, m: np.ndarray, s: np.ndarray,
            a: np.ndarray, b: np.ndarray, cum: np.ndarray | None = None) -> np.ndarray:
    """Smallest x in [a, b] with P(W + X <= x) >= q, to a part in 10^5 (vectorized).

    `cum`: the elements' cumulants (`_cumulants`), computed here when not given.
    """
    a, b = a.copy(), b.copy()
    sig = lognormal_sigma(s)
    half_var = 0.5 * sig * sig
    any_det = bool((s <= 0).any())
    if cum is None:
        cum = _cumulants(th, m, sig)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(60):
            live = b - a > 1e-5 * np.maximum(b, 1e-12 * m)
            if not live.any():
                break
            i = np.flatnonzero(live)
            mid = 0.5 * (a[i] + b[i])
            above = _cdf_at(mid, p[i], th[i], m[i], s[i], sig[i], half_var[i], cum, i,
                            any_det) >= q
            b[i] = np.where(above, mid, b[i])
            a[i] = np.where(above, a[i], mid)
    return b
