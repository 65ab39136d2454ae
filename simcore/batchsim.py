"""A request-level simulation of one replica with continuous batching (checks `batching`).

Requests arrive as a Poisson process; each has an input length (its prefill takes
input / prefill rate) and an output length, both lognormal with the same squared
coefficient of variation. A request takes a free batch place (of `max_batch`), holds it
through its prefill and its decode, and leaves after its last token; while n requests
hold places every decoding request gets one token each ``tpot(n)`` seconds (taken as a
fluid: the decode clock advances at ``1 / tpot(n)`` tokens a second). Requests that find
every place taken wait in FIFO order; one that finds the waiting room full is turned
away. The simulation is event by event (arrivals, ends of prefill, ends of decode) with
a heap for each kind of end, so it is exact for this replica and independent of the
closed form it checks.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class SimResult:
    """Samples of the admitted requests after the warm-up, and the share turned away."""

    ttft: np.ndarray
    e2e: np.ndarray
    tpot: np.ndarray
    rejected: float


def _lognormal(rng: np.random.Generator, mean: float, scv: float, n: int) -> np.ndarray:
    if scv <= 0:
        return np.full(n, mean)
    s2 = math.log1p(scv)
    return mean * rng.lognormal(-s2 / 2, math.sqrt(s2), n)


def simulate(replica, rate: float, requests: int, seed: int, warmup: float = 0.1
             ) -> SimResult:
    """Simulate `requests` arrivals at `rate` per second to a `batching.Replica`."""
    rng = np.random.default_rng(seed)
    arrive = np.cumsum(rng.exponential(1.0 / rate, requests))
    prefill = _lognormal(rng, replica.prefill_s, replica.scv, requests)
    out = np.maximum(_lognormal(rng, replica.out_tokens, replica.scv, requests), 1e-9)
    b, room = replica.max_batch, replica.waiting_room
    t1, h = replica.tpot1_s, replica.batch_half
    ttft = np.full(requests, np.nan)
    e2e = np.full(requests, np.nan)
    dec_start = np.zeros(requests)
    rejected = np.zeros(requests, bool)
    queue: deque[int] = deque()
    pre: list[tuple[float, int]] = []    # (real end of prefill, request)
    dec: list[tuple[float, int]] = []    # (decode clock at its last token, request)
    now, clock, n, i = 0.0, 0.0, 0, 0

    def start(k: int, t: float) -> None:
        ttft[k] = t - arrive[k] + prefill[k]
        heapq.heappush(pre, (t + prefill[k], k))

    while i < requests or pre or dec:
        step = t1 * (h + n) / (h + 1)
        t_dec = now + (dec[0][0] - clock) * step if dec else math.inf
        t_pre = pre[0][0] if pre else math.inf
        t_arr = arrive[i] if i < requests else math.inf
        t = min(t_dec, t_pre, t_arr)
        if dec:
            clock += (t - now) / step
        now = t
        if t == t_arr:
            if n < b:
                n += 1
                start(i, now)
            elif len(queue) < room:
                queue.append(i)
            else:
                rejected[i] = True
            i += 1
        elif t == t_pre:
            _, k = heapq.heappop(pre)
            dec_start[k] = now
            heapq.heappush(dec, (clock + out[k], k))
        else:
            _, k = heapq.heappop(dec)
            e2e[k] = now - arrive[k]
            if queue:
                start(queue.popleft(), now)
            else:
                n -= 1
    keep = np.arange(requests) >= int(warmup * requests)
    served = keep & ~rejected
    tpot = (arrive[served] + e2e[served] - dec_start[served]) / out[served]
    return SimResult(ttft[served], e2e[served], tpot,
                     float(rejected[keep].mean()))
