"""Latency: response-time quantiles against theory and Ciw; metamorphic properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from capsim.models.service import QueueSpec, capped_latencies, latencies
from capsim.simcore.latency import Service, response_quantiles


@pytest.mark.parametrize("rho", [0.3, 0.7, 0.95])
def test_mm1_response_time_is_exponential(rho):
    # M/M/1 FIFO: the response time is exponential with rate 1 - rho (exact).
    got = response_quantiles(1, rho, (0.5, 0.99), Service("exponential"))
    for q, x in zip((0.5, 0.99), got, strict=True):
        assert float(x[0]) == pytest.approx(-math.log(1 - q) / (1 - rho), rel=1e-5)


def test_deterministic_service_has_a_closed_form():
    # R = 1 + W; P(W > t) = C exp(-theta t) with theta = c (1 - rho) / k, k = 1/2.
    from capsim.simcore.queueing import erlang_c

    c, rho = 8, 0.9
    theta = c * (1 - rho) / 0.5
    want = 1 + math.log(erlang_c(c, rho * c) / 0.01) / theta
    got = response_quantiles(c, rho, (0.99,), Service("deterministic"))[0]
    assert float(got[0]) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("rho", [0.3, 0.8, 0.95])
def test_exact_mg1_reduces_to_mm1_and_to_known_md1_values(rho):
    from capsim.simcore.latency import mg1_response_quantiles

    got = mg1_response_quantiles(rho, (0.5, 0.99), Service("exponential"))
    want = [-math.log(1 - q) / (1 - rho) for q in (0.5, 0.99)]
    np.testing.assert_allclose(got, want, rtol=1e-3)
    # M/D/1 response: 1 + wait, and P(W = 0) = 1 - rho, so the median is 1 below rho 1/2.
    md1 = mg1_response_quantiles(rho, (0.5, 0.99), Service("deterministic"))
    assert md1[1] > 1 and (md1[0] == pytest.approx(1.0, abs=1e-3) if rho < 0.5 else True)
    # M/D/1 has shorter tails than M/M/1 at the same load.
    assert md1[1] < want[1]


def test_one_server_non_exponential_uses_the_exact_result():
    from capsim.simcore.latency import mg1_response_quantiles

    svc = Service("lognormal", 3.0)
    rho = np.array([0.5, 0.7, 0.5])
    got = response_quantiles(np.ones(3), rho, (0.99,), svc)[0]
    np.testing.assert_allclose(got, [mg1_response_quantiles(v, (0.99,), svc)[0] for v in rho])


def test_lognormal_composition_matches_sampling_the_same_model():
    from capsim.simcore.queueing import erlang_c

    rng = np.random.default_rng(1)
    c, rho, scv, n = 8, 0.9, 3.0, 1_000_000
    wait_p, theta = erlang_c(c, rho * c), c * (1 - rho) / ((1 + scv) / 2)
    s2 = math.log1p(scv)
    r = (np.where(rng.random(n) < wait_p, rng.exponential(1 / theta, n), 0.0)
         + rng.lognormal(-s2 / 2, math.sqrt(s2), n))
    got = response_quantiles(c, rho, (0.5, 0.99), Service("lognormal", scv))
    np.testing.assert_allclose([float(g[0]) for g in got], np.quantile(r, [0.5, 0.99]),
                               rtol=0.01)


@pytest.mark.slow
def test_agrees_with_ciw_on_small_cases():
    pytest.importorskip("ciw")
    from capsim.experiments.tools.validate_latency import table

    rows = table(20000, 3, 1, rhos=(0.5, 0.8), servers=(1, 8))
    for r in rows:
        inside = r["ciw_lo"] <= r["capsim"] <= r["ciw_hi"]
        assert abs(r["rel_error"]) <= 0.10 or inside, r


Q = QueueSpec(pools=10, slot_tps=100.0, tokens_per_request=4000.0, scv=2.0, slo_p99_wait_s=2.0)


def test_p99_latency_rises_with_load_at_fixed_capacity():
    cap = np.full(200, 1e6)
    util = np.linspace(0.05, 0.999, 200)
    (_, p99), (_, p50) = latencies(cap, util, Q, (0.99, 0.5))
    assert np.all(np.diff(p99) >= -1e-9 * p99[1:])
    assert np.all(np.diff(p50) >= -1e-9 * p50[1:])
    assert p99[-1] > p99[0]


def test_an_overloaded_hour_never_lowers_any_latency_figure():
    rng = np.random.default_rng(3)
    cap = rng.uniform(1e4, 1e7, (50, 24))
    util = rng.uniform(0.1, 0.99, (50, 24))
    cap_s = 600.0
    base = capped_latencies(cap, util, Q, cap_s)
    for day, hour in rng.integers(0, [50, 24], (20, 2)):
        over = util.copy()
        over[day, hour] = 1.3
        worse = capped_latencies(cap, over, Q, cap_s)
        for b, w in zip(base[1:], worse[1:], strict=True):
            assert np.all(w >= b)  # hour by hour, so every mean over hours too
            assert w[day, hour] == cap_s
        assert np.isinf(worse[0][day, hour])  # the wait: the hour misses the SLO
