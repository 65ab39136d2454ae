"""Domain-free queueing formulas and a SimPy micro-simulation to check them.

Everything here is expressed in *units of the mean service time*: the service
rate is ``mu = 1``, so an offered load ``a = lambda / mu`` equals the arrival
rate and a waiting time of ``2.0`` means "two mean service times". Callers
rescale by their own mean service time.

The closed forms cover the M/M/c queue (Erlang C) and the Allen-Cunneen
M/G/c approximation. :func:`simulate_mgc` is an independent request-level
discrete-event model used to validate those formulas; it deliberately shares no
code with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import simpy

__all__ = [
    "ServiceDistribution",
    "SimulationResult",
    "erlang_c",
    "mgc_mean_wait",
    "mmc_mean_wait",
    "mmc_wait_quantile",
    "simulate_mgc",
]

ArrayLike = npt.ArrayLike
ServiceDistribution = Literal["exponential", "deterministic", "lognormal"]


def _check_servers(servers: int) -> int:
    """Validate a server count and return it as a plain ``int``."""
    # bool is an int subclass; True servers is almost certainly a bug upstream.
    if isinstance(servers, bool) or not isinstance(servers, int | np.integer):
        raise TypeError(f"servers must be an integer, got {type(servers).__name__}")
    if servers < 1:
        raise ValueError(f"servers must be >= 1, got {servers}")
    return int(servers)


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    """Convert to a float array and reject negative entries (NaN passes through)."""
    arr = np.asarray(values, dtype=float)
    # NaN compares False, so it propagates instead of raising; callers that feed
    # partially-missing hourly profiles get NaN back in the same positions.
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def _like_input(result: np.ndarray, template: ArrayLike) -> float | np.ndarray:
    """Return a Python float for scalar input and an ndarray otherwise."""
    return float(result) if np.ndim(template) == 0 else result


def erlang_c(servers: int, offered_load: ArrayLike) -> float | np.ndarray:
    """Probability that an arrival has to wait in an M/M/c queue (Erlang C).

    Uses the Erlang B recursion ``B(k) = a B(k-1) / (k + a B(k-1))`` with
    ``B(0) = 1`` followed by ``C = B / (1 - rho (1 - B))``. Every intermediate
    value lies in ``[0, 1]``, so unlike the textbook factorial formula it cannot
    overflow; it stays accurate for tens of thousands of servers. Cost is
    ``O(servers)`` vector operations, independent of how many loads are given.

    Args:
        servers: Number of servers ``c`` (>= 1).
        offered_load: Offered load ``a = lambda / mu`` in Erlangs; a scalar or
            any array shape (e.g. 24 hourly loads evaluated at once).

    Returns:
        ``C(c, a)`` with the shape of ``offered_load`` (a ``float`` for scalar
        input). Equals 1.0 wherever ``rho = a / c >= 1`` (the queue is
        unstable, so every arrival eventually waits).

    Raises:
        TypeError: If ``servers`` is not an integer.
        ValueError: If ``servers < 1`` or any load is negative.
    """
    c = _check_servers(servers)
    a = _as_float_array(offered_load, "offered_load")
    # Run the recursion on a 1-d copy so scalars and arrays share one code path.
    a_flat = np.atleast_1d(a).ravel()
    b = np.ones_like(a_flat)
    for k in range(1, c + 1):
        ab = a_flat * b
        b = ab / (k + ab)
    rho = a_flat / c
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = b / (1.0 - rho * (1.0 - b))
    # For rho >= 1 the formula above leaves [0, 1] (or divides by ~0); the
    # stationary answer there is "everyone waits".
    prob = np.where(rho >= 1.0, 1.0, np.clip(prob, 0.0, 1.0))
    prob = np.where(np.isnan(a_flat), np.nan, prob)
    return _like_input(prob.reshape(a.shape), offered_load)


def mmc_mean_wait(servers: int, rho: ArrayLike) -> float | np.ndarray:
    """Mean time spent queueing (excluding service) in an M/M/c queue.

    ``Wq = C(c, c rho) / (c (1 - rho))`` in units of the mean service time.

    Args:
        servers: Number of servers ``c`` (>= 1).
        rho: Per-server utilisation ``lambda / (c mu)``; scalar or array.

    Returns:
        Mean queueing delay with the shape of ``rho``; ``inf`` where
        ``rho >= 1``.
    """
    c = _check_servers(servers)
    r = _as_float_array(rho, "rho")
    prob = np.asarray(erlang_c(c, r * c), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = prob / (c * (1.0 - r))
    wait = np.where(r >= 1.0, np.inf, wait)
    return _like_input(wait, rho)


def mgc_mean_wait(servers: int, rho: ArrayLike, scv: ArrayLike) -> float | np.ndarray:
    """Allen-Cunneen approximation of the mean queueing delay in M/G/c.

    Scales the M/M/c result by ``(1 + scv) / 2`` (Poisson arrivals contribute
    an arrival SCV of 1). It is exact for c = 1 (Pollaczek-Khinchine) and for
    exponential service; otherwise it is a heuristic that is most accurate at
    high utilisation, which is where queueing delay matters.

    Args:
        servers: Number of servers ``c`` (>= 1).
        rho: Per-server utilisation; scalar or array.
        scv: Squared coefficient of variation of the service time
            (0 = deterministic, 1 = exponential); broadcast against ``rho``.

    Returns:
        Approximate mean queueing delay in units of the mean service time;
        ``inf`` where ``rho >= 1``.
    """
    s = _as_float_array(scv, "scv")
    base = np.asarray(mmc_mean_wait(servers, rho), dtype=float)
    wait = base * (1.0 + s) / 2.0
    scalar = np.ndim(rho) == 0 and np.ndim(scv) == 0
    return float(wait) if scalar else wait


def mmc_wait_quantile(servers: int, rho: ArrayLike, q: ArrayLike) -> float | np.ndarray:
    """Quantile of the queueing delay in an M/M/c queue.

    The delay distribution is ``P(W > t) = C exp(-c (1 - rho) t)`` (mu = 1),
    with an atom of mass ``1 - C`` at zero, so
    ``t_q = max(0, ln(C / (1 - q)) / (c (1 - rho)))``.

    Args:
        servers: Number of servers ``c`` (>= 1).
        rho: Per-server utilisation; scalar or array.
        q: Probability level in ``[0, 1)``; broadcast against ``rho``.

    Returns:
        The ``q``-quantile of the delay in units of the mean service time;
        ``inf`` where ``rho >= 1``.

    Raises:
        ValueError: If any ``q`` lies outside ``[0, 1)``.
    """
    c = _check_servers(servers)
    r = _as_float_array(rho, "rho")
    qq = np.asarray(q, dtype=float)
    if np.any((qq < 0.0) | (qq >= 1.0)):
        raise ValueError("q must lie in [0, 1)")
    prob = np.asarray(erlang_c(c, r * c), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log(0) = -inf when C == 0 (no load): the maximum below maps it to 0.
        t = np.log(prob / (1.0 - qq)) / (c * (1.0 - r))
    t = np.where(r >= 1.0, np.inf, np.maximum(t, 0.0))
    scalar = np.ndim(rho) == 0 and np.ndim(q) == 0
    return float(t) if scalar else t


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Outcome of :func:`simulate_mgc`.

    Attributes:
        mean_wait: Mean queueing delay of the post-warmup customers, in units of
            the mean service time.
        ci95: Two-sided 95% batch-means confidence interval ``(lo, hi)`` for the
            steady-state mean delay.
        n_customers: Number of post-warmup customers whose delays enter the
            estimate (the warmup and any batch remainder are excluded).
    """

    mean_wait: float
    ci95: tuple[float, float]
    n_customers: int


def _service_sampler(
    service: ServiceDistribution, scv: float
) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Return a function drawing ``n`` unit-mean service times."""
    if service == "exponential":
        return lambda rng, n: rng.exponential(1.0, n)
    if service == "deterministic":
        return lambda rng, n: np.ones(n)
    if service == "lognormal":
        if not scv > 0.0:
            raise ValueError("lognormal service needs scv > 0")
        # Moment matching: E = exp(m + s^2/2) = 1 and SCV = exp(s^2) - 1.
        sigma2 = math.log1p(scv)
        mu_log = -0.5 * sigma2
        sigma = math.sqrt(sigma2)
        return lambda rng, n: rng.lognormal(mu_log, sigma, n)
    raise ValueError(
        f"unknown service distribution {service!r}; "
        "expected 'exponential', 'deterministic' or 'lognormal'"
    )


def _batch_size(n_customers: int, warmup_fraction: float, n_batches: int) -> int:
    """Customers per batch after the warmup, with the arguments that fix it checked."""
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must lie in [0, 1), got {warmup_fraction}")
    if n_batches < 2:
        raise ValueError(f"n_batches must be >= 2, got {n_batches}")
    n_warm = int(n_customers * warmup_fraction)
    batch_size = (n_customers - n_warm) // n_batches
    if batch_size < 1:
        raise ValueError(
            f"n_customers={n_customers} leaves fewer than one post-warmup "
            f"customer per batch ({n_batches} batches)"
        )
    return batch_size


def _fifo_waits(servers: int, interarrivals: np.ndarray, service_times: np.ndarray) -> np.ndarray:
    """Each customer's queueing delay, in arrival order, from a SimPy run of the queue.

    Every customer is a SimPy process holding one unit of a ``servers``-capacity
    :class:`simpy.Resource` for its service time; the system starts empty.
    """
    n_customers = interarrivals.size
    waits = np.empty(n_customers)
    env = simpy.Environment()
    counter = simpy.Resource(env, capacity=servers)

    # ``.item`` hands SimPy plain floats: a np.float64 simulation clock made the whole
    # run ~7% slower.
    def customer(idx: int) -> Generator[simpy.Event, object, None]:
        arrived = env.now
        with counter.request() as req:
            yield req
            waits[idx] = env.now - arrived
            yield env.timeout(service_times.item(idx))

    def arrivals() -> Generator[simpy.Event, object, None]:
        for idx in range(n_customers):
            yield env.timeout(interarrivals.item(idx))
            env.process(customer(idx))

    env.process(arrivals())
    env.run()
    return waits


def _batch_means(waits: np.ndarray, n_batches: int, batch_size: int) -> SimulationResult:
    """The mean of the last ``n_batches * batch_size`` delays and its batch-means interval."""
    # Drop any remainder from the front (it merely lengthens the warmup) so
    # every batch is equal-sized and the grand mean equals the batch-mean mean.
    n_used = batch_size * n_batches
    observed = waits[waits.size - n_used :]
    batch_means = observed.reshape(n_batches, batch_size).mean(axis=1)
    mean = float(batch_means.mean())
    half = float(
        _t975(n_batches - 1) * batch_means.std(ddof=1) / math.sqrt(n_batches)
    )
    return SimulationResult(mean_wait=mean, ci95=(mean - half, mean + half), n_customers=n_used)


def simulate_mgc(
    servers: int,
    rho: float,
    n_customers: int,
    rng: np.random.Generator,
    service: ServiceDistribution = "exponential",
    scv: float = 1.0,
    warmup_fraction: float = 0.1,
    n_batches: int = 30,
) -> SimulationResult:
    """Simulate a FIFO c-server queue with Poisson arrivals in SimPy.

    Each customer is its own SimPy process that requests one unit of a
    :class:`simpy.Resource` with ``servers`` capacity, records how long it
    waited, holds the server for its service time and releases it. The
    system starts empty; the first ``warmup_fraction`` of customers (in arrival
    order) are discarded to remove that initial-condition bias.

    The confidence interval uses non-overlapping batch means: consecutive
    delays are strongly autocorrelated, so an i.i.d. interval would be far too
    narrow, whereas the means of long contiguous batches are close to
    independent and a Student-t interval over them is honest.

    Args:
        servers: Number of servers ``c`` (>= 1).
        rho: Per-server utilisation in ``(0, 1)``; arrival rate is ``rho * c``.
        n_customers: Total customers to simulate, warmup included.
        rng: Source of randomness; the result is a deterministic function of
            its state.
        service: Service-time distribution, always with mean 1.
        scv: Squared coefficient of variation of service, used only by
            ``"lognormal"`` (exponential and deterministic have fixed SCVs of
            1 and 0).
        warmup_fraction: Fraction of customers, in ``[0, 1)``, dropped from the
            start.
        n_batches: Number of batches for the batch-means interval (>= 2).

    Returns:
        Mean delay, its 95% confidence interval and the number of customers
        the estimate is based on.

    Raises:
        ValueError: On out-of-range arguments or too few post-warmup customers
            to form the batches.
    """
    c = _check_servers(servers)
    if not 0.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (0, 1) for a steady state, got {rho}")
    batch_size = _batch_size(n_customers, warmup_fraction, n_batches)
    draw_service = _service_sampler(service, scv)

    # Drawing all randomness up front with vectorised numpy calls is far
    # cheaper than per-event draws and makes the stream independent of the
    # event ordering inside SimPy. Arrays (not lists) keep memory at ~24 bytes
    # per customer.
    interarrivals = rng.exponential(1.0 / (rho * c), n_customers)
    service_times = draw_service(rng, n_customers)
    waits = _fifo_waits(c, interarrivals, service_times)
    return _batch_means(waits, n_batches, batch_size)


# ---------------------------------------------------------------------------
# Closed forms for many (servers, load) pairs at once
# ---------------------------------------------------------------------------

def erlang_c_gamma(servers: ArrayLike, offered_load: ArrayLike,
                   negligible: float = 0.0) -> np.ndarray:
    """Erlang C for arrays of server counts and loads, in O(1) per element.

    Erlang B is the Poisson ratio ``pmf(c; a) / cdf(c; a)``, written with the log-gamma
    function and the regularized upper incomplete gamma ``Q(c + 1, a)``, so a whole
    replication's hours (each with its own server count) are evaluated in one call.
    It extends smoothly to non-integer ``c`` and agrees with :func:`erlang_c` (the exact
    recursion) at integers; ``C = B / (1 - rho (1 - B))``, and 1 where ``rho >= 1``.

    With ``negligible > 0``, elements whose Erlang C is certainly below a thousandth of
    it are 0 instead, without the incomplete gamma (most of the cost): where
    ``a <= c - 3 sqrt(a) - 1`` Chebyshev's inequality gives ``Q(c + 1, a) >= 8/9``, so
    ``C <= B / (1 - rho) <= 9/8 pmf / (1 - rho)``, which is tested against the bound.
    """
    from scipy import special

    c = np.asarray(servers, float)
    a = np.asarray(offered_load, float)
    c, a = np.broadcast_arrays(c, a)
    rho = np.divide(a, c, out=np.full(c.shape, np.inf), where=c > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        pmf = np.exp(c * np.log(a) - a - special.gammaln(c + 1))
        # Where the Poisson term underflows to 0 so does B (many servers, load well below
        # them): the incomplete gamma, most of the cost, is evaluated only where it counts.
        live = pmf != 0.0
        if negligible > 0:
            sure = (a <= c - 3.0 * np.sqrt(a) - 1.0) & (1.125 * pmf < 1e-3 * negligible
                                                         * (1.0 - rho))
            pmf = np.where(sure, 0.0, pmf)
            live &= ~sure
        # Elsewhere pmf is 0, so B and C are 0 (1 where rho >= 1): the rest of the
        # formula runs on the live elements only.
        pmf_i, rho_i = pmf[live], rho[live]
        b = pmf_i / special.gammaincc(c[live] + 1, a[live])
        out_i = b / (1.0 - rho_i * (1.0 - b))
    out_i = np.where(a[live] <= 0, 0.0, out_i)
    out = np.where(rho >= 1.0, 1.0, 0.0)
    out[live] = np.where(rho_i >= 1.0, 1.0, np.clip(out_i, 0.0, 1.0))
    return out


def wait_quantiles(servers: ArrayLike, rho: ArrayLike, qs: tuple[float, ...],
                   prob: np.ndarray | None = None) -> list[np.ndarray]:
    """Quantiles of the M/M/c queueing delay for arrays of servers and utilizations.

    In units of the mean service time; ``inf`` where ``rho >= 1``. Same formula as
    :func:`mmc_wait_quantile`, on top of :func:`erlang_c_gamma`, which is evaluated once
    for all the levels in `qs` (or taken from `prob`, the Erlang C values, when given).
    """
    for q in qs:
        if not 0.0 <= q < 1.0:
            raise ValueError(f"q(={q}) must lie in [0, 1)")
    c = np.asarray(servers, float)
    r = np.asarray(rho, float)
    if prob is None:
        prob = erlang_c_gamma(c, r * c)
    out = []
    for q in qs:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.log(prob / (1.0 - q)) / (c * (1.0 - r))
        out.append(np.where(r >= 1.0, np.inf, np.where(np.isfinite(t), np.maximum(t, 0.0), 0.0)))
    return out


def wait_quantile(servers: ArrayLike, rho: ArrayLike, q: float) -> np.ndarray:
    """q-quantile of the M/M/c queueing delay (see :func:`wait_quantiles`)."""
    return wait_quantiles(servers, rho, (q,))[0]


def _t975(df: int) -> float:
    """97.5% quantile of Student's t (scipy.stats is imported here only: it is large)."""
    from scipy import stats

    return float(stats.t.ppf(0.975, df=df))
