"""LLM serving latency: replicas with a batch curve, TTFT, end-to-end latency, the SLO.

A pool's servers are model replicas of each chip generation, each decoding up to
`batch` requests together with continuous batching (Orca, vLLM). One decode step of a
batch of b requests takes t0 + t1 b (weights read once per step, KV cache per request),
so a request's time per output token rises with the batch:

    tpot(b) = tpot(1) (b_half + b) / (b_half + 1)     (tpot(1) = 1 / stream_tokens_per_s)
    replica throughput T(b) = b / tpot(b), rising to a ceiling, half of it at b_half

per chip generation (`[supply.generations.<name>.batching]`). A generation's
`tokens_per_s` is its throughput at `rated_batch`; another `batch` scales it by
T(batch) / T(rated_batch).

A request has `tokens_per_request` tokens, `output_share` of them decoded, the rest
prefilled at `prefill_tokens_per_s`; input and output counts each have squared
coefficient of variation `service_scv`. Requests go to generations in proportion to
their serving capacity and, within one, evenly to its replicas, so every replica of the
fleet sees the hour's utilization (load / capacity, capacity being replicas at the full
batch). One replica at a load is `simcore.batching` (closed form, checked against a
request-level simulation): the batch it decodes in grows with load, so the time per
token and the end-to-end latency rise from the lowest loads, and near saturation requests
wait for a batch place, so the time to first token rises too. A replica's waiting room
holds `queue_limit_s` of work; requests that find it full are turned away (an
"overloaded" answer), counted as a rate, never as a latency.

Each generation's figures are tabulated once per replication on a grid of loads and
read by interpolation for every hour (vectorised; no per-request work). The latency KPIs
are quantiles of the distribution of all requests served in the window (or the day),
each hour weighted by its served requests; the SLO attainment is the share of served
requests whose TTFT is within `slo_ttft_s` and whose batch decodes within `slo_tpot_s`
a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from capsim.models.scenario import Generation
from capsim.simcore import batching
from capsim.simcore.streams import Streams


@dataclass(frozen=True)
class BatchCurve:
    """Throughput-latency curve of one replica of a chip generation."""

    batch: float             # requests decoded together (the operating point)
    rated_batch: float       # the batch at which the generation's tokens_per_s is stated
    stream_tps: float        # output tokens/s of one request decoded alone
    batch_half: float        # batch at half the throughput ceiling
    prefill_tps: float       # input tokens/s of one request's prefill
    chips: float = 1.0       # chips per replica

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
    """One replication's serving picture: curves per generation, request shape, targets."""

    curves: tuple[BatchCurve, ...]   # in the model's generation order
    tokens_per_request: float
    output_share: float
    scv: float                       # of input and of output token counts, each
    queue_limit_s: float             # seconds of work a replica's waiting room holds
    slo_ttft_s: float                # time-to-first-token target
    slo_tpot_s: float                # time-per-output-token target

    def replicas(self) -> list[batching.Replica]:
        """One `simcore.batching.Replica` per generation."""
        n_in = self.tokens_per_request * (1.0 - self.output_share)
        n_out = self.tokens_per_request * self.output_share
        return [batching.Replica(max(1, int(round(c.batch))), 1.0 / c.stream_tps,
                                 c.batch_half, n_in / c.prefill_tps, n_out, self.scv,
                                 self.queue_limit_s) for c in self.curves]

    def tables(self, used: np.ndarray | None = None) -> list[batching.Table | None]:
        """Each generation's table by load (None for generations `used` marks unused)."""
        return [r.table(self.slo_ttft_s, self.slo_tpot_s)
                if used is None or used[i] else None
                for i, r in enumerate(self.replicas())]


def serving_replicas(installed: np.ndarray, serving_share: np.ndarray,
                     curves: tuple[BatchCurve, ...]) -> np.ndarray:
    """Replicas serving per day: installed chips x the share serving / chips per replica.

    Args:
        installed: (days, generations) installed chips.
        serving_share: (days,) serving capacity / the fleet's capacity.
        curves: the generations' curves (their chips per replica).
    """
    per = np.array([c.chips for c in curves])
    return (np.asarray(installed, float) / per).sum(axis=1) * serving_share


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
            "prefill_tokens_per_s", "chips_per_replica"))))
    return tuple(curves)


@dataclass
class Latencies:
    """Per day: served requests' latency distributions and counts (requests are per s).

    `weights` (days, generations x loads) are the served requests/s of each day at each
    generation's table row, `cdfs` those rows (TTFT then end-to-end cdf on
    `simcore.batching.SECONDS`), so a day's or a window's distribution is a weighted sum.
    """

    weights: np.ndarray      # (days, gens x loads)
    cdfs: np.ndarray         # (gens x loads, 2 x seconds)
    served: np.ndarray       # (days,) requests served, summed over the hours
    offered: np.ndarray      # (days,) requests arriving
    rejected: np.ndarray     # (days,) requests turned away (full waiting rooms, no capacity)
    slo_met: np.ndarray      # (days,) served requests meeting both targets
    slo_hours: np.ndarray    # (days,) hours whose served requests meet the SLO often enough

    def _part(self, cdf: np.ndarray, which: str) -> np.ndarray:
        nx = len(batching.SECONDS)
        return cdf[..., :nx] if which == "ttft" else cdf[..., nx:]

    @cached_property
    def daily_cdfs(self) -> np.ndarray:
        """(days, 2 x seconds): each day's TTFT and end-to-end cdf of its served requests.

        In double precision, so a day's quantiles never fall when its load rises (single
        precision moved them by a few parts in 10^6 either way); NaN on a day without
        served requests.
        """
        cdf = self.weights @ self.cdfs
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = np.minimum(cdf / self.served[:, None], 1.0)
        return np.where(self.served[:, None] > 0, norm, np.nan)

    def quantile(self, which: str, q: float) -> np.ndarray:
        """Each day's q-quantile of TTFT ("ttft") or end-to-end latency ("e2e")."""
        return batching.quantile(self._part(self.daily_cdfs, which), q)

    def typical_day(self, which: str, q: float, days: slice) -> float:
        """The q-quantile over the requests served on `days`, every day weighing the same.

        The mean of the days' distributions, so the figure measures congestion: a
        scenario with more demand in the years when the fleet is fast (newer chips) does
        not get a lower quantile from that alone, as `pooled` can. NaN without any.
        """
        cdf = self.daily_cdfs[days]
        ok = self.served[days] > 0
        if not ok.any():
            return float("nan")
        return float(batching.quantile(self._part(cdf[ok].mean(axis=0), which), q)[0])

    def slo_share(self, days: slice) -> float:
        """The share of served requests meeting the targets, every day weighing the same."""
        served = self.served[days]
        ok = served > 0
        if not ok.any():
            return 0.0
        return float(np.mean(self.slo_met[days][ok] / served[ok]))

    def rejected_share(self, days: slice) -> float:
        """The share of arriving requests turned away, every day weighing the same."""
        offered = self.offered[days]
        ok = offered > 0
        if not ok.any():
            return 0.0
        return float(np.clip(np.mean(self.rejected[days][ok] / offered[ok]), 0.0, 1.0))

    def pooled(self, which: str, q: float, days: slice) -> float:
        """The q-quantile over all requests served on `days` (NaN without any)."""
        tot = self.served[days].sum()
        if not tot > 0:
            return float("nan")
        cdf = self.weights[days].sum(axis=0) @ self._part(self.cdfs, which)
        return float(batching.quantile(cdf / tot, q)[0])


def _load_weights(util: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each hour's place on the load grid: lower index and the weight of the next."""
    grid = batching.LOADS
    pos = np.interp(util, grid, np.arange(len(grid), dtype=float))
    i = np.minimum(pos.astype(np.intp), len(grid) - 2)
    return i, pos - i


def latencies(load: np.ndarray, capacity: np.ndarray, gen_capacity: np.ndarray,
              spec: ReplicaSpec, slo_share: float) -> Latencies:
    """Served requests' latency, the SLO and the requests turned away, day by day.

    Args:
        load: (days, 24) serving load (demand and retries), tokens/s.
        capacity: (days, 24) serving capacity, tokens/s.
        gen_capacity: (days, generations) capacity of each generation (any scale): the
            share of requests each serves that day.
        spec: the replication's curves, request shape and targets.
        slo_share: share of an hour's served requests meeting the targets for the hour
            to count in `slo_hours`.
    """
    cap = np.asarray(capacity, float)
    ld = np.maximum(np.asarray(load, float), 0.0)
    days, hours = ld.shape
    w = np.asarray(gen_capacity, float)
    tot = w.sum(axis=1, keepdims=True)
    share = np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / w.shape[1])
    used = share.max(axis=0) > 0
    tables = spec.tables(used)
    # Requests/s per hour; an hour with load and no capacity turns all of them away.
    req = ld / spec.tokens_per_request
    live = cap > 0
    dead = ~live & (ld > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(live, ld / np.where(live, cap, 1.0), 0.0)
    req_live = np.where(live, req, 0.0)
    i, f = _load_weights(util)
    n_loads = len(batching.LOADS)
    # A[d, k]: requests/s of day d's hours at load-grid point k (linear interpolation).
    rows = np.repeat(np.arange(days), hours)
    flat = (rows * n_loads + i.ravel())
    a = (np.bincount(flat, (req_live * (1 - f)).ravel(), days * n_loads)
         + np.bincount(flat + 1, (req_live * f).ravel(), days * n_loads)).reshape(days, n_loads)
    gi = [g for g, t in enumerate(tables) if t is not None]
    tab = [t for t in tables if t is not None]
    admit = np.stack([1.0 - t.rejected for t in tab])                # (gens, loads)
    slo = np.stack([t.slo for t in tab]) * admit
    sh = share[:, gi]
    served_w = (sh[:, :, None] * (a[:, None, :] * admit[None])).reshape(days, -1)
    cdfs = np.concatenate([np.hstack([t.ttft_cdf, t.e2e_cdf]) for t in tab])
    mixed = np.stack([sh @ admit, sh @ slo])                         # (2, days, loads)
    served, slo_met = (mixed * a[None]).sum(axis=2)
    offered = req.sum(axis=1)
    # Per hour: the share of its served requests meeting the targets, from each day's
    # mix of the generations' tables read at the hour's load.
    flat_i = (np.arange(days)[:, None] * n_loads + i)
    mixed = mixed.reshape(2, -1)
    lo, hi = mixed[:, flat_i], mixed[:, flat_i + 1]                  # (2, days, 24)
    hour_served, hour_ok = lo + (hi - lo) * f
    met = (hour_ok >= slo_share * hour_served) & (hour_served > 0) & ~dead
    # Turned away: the tables' rejected shares at each hour's load (not offered minus
    # served, whose rounding left 1e-17 of a share where nothing is turned away), and
    # every request of an hour without capacity.
    turned = np.stack([t.rejected for t in tab])
    rejected = ((sh @ turned) * a).sum(axis=1) + np.where(dead, req, 0.0).sum(axis=1)
    return Latencies(served_w, cdfs, served, offered, rejected, slo_met, met.sum(axis=1))


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
            curves, tokens_per_request=float(svc.tokens_per_request.sample(rng)),
            output_share=float(svc.output_share.sample(rng)),
            scv=max(0.0, float(svc.service_scv.sample(rng))),
            queue_limit_s=max(0.0, float(svc.queue_limit_s.sample(rng))),
            slo_ttft_s=float(svc.slo_ttft_s.sample(rng)),
            slo_tpot_s=float(svc.slo_tpot_s.sample(rng)))
        return cls(serving_share, flex_share, flex_target, replicas)
