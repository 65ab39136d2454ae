"""LLM serving latency: replicas with a batch curve, time to first token, end-to-end latency.

A pool's servers are model replicas. Each decodes a batch of requests together with
continuous batching (Orca, vLLM): a request takes a free place in a running batch and
leaves it when done, so a pool is an M/G/c queue whose c servers are replicas x batch
places. One decode step of a batch of b requests takes t0 + t1 b (weights read once per
step, KV cache per request), so

    per-request decode speed  v(b) = v1 (b_half + 1) / (b_half + b)   (v1: batch 1)
    replica throughput        T(b) = b v(b), rising to a ceiling, half of it at b_half

per chip generation (`[supply.generations.<name>.batching]`): a larger batch gives more
throughput and slower tokens per request. A generation's `tokens_per_s` is its throughput
at `rated_batch`; another `batch` scales it by T(batch) / T(rated_batch).

A request has `tokens_per_request` tokens, `output_share` of them decoded, the rest
prefilled; input and output counts each have squared coefficient of variation
`service_scv`. Its prefill takes P = input / prefill_tokens_per_s, its decode
D = output / v(batch); a place is held for S = P + D. Requests go to generations in
proportion to their serving capacity, so the day's P and S are mixtures over generations;
each is taken as lognormal with the mixture's exact mean and variance.

The wait W is the M/G/c one of `simcore.latency` (Erlang C chance of waiting, exponential
given a wait, Allen-Cunneen scaled by the scv of S). Time to first token is W + P and
end-to-end latency W + S; their quantiles come from the distribution of the sum
(`simcore.waitsum`, a quadrature and a root search), not from adding quantiles. An
overloaded hour (utilization >= 1) and any quantile beyond `latency_cap_s` count at the
cap (clients give up), so more congestion never lowers a latency figure; the hour misses
the SLO (p99 wait within `slo_p99_wait_s`, as in `models.service`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models.scenario import Generation
from capsim.simcore import queueing, waitsum
from capsim.simcore.streams import Streams


@dataclass(frozen=True)
class BatchCurve:
    """Throughput-latency curve of one replica of a chip generation."""

    batch: float             # requests decoded together (the operating point)
    rated_batch: float       # the batch at which the generation's tokens_per_s is stated
    stream_tps: float        # output tokens/s of one request decoded alone
    batch_half: float        # batch at half the throughput ceiling
    prefill_tps: float       # input tokens/s of one request's prefill

    def decode_speed(self, b: float | np.ndarray) -> float | np.ndarray:
        """Output tokens/s of each request in a batch of b."""
        return self.stream_tps * (self.batch_half + 1.0) / (self.batch_half + b)

    def throughput(self, b: float | np.ndarray) -> float | np.ndarray:
        """Output tokens/s of a replica decoding b requests."""
        return b * self.decode_speed(b)

    @property
    def throughput_factor(self) -> float:
        """T(batch) / T(rated_batch): what the operating batch does to tokens_per_s."""
        return float(self.throughput(self.batch) / self.throughput(self.rated_batch))


@dataclass(frozen=True)
class ReplicaSpec:
    """One replication's serving picture: curves per generation and the request shape."""

    curves: tuple[BatchCurve, ...]   # in the model's generation order
    pools: float
    tokens_per_request: float
    output_share: float
    scv: float                       # of input and of output token counts, each
    slo_p99_wait_s: float

    def request_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean prefill and decode seconds of a request, per generation."""
        n_in = self.tokens_per_request * (1.0 - self.output_share)
        n_out = self.tokens_per_request * self.output_share
        prefill = np.array([n_in / c.prefill_tps for c in self.curves])
        decode = np.array([n_out / c.decode_speed(c.batch) for c in self.curves])
        return prefill, decode


def draw_curves(generations: dict[str, Generation], streams: Streams
                ) -> tuple[BatchCurve, ...]:
    """Each generation's curve, drawn from its own stream `chips.<generation>.batching`."""
    curves = []
    for name, g in generations.items():
        b = g.batching
        if b is None:
            raise ValueError(f"supply.generations.{name}.batching: missing")
        rng = streams.rng(f"chips.{name}.batching")
        curves.append(BatchCurve(*(float(getattr(b, k).sample(rng)) for k in (
            "batch", "rated_batch", "stream_tokens_per_s", "batch_half",
            "prefill_tokens_per_s"))))
    return tuple(curves)


@dataclass
class Latencies:
    """Per hour (days, 24), seconds; quantiles capped at the scenario's latency cap."""

    wait_p99: np.ndarray     # uncapped (inf when overloaded), for the SLO test
    ttft_p50: np.ndarray
    ttft_p99: np.ndarray
    e2e_p50: np.ndarray
    e2e_p99: np.ndarray
    slo_ok: np.ndarray       # bool: not overloaded and the p99 wait within target


def mixture(weights: np.ndarray, prefill: np.ndarray, decode: np.ndarray, scv: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and scv of P and of S = P + D per row of `weights` (rows: days; columns: gens).

    Within a generation P and D are independent with scv `scv` each; across generations
    the mixture's second moment adds the spread of the generations' means. Rows without
    weight use equal weights.
    """
    w = np.asarray(weights, float)
    tot = w.sum(axis=1, keepdims=True)
    w = np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / w.shape[1])
    s = prefill + decode
    mean_p, mean_s = w @ prefill, w @ s
    m2_p = w @ (prefill ** 2 * (1.0 + scv))
    m2_s = w @ (s ** 2 + scv * (prefill ** 2 + decode ** 2))
    scv_p = np.maximum(m2_p / mean_p ** 2 - 1.0, 0.0)
    scv_s = np.maximum(m2_s / mean_s ** 2 - 1.0, 0.0)
    return mean_p, scv_p, mean_s, scv_s


def latencies(capacity: np.ndarray, utilization: np.ndarray, gen_capacity: np.ndarray,
              spec: ReplicaSpec, cap_s: float) -> Latencies:
    """TTFT and end-to-end quantiles for every hour at once.

    Args:
        capacity: (days, 24) serving capacity, tokens/s.
        utilization: (days, 24) demand / serving capacity (inf: demand, no capacity).
        gen_capacity: (days, generations) capacity of each generation (any scale): the
            share of requests each serves that day.
        spec: the replication's curves and request shape.
        cap_s: seconds at which a request gives up.
    """
    prefill, decode = spec.request_times()
    mean_p, scv_p, mean_s, scv_s = mixture(gen_capacity, prefill, decode, spec.scv)
    cap = np.asarray(capacity, float)
    rho = np.asarray(utilization, float)
    # Places per pool: capacity over what one place serves (a request every mean S).
    place_tps = spec.tokens_per_request / mean_s[:, None]
    c = np.maximum(cap / place_tps / spec.pools, 1.0)
    stable = rho < 1.0
    # An hour whose chance of waiting is below every tail used here ((1 - q)/2 of each
    # quantile level, which waitsum.quantiles then leaves the wait out of, and 0.01 for the
    # p99 wait) gets the same latencies whatever that chance: it need not be exact.
    levels = (0.5, 0.99)
    negligible = min(0.01, *((1.0 - q) / 2.0 for q in levels))
    chance = np.where(stable, queueing.erlang_c_gamma(c, np.where(stable, rho, 0.0) * c,
                                                      negligible), np.inf)
    k = (1.0 + scv_s[:, None]) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(stable, c * (1.0 - rho) / (k * mean_s[:, None]), np.inf)
        wait_p99 = np.where(stable, np.maximum(np.log(chance / 0.01), 0.0) / theta, np.inf)
    # The request's shape is daily: (days, 1), spread over the hours by waitsum.
    t50, t99 = waitsum.quantiles(chance, theta, mean_p[:, None], scv_p[:, None], levels)
    e50, e99 = waitsum.quantiles(chance, theta, mean_s[:, None], scv_s[:, None], levels)

    def capped(x: np.ndarray) -> np.ndarray:
        # At most cap_s; a NaN or infinite latency (an overloaded hour) is cap_s too.
        return np.fmin(x, cap_s)

    ok = stable & (wait_p99 <= spec.slo_p99_wait_s)
    return Latencies(wait_p99, capped(t50), capped(t99), capped(e50), capped(e99), ok)


@dataclass(frozen=True)
class ServiceDraw:
    """One replication's terms of service: shares of the fleet, and the serving picture.

    Attributes:
        serving_share: share of capacity reserved for serving (the rest trains).
        flex_share: share of the training reservation that serving may borrow.
        flex_target: utilization above which serving borrows.
        replicas: the replicas' batch curves and the request shape.
    """

    serving_share: float
    flex_share: float
    flex_target: float
    replicas: ReplicaSpec

    @property
    def usable(self) -> float:
        """Share of the fleet serving can use: its own share and all that training lends."""
        return self.serving_share + self.flex_share * (1 - self.serving_share)

    @classmethod
    def draw(cls, svc, curves: tuple[BatchCurve, ...], streams: Streams) -> ServiceDraw:
        """From the stream "service", in field order."""
        rng = streams.rng("service")
        serving_share = float(np.clip(svc.serving_share.sample(rng), 0, 1))
        flex_share = float(np.clip(svc.training_flex_share.sample(rng), 0, 1))
        flex_target = float(svc.flex_target_utilization.sample(rng))
        replicas = ReplicaSpec(
            curves, pools=max(1.0, float(svc.pools.sample(rng))),
            tokens_per_request=float(svc.tokens_per_request.sample(rng)),
            output_share=float(svc.output_share.sample(rng)),
            scv=max(0.0, float(svc.service_scv.sample(rng))),
            slo_p99_wait_s=float(svc.slo_p99_wait_s.sample(rng)))
        return cls(serving_share, flex_share, flex_target, replicas)
