"""LLM serving latency: batch curves, TTFT and end-to-end quantiles (models/serving.py).

Validation against sampling the same model and against Ciw; direction-of-effect tests
(more load at fixed capacity -> longer latency; overload never lowers a figure); the
batch curve's trade of throughput against per-request speed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from capsim.models import serving
from capsim.simcore import queueing, waitsum

CURVE = serving.BatchCurve(batch=32, rated_batch=32, stream_tps=50, batch_half=48,
                           prefill_tps=6000)
FAST = serving.BatchCurve(batch=64, rated_batch=64, stream_tps=100, batch_half=96,
                          prefill_tps=30000)
SPEC = serving.ReplicaSpec((CURVE, FAST), pools=10, tokens_per_request=4000, output_share=0.1,
                           scv=2.0, slo_p99_wait_s=2.0)


def _lognormal(rng, mean, scv, n):
    if scv == 0:
        return np.full(n, mean)
    s2 = math.log1p(scv)
    return mean * rng.lognormal(-s2 / 2, math.sqrt(s2), n)


@pytest.mark.parametrize(("p", "theta", "mean", "scv"), [
    (0.5, 0.5, 1.0, 2.0),     # wait and service of the same size
    (0.9, 0.1, 1.0, 0.5),     # the wait dominates
    (0.3, 2.0, 3.0, 4.0),     # heavy-tailed X
    (0.7, 1.0, 1.0, 0.0),     # deterministic X
    (0.02, 5.0, 10.0, 2.0),   # rare, short waits
])
def test_wait_plus_lognormal_matches_sampling_the_same_distributions(p, theta, mean, scv):
    # Tolerance 1.5%: the quadrature's error is below 0.5% on these cases; the rest is
    # the sampling error of a p99 from 10^6 draws.
    rng = np.random.default_rng(11)
    n = 1_000_000
    r = np.where(rng.random(n) < p, rng.exponential(1 / theta, n), 0.0) + _lognormal(
        rng, mean, scv, n)
    levels = (0.5, 0.9, 0.99)
    got = [float(g) for g in waitsum.quantiles(p, theta, mean, scv, levels)]
    np.testing.assert_allclose(got, np.quantile(r, levels), rtol=0.015)
    # The sum of the two p99s is exact for deterministic X and overstates p99 otherwise.
    naive = (math.log(p / 0.01) / theta if p > 0.01 else 0.0) + float(
        waitsum.lognormal_ppf(0.99, mean, scv))
    assert got[2] <= naive * (1 + 1e-5) and (scv == 0 or p < 0.1 or got[2] < 0.99 * naive)


def test_ttft_and_end_to_end_match_sampling_the_serving_model():
    # One hour of the serving model, sampled request by request from the same parts:
    # the generation (by capacity share), its prefill and decode, and the M/G/c wait.
    rng = np.random.default_rng(5)
    weights = np.array([[3.0, 1.0]])
    cap, util = np.array([[2.0e5]]), np.array([[0.97]])
    lat = serving.latencies(cap, util, weights, SPEC, cap_s=1e9)
    prefill, decode = SPEC.request_times()
    mean_p, _, mean_s, scv_s = serving.mixture(weights, prefill, decode, SPEC.scv)
    c = max(cap[0, 0] / (SPEC.tokens_per_request / mean_s[0]) / SPEC.pools, 1.0)
    chance = float(queueing.erlang_c_gamma(c, 0.97 * c))
    theta = c * 0.03 / ((1 + scv_s[0]) / 2 * mean_s[0])
    assert 0.05 < chance < 0.95  # a case where the wait matters
    n = 1_000_000
    g = rng.random(n) < 0.25
    p = np.where(g, _lognormal(rng, prefill[1], SPEC.scv, n), _lognormal(rng, prefill[0],
                                                                         SPEC.scv, n))
    d = np.where(g, _lognormal(rng, decode[1], SPEC.scv, n), _lognormal(rng, decode[0],
                                                                        SPEC.scv, n))
    w = np.where(rng.random(n) < chance, rng.exponential(1 / theta, n), 0.0)
    # The model takes P and S as lognormal with the mixture's moments: exact mean and
    # variance, not exact shape; 5% is what that costs at p99 here.
    np.testing.assert_allclose(
        [lat.ttft_p50[0, 0], lat.ttft_p99[0, 0], lat.e2e_p50[0, 0], lat.e2e_p99[0, 0]],
        [*np.quantile(w + p, [0.5, 0.99]), *np.quantile(w + p + d, [0.5, 0.99])], rtol=0.05)
    assert lat.ttft_p99[0, 0] == pytest.approx(
        float(waitsum.quantiles(chance, theta, mean_p[0], serving.mixture(
            weights, prefill, decode, SPEC.scv)[1][0], (0.99,))[0]), rel=1e-6)


def test_mixture_moments_are_exact():
    rng = np.random.default_rng(2)
    prefill, decode = SPEC.request_times()
    weights = np.array([[1.0, 3.0]])
    mean_p, scv_p, mean_s, scv_s = serving.mixture(weights, prefill, decode, SPEC.scv)
    n = 2_000_000
    g = rng.random(n) < 0.75
    p = np.where(g, _lognormal(rng, prefill[1], 2.0, n), _lognormal(rng, prefill[0], 2.0, n))
    s = p + np.where(g, _lognormal(rng, decode[1], 2.0, n), _lognormal(rng, decode[0], 2.0, n))
    assert mean_p[0] == pytest.approx(p.mean(), rel=0.01)
    assert mean_s[0] == pytest.approx(s.mean(), rel=0.01)
    assert scv_p[0] == pytest.approx(p.var() / p.mean() ** 2, rel=0.05)
    assert scv_s[0] == pytest.approx(s.var() / s.mean() ** 2, rel=0.05)


@pytest.mark.slow
def test_ttft_agrees_with_ciw_on_small_cases():
    # Ciw simulates the queue itself (8 places, FIFO); each customer's service is its
    # prefill plus its decode, and its time to first token is its wait plus its prefill.
    ciw = pytest.importorskip("ciw")

    rng = np.random.default_rng(7)
    mean_p, mean_d, scv = 0.2, 0.8, 1.0
    prefill_of = {}

    class Request(ciw.dists.Distribution):
        def sample(self, t=None, ind=None):
            p = float(_lognormal(rng, mean_p, scv, 1)[0])
            s = p + float(_lognormal(rng, mean_d, scv, 1)[0])
            prefill_of[ind.id_number] = p
            return s

    c = 8
    s_var = scv * (mean_p ** 2 + mean_d ** 2)
    scv_s = s_var / (mean_p + mean_d) ** 2
    for rho in (0.5, 0.8):
        ttft = []
        for seed in range(3):
            prefill_of.clear()
            ciw.seed(100 + seed)
            net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(rho * c)],
                                     service_distributions=[Request()],
                                     number_of_servers=[c])
            sim = ciw.Simulation(net)
            end = 20000 / (rho * c)
            sim.simulate_until_max_time(end + 100.0)
            recs = [r for r in sim.get_all_records() if 0.1 * end < r.arrival_date <= end]
            ttft.append(np.quantile([r.waiting_time + prefill_of[r.id_number]
                                     for r in recs], [0.5, 0.99]))
        chance = float(queueing.erlang_c(c, rho * c))
        theta = c * (1 - rho) / ((1 + scv_s) / 2 * (mean_p + mean_d))
        got = [float(x) for x in waitsum.quantiles(chance, theta, mean_p, scv, (0.5, 0.99))]
        ref = np.mean(ttft, axis=0)
        # Within 15%: the wait is the Allen-Cunneen approximation (README, queueing
        # validation: up to tens of percent off at 8 servers with variable service).
        np.testing.assert_allclose(got, ref, rtol=0.15)


def test_ttft_and_end_to_end_rise_with_load_at_fixed_capacity():
    weights = np.tile([[2.0, 1.0]], (4, 1))
    util = np.linspace(0.05, 0.9999, 400)
    for cap in (1e4, 1e5, 1e6, 1e8):  # from a few places per pool to many thousands
        lat = serving.latencies(np.full((4, 100), cap), util.reshape(4, 100), weights, SPEC,
                                cap_s=1e9)
        for x in (lat.ttft_p50, lat.ttft_p99, lat.e2e_p50, lat.e2e_p99, lat.wait_p99):
            flat = x.ravel()
            assert np.all(np.diff(flat) >= -1e-5 * flat[1:]), cap
        assert lat.ttft_p99.ravel()[-1] > lat.ttft_p99.ravel()[0]
        assert lat.e2e_p99.ravel()[-1] > lat.e2e_p99.ravel()[0]
        assert np.all(lat.e2e_p99 >= lat.ttft_p99) and np.all(lat.e2e_p99 >= lat.e2e_p50)


def test_an_overloaded_hour_never_lowers_any_latency_figure():
    rng = np.random.default_rng(3)
    days = 30
    cap = rng.uniform(1e4, 1e7, (days, 24))
    util = rng.uniform(0.1, 0.999, (days, 24))
    weights = rng.uniform(0, 1, (days, 2))
    cap_s = 600.0
    base = serving.latencies(cap, util, weights, SPEC, cap_s)
    names = ("ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99")
    for day, hour in rng.integers(0, [days, 24], (10, 2)):
        over = util.copy()
        over[day, hour] = rng.choice([1.0, 1.3, np.inf])
        worse = serving.latencies(cap, over, weights, SPEC, cap_s)
        for n in names:
            b, w = getattr(base, n), getattr(worse, n)
            assert np.all(w >= b), n     # hour by hour, so every mean over hours too
            assert w[day, hour] == cap_s
            assert w.mean() >= b.mean()
        assert not worse.slo_ok[day, hour] and np.isinf(worse.wait_p99[day, hour])
    # Every figure is within the cap, none missing.
    for n in names:
        x = getattr(base, n)
        assert np.all(np.isfinite(x) & (x > 0) & (x <= cap_s))


def test_larger_batch_gives_more_throughput_and_slower_tokens():
    b = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 1024], float)
    for curve in (CURVE, FAST):
        t, v = curve.throughput(b), curve.decode_speed(b)
        assert np.all(np.diff(t) > 0) and np.all(np.diff(v) < 0)
        assert v[0] == pytest.approx(curve.stream_tps)           # batch 1
        ceiling = curve.stream_tps * (curve.batch_half + 1)       # 1 / t1
        assert np.all(t < ceiling)
        assert curve.throughput(curve.batch_half) == pytest.approx(ceiling / 2)
    # The operating batch scales the generation's rated throughput along the curve, and
    # slows each request's decode.
    bigger = serving.BatchCurve(64, 32, 50, 48, 6000)
    assert CURVE.throughput_factor == 1.0
    assert bigger.throughput_factor == pytest.approx(CURVE.throughput(64) / CURVE.throughput(32))
    assert bigger.throughput_factor > 1
    slow = serving.ReplicaSpec((bigger,), 10, 4000, 0.1, 2.0, 2.0).request_times()[1]
    assert slow[0] > serving.ReplicaSpec((CURVE,), 10, 4000, 0.1, 2.0, 2.0).request_times()[1][0]


def test_operating_batch_moves_capacity_and_latency_in_the_model(short_scenario):
    # Same seeds: a larger batch on every generation gives more compute and slower
    # decoding per request (a longer end-to-end median in hours that do not wait).
    from capsim.models.capacity import CapacityModel
    from capsim.models.scenario import load
    from capsim.simcore.simulation import run_replication

    gens = [n for n, g in short_scenario.supply.generations.items() if g.cloud == "aws"]
    sets = [f"supply.generations.{g}.batching.batch={{ value = 256, unit = \"requests\", "
            f"source = \"test\" }}" for g in gens]
    big, _ = load(None, ["scenario.end=2028-04-01", *sets])
    a = run_replication(CapacityModel, short_scenario, 2026, 0)
    b = run_replication(CapacityModel, big, 2026, 0)
    assert b.kpis["compute_mean_tps"] > a.kpis["compute_mean_tps"]
    calm = (a.timeseries["slo_hours"] == 24) & (b.timeseries["slo_hours"] == 24)
    assert calm.any()
    assert np.all(b.timeseries["p50_latency_s"][calm] > a.timeseries["p50_latency_s"][calm])
    # Overloaded hours miss the SLO and count at the cap in the latency KPIs.
    cap = short_scenario.service.latency_cap_s
    for r in (a, b):
        k = r.kpis
        assert 0 <= k["overloaded_hour_share"] <= 1 - k["slo_attainment"] + 1e-12
        for name in ("ttft_p99_s", "p99_latency_s"):
            assert k["overloaded_hour_share"] * cap <= k[name] <= cap
        assert k["ttft_p99_s"] <= k["p99_latency_s"]


def test_every_enabled_generation_needs_a_batch_curve():
    import tomllib
    from importlib import resources

    from capsim.models.scenario import DEFAULT_SCENARIO, ScenarioError, validate_dict

    text = (resources.files("capsim.models.scenarios") / f"{DEFAULT_SCENARIO}.toml").read_text()
    data = tomllib.loads(text)
    del data["supply"]["generations"]["trainium3"]["batching"]
    with pytest.raises(ScenarioError, match=r"supply\.generations\.trainium3\.batching: missing"):
        validate_dict("x.toml", data)
    # A disabled cloud's generations may leave it out.
    data = tomllib.loads(text)
    del data["supply"]["generations"]["gb300"]["batching"]
    validate_dict("x.toml", data)


def test_negligible_erlang_c_is_zeroed_only_where_it_is_below_the_bound():
    """erlang_c_gamma(..., negligible) returns 0 only where the exact value is far below it."""
    rng = np.random.default_rng(16)
    c = np.exp(rng.uniform(0, np.log(2e5), 20000))
    a = c * rng.uniform(0.0, 1.2, c.size)
    exact = queueing.erlang_c_gamma(c, a)
    for negligible in (0.005, 0.1):
        fast = queueing.erlang_c_gamma(c, a, negligible)
        zeroed = (fast == 0) & (exact != 0)
        assert zeroed.sum() > c.size // 4  # the shortcut is taken, often
        assert np.all(exact[zeroed] < 1e-3 * negligible)
        np.testing.assert_array_equal(fast[~zeroed], exact[~zeroed])


def test_latencies_skip_only_what_cannot_change_them(monkeypatch):
    """The hours whose Erlang C latencies() does not evaluate give the same figures."""
    rng = np.random.default_rng(5)
    days = 60
    cap = np.exp(rng.uniform(np.log(1e4), np.log(1e9), (days, 24)))
    util = rng.uniform(0.05, 1.05, (days, 24))
    weights = rng.uniform(0, 1, (days, 2))
    fast = serving.latencies(cap, util, weights, SPEC, 600.0)
    exact_c = queueing.erlang_c_gamma
    monkeypatch.setattr(queueing, "erlang_c_gamma", lambda c, a, negligible=0.0: exact_c(c, a))
    exact = serving.latencies(cap, util, weights, SPEC, 600.0)
    for name in ("wait_p99", "ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99", "slo_ok"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(exact, name), name)
