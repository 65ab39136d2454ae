"""One replica with continuous batching: its occupancy, waits and latency tables by load.

A replica decodes up to ``max_batch`` requests together (continuous batching, as in Orca
and vLLM): a request takes a free batch place when one is free, holds it through its
prefill and its decode, and leaves when its last token is out. One decode step of ``n``
requests takes ``tpot(n) = tpot1 (h + n) / (h + 1)`` seconds (weights read once per
step, KV cache per request; ``h`` is the batch at which the step time has doubled from
the weights' part alone), so each request's output slows as the batch fills. Requests
that find every place taken wait in a FIFO queue; one that finds ``waiting_room``
requests already waiting is turned away (the room holds about ``queue_limit_s`` of work).

With Poisson arrivals and a request's place held for ``P + N_out tpot(n)`` (mean prefill
plus mean decode at the current batch), the number of requests n in the replica is a
birth-death process whose departure rate is ``n / (P + N_out tpot(n))`` below the full
batch and the full-batch rate ``mu`` above it. Its stationary law has a closed form:
below the full batch it is a negative binomial shape ``C(h' + n, n) x^n`` with
``h' = h + P (h + 1) / (N_out tpot1)`` and ``x = rho B / (h' + B)``, above it geometric
in ``rho`` (rho = arrival rate / mu, any value: the waiting room keeps it finite).
Arrivals see that law (PASTA); an arrival that waits waits for ``j + 1`` departures at
rate ``mu``, taken as continuous (a truncated exponential of rate ``mu (1 - rho)`` on the
room's length), exact for an unbounded room.

`Replica.table` gives, on a grid of loads, everything the model needs per load: the share
turned away, the chance of waiting, the distribution of time to first token (wait +
prefill) and of end-to-end latency (wait + prefill + decode) on a grid of seconds, and
the share of requests that meet a TTFT and a time-per-output-token target. It is built
once per replica and read by interpolation over hours (no per-request work); the
request-level simulator `simcore.batchsim` checks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

SECONDS = np.geomspace(1e-2, 1e4, 64)
"""The grid of seconds on which the latency distributions are tabulated."""

LOADS = np.unique(np.concatenate([np.linspace(0.0, 0.7, 8), np.linspace(0.7, 0.9, 9),
                                  np.linspace(0.9, 1.0, 11), np.linspace(1.0, 1.5, 6),
                                  np.linspace(1.5, 4.0, 3), [8.0, 20.0]]))
"""The grid of loads (arrivals / full-batch capacity) of the tables; higher loads read
the top row (an hour that overloaded turns away nearly all its requests anyway)."""

_NODES = 16
_V = (np.arange(_NODES) + 0.5) / _NODES
_U = 1.0 - (1.0 - _V) ** 3          # probability nodes dense in the upper tail
_UW = (1.0 - _V) ** 2 / ((1.0 - _V) ** 2).sum()  # their weights (sum 1)


def lognormal_cdf(x: np.ndarray, mean: np.ndarray, scv: np.ndarray) -> np.ndarray:
    """P(X <= x) for a lognormal of the given mean and squared coefficient of variation."""
    s2 = np.log1p(np.maximum(scv, 1e-12))
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(x, 0.0)) - np.log(mean) + s2 / 2) / np.sqrt(s2)
    return special.ndtr(z)


def lognormal_nodes(mean: np.ndarray, scv: np.ndarray) -> np.ndarray:
    """`_NODES` quantiles of lognormals (one row per mean), weighted by `_UW`."""
    s2 = np.log1p(np.maximum(np.asarray(scv, float), 1e-12))[..., None]
    m = np.asarray(mean, float)[..., None]
    return m * np.exp(-s2 / 2 + np.sqrt(s2) * special.ndtri(_U))


def wait_cdf(w: np.ndarray, rate: np.ndarray, room_s: np.ndarray) -> np.ndarray:
    """P(W <= w | a wait) for a truncated exponential of `rate` on [0, room_s].

    `rate` may be negative (an overloaded replica: the room is mostly full) or zero
    (uniform on the room).
    """
    w = np.clip(w, 0.0, room_s)
    a = np.abs(rate)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Written so that nothing overflows: for a negative rate the density rises towards
        # the room's end, F(w) = exp(-a (T - w)) (1 - exp(-a w)) / (1 - exp(-a T)).
        ratio = np.expm1(-a * w) / np.expm1(-a * room_s)
        out = np.where(rate >= 0, ratio, np.exp(-a * (room_s - w)) * ratio)
        small = a * room_s < 1e-8
        out = np.where(small, w / np.where(room_s > 0, room_s, 1.0), out)
    return np.where(room_s > 0, np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0), 1.0)


@dataclass(frozen=True)
class Table:
    """A replica's figures per load in `loads` (rows) and seconds in `SECONDS` (columns)."""

    loads: np.ndarray
    rejected: np.ndarray     # share of arrivals turned away
    waiting: np.ndarray      # share of admitted requests that wait for a place
    ttft_cdf: np.ndarray     # (loads, seconds): P(TTFT <= s) of admitted requests
    e2e_cdf: np.ndarray      # (loads, seconds): P(end-to-end <= s) of admitted requests
    slo: np.ndarray          # share of admitted requests meeting both targets
    tpot_mean: np.ndarray    # mean seconds per output token of admitted requests


@dataclass(frozen=True)
class Replica:
    """One replica: its batch, step-time curve, request shape and waiting room."""

    max_batch: int           # B: requests decoded together at most
    tpot1_s: float           # seconds per output token of a request decoded alone
    batch_half: float        # h: tpot(n) = tpot1 (h + n) / (h + 1)
    prefill_s: float         # mean prefill seconds of a request
    out_tokens: float        # mean output tokens of a request
    scv: float               # squared coefficient of variation of prefill and of output
    queue_limit_s: float     # seconds of work the waiting room holds

    def tpot(self, n: np.ndarray | float) -> np.ndarray:
        """Seconds per output token with n requests in the batch."""
        return self.tpot1_s * (self.batch_half + np.asarray(n, float)) / (self.batch_half + 1)

    @property
    def full_rate(self) -> float:
        """Requests/s the replica completes with every batch place taken (its capacity)."""
        return self.max_batch / (self.prefill_s + self.out_tokens * float(self.tpot(
            self.max_batch)))

    @property
    def waiting_room(self) -> int:
        """Requests that may wait for a place: about `queue_limit_s` of the full rate."""
        return max(0, int(round(self.queue_limit_s * self.full_rate)))

    @property
    def h_eff(self) -> float:
        """h': the batch-half of the whole place-holding time (prefill included)."""
        return self.batch_half + self.prefill_s * (self.batch_half + 1) / (
            self.out_tokens * self.tpot1_s)

    def occupancy(self, rho: np.ndarray) -> np.ndarray:
        """Stationary law of the requests in the replica, (loads, B + room + 1)."""
        b, room = self.max_batch, self.waiting_room
        rho = np.asarray(rho, float)[:, None]
        hp = self.h_eff
        n = np.arange(b + 1, dtype=float)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(rho * b / (hp + b))
            lr = np.log(rho)
        comb = special.gammaln(hp + n + 1) - special.gammaln(hp + 1) - special.gammaln(n + 1)
        j = np.arange(1, room + 1, dtype=float)[None, :]
        with np.errstate(invalid="ignore"):
            low = comb + np.where(n > 0, n * lx, 0.0)
            high = low[:, -1:] + j * lr
        logw = np.concatenate([low, high], axis=1)
        logw -= logw.max(axis=1, keepdims=True)
        w = np.exp(logw)
        return w / w.sum(axis=1, keepdims=True)

    def table(self, ttft_target_s: float, tpot_target_s: float,
              loads: np.ndarray = LOADS) -> Table:
        """The replica's figures on the grid of `loads` (see the module docstring)."""
        b, room = self.max_batch, self.waiting_room
        pi = self.occupancy(loads)
        rejected = pi[:, -1] if room > 0 else pi[:, b]
        adm = pi[:, :-1] if room > 0 else pi[:, :b]
        adm = adm / np.maximum(adm.sum(axis=1, keepdims=True), 1e-300)
        waiting = adm[:, b:].sum(axis=1) if room > 0 else np.zeros(len(loads))
        mu = self.full_rate
        rate = mu * (1.0 - loads)
        room_s = np.full(len(loads), room / mu)
        # Batch seen through a request's decode: the one it joins (itself included).
        seen = np.minimum(np.arange(adm.shape[1]) + 1, b)
        tpot_seen = self.tpot(seen)
        tpot_mean = adm @ tpot_seen
        decode = self.out_tokens * tpot_mean
        s_mean = self.prefill_s + decode
        s_scv = self.scv * (self.prefill_s ** 2 + decode ** 2) / s_mean ** 2
        x = SECONDS[None, :]
        p_mean = np.full(len(loads), self.prefill_s)
        p_scv = np.full(len(loads), self.scv)
        ttft = _with_wait(x, waiting, rate, room_s, p_mean, p_scv)
        e2e = _with_wait(x, waiting, rate, room_s, s_mean, s_scv)
        # SLO: TTFT within target and the batch the request decodes in fast enough.
        fast = tpot_seen <= tpot_target_s * (1 + 1e-12)
        free = adm[:, :b] @ fast[:b].astype(float)
        t = np.array([[ttft_target_s]])
        p_ok = lognormal_cdf(t, p_mean[:, None], p_scv[:, None])[:, 0]
        wait_ok = _with_wait(t, np.ones(len(loads)), rate, room_s, p_mean, p_scv)[:, 0]
        slo = free * p_ok + waiting * float(fast[-1]) * wait_ok
        return Table(np.asarray(loads, float), rejected, waiting, ttft, e2e, slo, tpot_mean)


def _with_wait(x: np.ndarray, waiting: np.ndarray, rate: np.ndarray, room_s: np.ndarray,
               mean: np.ndarray, scv: np.ndarray) -> np.ndarray:
    """P(W + X <= x), (loads, len(x)): W waits with chance `waiting`, X lognormal.

    The wait's part is the mean over quantile nodes of X of the wait's closed-form cdf.
    """
    out = lognormal_cdf(x, mean[:, None], scv[:, None])
    hot = waiting > 1e-9   # below it the wait moves no cdf value by more than that
    if hot.any():
        nodes = lognormal_nodes(mean[hot], scv[hot])             # (hot loads, nodes)
        gap = x[:, :, None] - nodes[:, None, :]                  # (hot loads, x, nodes)
        part = np.where(gap >= 0, wait_cdf(gap, rate[hot, None, None],
                                           room_s[hot, None, None]), 0.0) @ _UW
        out[hot] = (1 - waiting[hot, None]) * out[hot] + waiting[hot, None] * part
    return out


def quantile(cdf: np.ndarray, q: float, seconds: np.ndarray = SECONDS) -> np.ndarray:
    """The q-quantile of each row of a tabulated cdf, interpolated in log seconds.

    Rows whose cdf never reaches q get the grid's top (1e4 s, far above any latency the
    tables hold); NaN rows (no requests) stay NaN.
    """
    cdf = np.atleast_2d(cdf)
    ok = cdf >= q
    i = np.where(ok.any(axis=1), ok.argmax(axis=1), len(seconds) - 1)
    lo = np.maximum(i - 1, 0)
    rows = np.arange(cdf.shape[0])
    c0, c1 = cdf[rows, lo], cdf[rows, i]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(c1 > c0, (q - c0) / (c1 - c0), 1.0)
    f = np.clip(f, 0.0, 1.0)
    ls = np.log(seconds)
    out = np.exp(ls[lo] + f * (ls[i] - ls[lo]))
    out = np.where(i == 0, seconds[0], out)
    return np.where(np.isnan(cdf).any(axis=1), np.nan, out)


def tpot_of_batch(tpot1_s: float, batch_half: float, n: np.ndarray) -> np.ndarray:
    """The step-time curve alone, for comparing its shape with measured tables."""
    return tpot1_s * (batch_half + np.asarray(n, float)) / (batch_half + 1)


def fit_batch_half(batch: np.ndarray, tpot: np.ndarray) -> float:
    """Least-squares h of tpot(n) = a (h + n) (a line in n: h = intercept / slope)."""
    slope, intercept = np.polyfit(np.asarray(batch, float), np.asarray(tpot, float), 1)
    return float(intercept / slope) if slope > 0 else math.inf
