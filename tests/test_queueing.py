"""Tests for simcore.queueing and the experiments.validate_queueing CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from capsim.experiments.tools import validate_queueing
from capsim.simcore.queueing import (
    SimulationResult,
    erlang_c,
    mgc_mean_wait,
    mmc_mean_wait,
    mmc_wait_quantile,
    simulate_mgc,
)
from scipy import integrate, stats


def erlang_c_factorial(c: int, a: float) -> float:
    """Textbook Erlang C via factorials; only safe for small c, used as an oracle."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def erlang_c_poisson(c: int, a: np.ndarray) -> np.ndarray:
    """Erlang C via Erlang B = Poisson pmf / cdf in log space (independent of the recursion)."""
    b = np.exp(stats.poisson.logpmf(c, a) - stats.poisson.logcdf(c, a))
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


def kiefer_wolfowitz_waits(c: int, interarrivals: np.ndarray, services: np.ndarray) -> np.ndarray:
    """FIFO c-server delays by the Kiefer-Wolfowitz workload recursion."""
    work = np.zeros(c)  # sorted time until each server frees, seen by the arrival
    waits = np.empty(len(services))
    gaps = np.append(interarrivals[1:], 0.0)
    for n, (service, gap) in enumerate(zip(services, gaps, strict=True)):
        waits[n] = work[0]
        work[0] += service
        work = np.sort(np.maximum(work - gap, 0.0))
    return waits


# --------------------------------------------------------------------------- Erlang C


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_single_server_wait_probability_is_rho(rho: float) -> None:
    """With one server an arrival waits exactly when the server is busy."""
    assert erlang_c(1, rho) == pytest.approx(rho, abs=1e-15)


def test_known_values() -> None:
    """Closed-form M/M/2 value and a published call-centre figure."""
    # M/M/2: C = 2 rho^2 / (1 + rho); a = 1 gives rho = 1/2 and C = 1/3.
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-14)
    # Textbook call-centre example: 10 agents, 8 Erlangs -> 40.9%.
    assert erlang_c(10, 8.0) == pytest.approx(0.409180, abs=1e-6)


@pytest.mark.parametrize("c", [1, 2, 3, 5, 10, 20])
@pytest.mark.parametrize("rho", [0.05, 0.3, 0.7, 0.9, 0.99])
def test_matches_factorial_formula(c: int, rho: float) -> None:
    """The recursion reproduces the factorial formula where that is safe."""
    assert erlang_c(c, rho * c) == pytest.approx(erlang_c_factorial(c, rho * c), rel=1e-10)


def test_vectorised_matches_scalar_and_keeps_shape() -> None:
    """Array input gives element-wise scalar answers in the input shape."""
    loads = np.array([[0.5, 3.0, 7.9], [0.0, 8.0, 12.0]])
    out = erlang_c(8, loads)
    assert isinstance(out, np.ndarray) and out.shape == loads.shape
    expected = np.array([[erlang_c(8, float(x)) for x in row] for row in loads])
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    assert isinstance(erlang_c(8, 3.0), float)


def test_unstable_and_empty_loads() -> None:
    """Rho >= 1 means certain waiting, no load means none, NaN propagates."""
    np.testing.assert_array_equal(erlang_c(4, np.array([4.0, 5.0, 100.0])), 1.0)
    assert erlang_c(4, 0.0) == 0.0
    assert np.isnan(erlang_c(4, np.array([np.nan, 1.0]))[0])


def test_monotone_in_load() -> None:
    """More load on a fixed pool never makes waiting less likely."""
    for c in (1, 4, 32, 500):
        values = erlang_c(c, np.linspace(0.01, 0.999, 200) * c)
        steps = np.diff(values)
        # Tiny loads on many servers underflow to exactly 0.0; demand strict
        # growth only once the probability is representable.
        assert np.all(steps >= 0)
        assert np.all(steps[values[:-1] > 1e-300] > 0)


def test_decreasing_in_servers_at_equal_utilisation() -> None:
    """At equal rho a bigger pool makes waiting rarer."""
    # Economies of scale: at the same rho, a bigger pool makes waiting rarer.
    for rho in (0.5, 0.8, 0.95):
        values = [erlang_c(c, rho * c) for c in (1, 2, 4, 8, 16, 64, 256, 1024)]
        assert all(x > y for x, y in zip(values, values[1:], strict=False))


def test_stable_for_thousands_of_servers() -> None:
    """Huge pools stay finite and agree with a log-space Poisson oracle."""
    value = erlang_c(5000, 0.95 * 5000)
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    loads = np.array([0.5, 0.9, 0.95, 0.99, 0.999]) * 10_000
    got = erlang_c(10_000, loads)
    assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
    np.testing.assert_allclose(got, erlang_c_poisson(10_000, loads), rtol=1e-8, atol=1e-300)


def test_rejects_bad_arguments() -> None:
    """Invalid server counts and negative loads raise."""
    with pytest.raises(ValueError):
        erlang_c(0, 1.0)
    with pytest.raises(TypeError):
        erlang_c(2.5, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        erlang_c(2, -1.0)


# --------------------------------------------------------------------------- waits


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95])
def test_mm1_mean_wait(rho: float) -> None:
    """M/M/1 delay is rho / (1 - rho) service times."""
    assert mmc_mean_wait(1, rho) == pytest.approx(rho / (1 - rho), rel=1e-12)


def test_mean_wait_unstable_is_infinite_and_vectorised() -> None:
    """Unstable utilisations give infinite delay element-wise."""
    out = mmc_mean_wait(3, np.array([0.5, 1.0, 1.5]))
    assert np.isfinite(out[0]) and np.isinf(out[1]) and np.isinf(out[2])
    assert out[0] == pytest.approx(mmc_mean_wait(3, 0.5))


@pytest.mark.parametrize(("c", "rho"), [(1, 0.8), (4, 0.8), (32, 0.95)])
def test_quantile_integrates_to_mean(c: int, rho: float) -> None:
    """The quantile function integrates to the mean delay."""
    # E[W] = integral of the quantile function over (0, 1).
    prob = erlang_c(c, rho * c)
    mean, _ = integrate.quad(lambda q: mmc_wait_quantile(c, rho, q), 1 - prob, 1, limit=200)
    assert mean == pytest.approx(mmc_mean_wait(c, rho), rel=1e-8)


def test_quantile_properties() -> None:
    """Quantiles respect the atom at zero and the exponential tail."""
    c, rho = 4, 0.85
    prob = erlang_c(c, rho * c)
    qs = np.array([0.0, 0.5 * (1 - prob), 0.5, 0.9, 0.99])
    t = mmc_wait_quantile(c, rho, qs)
    assert isinstance(t, np.ndarray) and t.shape == qs.shape
    # Below the atom at zero (mass 1 - C) the quantile is zero.
    assert t[0] == 0.0 and t[1] == 0.0
    # Above it, P(W > t_q) = C exp(-c (1 - rho) t_q) = 1 - q.
    survival = prob * np.exp(-c * (1 - rho) * t[2:])
    np.testing.assert_allclose(survival, 1 - qs[2:], rtol=1e-12)
    # M/M/1 median: ln(2 rho) / (1 - rho).
    assert mmc_wait_quantile(1, 0.9, 0.5) == pytest.approx(math.log(1.8) / 0.1)
    assert math.isinf(mmc_wait_quantile(2, 1.0, 0.5))
    with pytest.raises(ValueError):
        mmc_wait_quantile(2, 0.5, 1.0)


def test_mgc_approximation() -> None:
    """Allen-Cunneen equals M/M/c at scv 1 and halves it at scv 0."""
    rho = np.array([0.3, 0.7, 0.9])
    np.testing.assert_allclose(mgc_mean_wait(8, rho, 1.0), mmc_mean_wait(8, rho), rtol=1e-15)
    np.testing.assert_allclose(mgc_mean_wait(8, rho, 0.0), mmc_mean_wait(8, rho) / 2, rtol=1e-15)
    assert mgc_mean_wait(1, 0.5, 3.0) == pytest.approx(2 * mmc_mean_wait(1, 0.5))
    assert isinstance(mgc_mean_wait(2, 0.5, 0.0), float)


# --------------------------------------------------------------------------- simulation


def test_simulation_agrees_with_erlang_c() -> None:
    """A short M/M/4 simulation lands near Erlang C."""
    res = simulate_mgc(4, 0.8, 100_000, np.random.default_rng(12345))
    exact = mmc_mean_wait(4, 0.8)
    assert isinstance(res, SimulationResult)
    assert res.n_customers == 90_000
    lo, hi = res.ci95
    assert lo < res.mean_wait < hi
    assert res.mean_wait == pytest.approx(exact, rel=0.10)


def test_simulation_deterministic_service_matches_pollaczek_khinchine() -> None:
    """M/D/1 simulation matches the exact M/G/1 delay."""
    # For one server the M/G/1 formula is exact: Wq = rho (1 + scv) / (2 (1 - rho)).
    res = simulate_mgc(1, 0.8, 100_000, np.random.default_rng(7), service="deterministic")
    assert res.mean_wait == pytest.approx(mgc_mean_wait(1, 0.8, 0.0), rel=0.10)


def test_simulation_lognormal_service_matches_pollaczek_khinchine() -> None:
    """Lognormal M/G/1 simulation matches the exact M/G/1 delay."""
    res = simulate_mgc(1, 0.7, 100_000, np.random.default_rng(8), service="lognormal", scv=0.5)
    assert res.mean_wait == pytest.approx(mgc_mean_wait(1, 0.7, 0.5), rel=0.10)


def test_simulation_matches_kiefer_wolfowitz_recursion_exactly() -> None:
    """SimPy FIFO delays equal the Kiefer-Wolfowitz recursion on the same draws."""
    # White-box third check: replay the same random draws (interarrivals, then
    # services) through a textbook recursion. Update if the draw order changes.
    c, rho, n = 3, 0.85, 20_000
    res = simulate_mgc(c, rho, n, np.random.default_rng(99))
    rng = np.random.default_rng(99)
    interarrivals = rng.exponential(1 / (rho * c), n)
    services = rng.exponential(1.0, n)
    waits = kiefer_wolfowitz_waits(c, interarrivals, services)
    assert res.mean_wait == pytest.approx(waits[n - res.n_customers :].mean(), rel=1e-9)


def test_simulation_is_reproducible() -> None:
    """Equal seeds give equal results and different seeds differ."""
    first = simulate_mgc(2, 0.7, 20_000, np.random.default_rng(2024))
    again = simulate_mgc(2, 0.7, 20_000, np.random.default_rng(2024))
    other = simulate_mgc(2, 0.7, 20_000, np.random.default_rng(2025))
    assert first == again
    assert first != other


def test_simulation_rejects_bad_arguments() -> None:
    """Out-of-range simulation arguments raise ValueError."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        simulate_mgc(2, 1.0, 1000, rng)
    with pytest.raises(ValueError):
        simulate_mgc(2, 0.5, 1000, rng, service="uniform")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        simulate_mgc(2, 0.5, 10, rng)  # too few customers for 30 batches
    with pytest.raises(ValueError):
        simulate_mgc(2, 0.5, 1000, rng, warmup_fraction=1.0)


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    "argv", [["--customers", "10"], ["--customers", "x"], ["--seed", "-1"], ["--bogus"]]
)
def test_cli_argument_errors_exit_2(argv: list[str]) -> None:
    """Bad command-line arguments exit with status 2."""
    with pytest.raises(SystemExit) as excinfo:
        validate_queueing.main(argv)
    assert excinfo.value.code == 2


def test_cli_run_case_record() -> None:
    """A single validation case yields a complete record and table."""
    case = validate_queueing.Case(2, 0.5, 1.0)
    record, seconds = validate_queueing.run_case(0, case, 20_000, seed=1)
    assert set(record) >= {
        "servers",
        "utilization",
        "sim_mean_wait",
        "sim_ci95",
        "erlang_c_mean_wait",
        "rel_error",
        "ok",
    }
    assert record["erlang_c_mean_wait"] == pytest.approx(1 / 3)
    assert seconds >= 0
    assert "PASS" in validate_queueing.format_table([{**record, "ok": True}])
