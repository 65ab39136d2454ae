"""Response time (queueing wait + service) of an M/G/c queue: its distribution, not a sum.

A quantile of a sum is not the sum of quantiles. Here the response time R = W + S is
built from its parts and its quantiles found numerically:

- W, the wait: an atom ``1 - C`` at zero (C is Erlang C, the chance of waiting) and, given
  a wait, an exponential with rate ``theta = c (1 - rho) / k``. With ``k = 1`` this is the
  exact M/M/c wait; for general service ``k = (1 + scv) / 2`` scales it to the
  Allen-Cunneen mean (an approximation, checked against Ciw in
  ``experiments/tools/validate_latency.py``).
- S, the service time of the same request, independent of its wait (FIFO):
  exponential, deterministic or lognormal with mean 1 and a given squared coefficient of
  variation (scv).

Then ``P(R <= x) = F_S(x) - C * H(x)`` with ``H(x) = E[exp(-theta (x - S)); S <= x]``,
closed form for exponential and deterministic service and a weighted sum over 256
points of S (dense in its upper tail) for lognormal service; a vectorized bisection finds each
quantile. Everything is in units of the mean service time, like ``simcore.queueing``.
Hours where ``C`` is too small to move a quantile by more than a part in 10^6 of
the service time skip the search (R's quantile is S's). With one server and service
that is not exponential the exponential wait is a weak approximation (up to 30-50% off
at the median and p99 against Ciw); there :func:`mg1_response_quantiles` gives the exact
M/G/1 result (Pollaczek-Khinchine, by FFT).
"""

from __future__ import annotations

import math

import numpy as np
from capsim.simcore.queueing import ServiceDistribution, erlang_c_gamma
from numpy.typing import ArrayLike
from scipy import special

_POINTS = 256


class Service:
    """A unit-mean service-time distribution: cdf, quantile and the wait-mixing term H."""

    def __init__(self, kind: ServiceDistribution, scv: float = 1.0) -> None:
        self.kind = kind
        if kind == "exponential":
            self.scv = 1.0
        elif kind == "deterministic":
            self.scv = 0.0
        elif kind == "lognormal":
            if not scv > 0:
                raise ValueError(f"scv(={scv}) must be > 0 for lognormal service")
            self.scv = float(scv)
            s2 = math.log1p(scv)
            # Lognormal with mean 1: log S ~ N(-s2 / 2, s2).
            self._mu, self._sigma = -0.5 * s2, math.sqrt(s2)
            # Probability nodes dense in the upper tail, where high quantiles are decided:
            # u = 1 - (1 - v)^3 for v on a midpoint grid, each weighted by du.
            v = (np.arange(_POINTS) + 0.5) / _POINTS
            self._pts = self._ln_ppf(1.0 - (1.0 - v) ** 3)
            self._w = 3.0 * (1.0 - v) ** 2 / _POINTS
        else:
            raise ValueError(f"unknown service distribution {kind!r}")

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(S <= x)."""
        if self.kind == "exponential":
            return -np.expm1(-np.maximum(x, 0.0))
        if self.kind == "deterministic":
            return (x >= 1.0).astype(float)
        with np.errstate(divide="ignore"):
            return special.ndtr((np.log(np.maximum(x, 0.0)) - self._mu) / self._sigma)

    def ppf(self, q: float) -> float:
        """The q-quantile of S."""
        if self.kind == "exponential":
            return -math.log1p(-q)
        if self.kind == "deterministic":
            return 1.0
        return float(self._ln_ppf(q))

    def _ln_ppf(self, q):
        """Quantiles of the lognormal service time."""
        return np.exp(self._mu + self._sigma * special.ndtri(q))

    def h(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """E[exp(-theta (x - S)); S <= x], elementwise over x and theta."""
        if self.kind == "exponential":
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                d = theta - 1.0
                near = np.abs(d) < 1e-8
                out = np.where(near, x * np.exp(-x),
                               (np.exp(-x) - np.exp(-theta * x)) / np.where(near, 1.0, d))
            return np.maximum(out, 0.0)
        if self.kind == "deterministic":
            return np.where(x >= 1.0, np.exp(-theta * (x - 1.0)), 0.0)
        gap = x[:, None] - self._pts[None, :]
        return np.where(gap >= 0, np.exp(-theta[:, None] * np.maximum(gap, 0.0)),
                        0.0) @ self._w


def response_quantiles(servers: ArrayLike, rho: ArrayLike, qs: tuple[float, ...],
                       service: Service, wait_scale: float | None = None,
                       prob: np.ndarray | None = None) -> list[np.ndarray]:
    """Quantiles of the response time W + S for arrays of server counts and utilizations.

    Args:
        servers: servers c per element (at least 1, may be non-integer).
        rho: utilization per element; ``inf`` is returned where rho >= 1.
        qs: probability levels in (0, 1).
        service: the service-time distribution (mean 1).
        wait_scale: k, the factor on the M/M/c conditional wait (default: the
            Allen-Cunneen ``(1 + scv) / 2``, which is 1 for exponential service).
        prob: Erlang C per element when already computed (`erlang_c_gamma`).

    Returns:
        One array per level, in units of the mean service time.
    """
    c = np.atleast_1d(np.asarray(servers, float))
    r = np.atleast_1d(np.asarray(rho, float))
    c, r = np.broadcast_arrays(c, r)
    shape = c.shape
    c, r = c.ravel(), r.ravel()
    k = (1.0 + service.scv) / 2.0 if wait_scale is None else float(wait_scale)
    stable = r < 1.0
    if prob is None:
        prob = erlang_c_gamma(c, np.where(stable, r, 0.0) * c)
    wait_p = np.where(stable, np.asarray(prob, float).ravel(), 1.0)
    with np.errstate(divide="ignore"):
        theta = np.where(stable, c * (1.0 - r) / max(k, 1e-12), 0.0)
    out = []
    for q in qs:
        if not 0.0 < q < 1.0:
            raise ValueError(f"q(={q}) must lie in (0, 1)")
        s_q = service.ppf(q)
        x = np.where(stable, s_q, np.inf)
        # A wait shifts the quantile by at most ln(C / (1 - q)) / theta beyond S's
        # (1 - q)/2-tail quantile; below 1e-6 mean service times it is left out.
        hot = stable & (wait_p > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            w_hi = np.log(np.maximum(wait_p, 1e-300) / ((1.0 - q) / 2.0)) / theta
        hot &= w_hi > 1e-6
        if hot.any():
            x[hot] = _solve(q, wait_p[hot], theta[hot], service, s_q,
                            service.ppf(1.0 - (1.0 - q) / 2.0) + np.maximum(w_hi[hot], 0.0))
        out.append(x)
    # One server and non-exponential service: the exponential wait is a weak
    # approximation there (README, queueing validation); use the exact M/G/1 result.
    one = stable & (c == 1.0) & (service.kind != "exponential")
    if one.any():
        values, inverse = np.unique(r[one], return_inverse=True)
        exact = np.array([mg1_response_quantiles(v, qs, service) for v in values])
        for i, x in enumerate(out):
            x[one] = exact[inverse, i]
    return [x.reshape(shape) for x in out]


def _solve(q: float, wait_p: np.ndarray, theta: np.ndarray, service: Service, lo: float,
           hi: np.ndarray) -> np.ndarray:
    """Root of F_R(x) = q between lo (S's quantile) and hi (an upper bound).

    The Illinois variant of regula falsi, vectorized: it keeps the root bracketed like
    bisection and converges superlinearly; stops at a part in 10^6 of the quantile (or of
    the mean service time when the quantile is below it).
    """
    a = np.full(wait_p.shape, lo)
    b = np.maximum(hi, lo)
    ga, gb = _g(service, a, wait_p, theta, q), _g(service, b, wait_p, theta, q)
    done = (ga >= 0) | (gb <= 0)  # a root at an end (or a degenerate bracket)
    x = np.where(ga >= 0, a, b)
    side = np.zeros(a.shape, np.int8)
    for _ in range(100):
        live = ~done
        if not live.any():
            break
        al, bl, gal, gbl = a[live], b[live], ga[live], gb[live]
        with np.errstate(divide="ignore", invalid="ignore"):
            xl = bl - gbl * (bl - al) / (gbl - gal)
        xl = np.where(np.isfinite(xl) & (xl > al) & (xl < bl), xl, 0.5 * (al + bl))
        gx = _g(service, xl, wait_p[live], theta[live], q)
        left = gx < 0
        sd = side[live]
        # Replace the end with the same sign; halve the other end's value when the same
        # end moved twice in a row (Illinois), so both ends converge.
        na, nga = np.where(left, xl, al), np.where(left, gx, gal)
        nb, ngb = np.where(left, bl, xl), np.where(left, gbl, gx)
        ngb = np.where(left & (sd == -1), ngb / 2, ngb)
        nga = np.where(~left & (sd == 1), nga / 2, nga)
        side[live] = np.where(left, -1, 1)
        a[live], b[live], ga[live], gb[live] = na, nb, nga, ngb
        x[live] = xl
        conv = (nb - na <= 1e-6 * np.maximum(nb, 1.0)) | (gx == 0)
        idx = np.flatnonzero(live)
        done[idx[conv]] = True
    return x


def _g(service: Service, x: np.ndarray, wait_p: np.ndarray, theta: np.ndarray,
          q: float) -> np.ndarray:
    """F_R(x) - q, elementwise."""
    return service.cdf(x) - wait_p * service.h(x, theta) - q


def mg1_response_quantiles(rho: float, qs: tuple[float, ...], service: Service,
                           points: int = 1 << 16) -> np.ndarray:
    """Exact quantiles of the M/G/1 FIFO response time (Pollaczek-Khinchine).

    The wait is a geometric sum of residual service times (P(N = n) = (1 - rho) rho^n,
    each with density (1 - F_S(x)) / E[S]); the response adds an independent service
    time. Both are discretized on one grid and composed by FFT (the generating function
    (1 - rho) / (1 - rho * residual) times the service's), so the only errors are the
    grid step and the mass beyond the grid, both kept below about 1e-6. In units of the
    mean service time; inf when rho >= 1. Used where the exponential-wait
    approximation of :func:`response_quantiles` is weak: one server and service that is
    not exponential.
    """
    if rho >= 1:
        return np.full(len(qs), np.inf)
    mean_w = rho * (1 + service.scv) / (2 * (1 - rho))
    s_hi = service.ppf(1 - 1e-7) if service.kind != "deterministic" else 1.0
    span = 2 * (s_hi + 40 * (mean_w + 1))
    h = span / points
    # Cell i stands for the value i h and holds the mass of [(i - 1/2) h, (i + 1/2) h),
    # so that sums of cell indices are sums of values without a drift of h/2 per term.
    upper = (np.arange(points) + 0.5) * h
    p_s = np.diff(service.cdf(upper), prepend=0.0)
    if service.kind == "deterministic":
        p_s = np.zeros(points)
        p_s[int(round(1.0 / h))] = 1.0
    # Residual (equilibrium) service: density 1 - F_S (mean service 1).
    p_e = (1 - service.cdf(np.arange(points) * h)) * h
    p_e[0] /= 2
    p_e /= p_e.sum()
    f_e, f_s = np.fft.rfft(p_e), np.fft.rfft(p_s)
    p_r = np.fft.irfft((1 - rho) / (1 - rho * f_e) * f_s, points)
    cum = np.cumsum(np.maximum(p_r, 0.0))
    cum /= cum[-1]
    return np.interp(np.asarray(qs, float), cum, upper)
