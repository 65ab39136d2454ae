"""simcore: clock, streams, distribution specs, stats, probes."""

from __future__ import annotations

import datetime as dt
import math
import os
import sys

import numpy as np
import pytest
from capsim.simcore import stats
from capsim.simcore.clock import Clock
from capsim.simcore.streams import DistSpec, Streams
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from scipy import stats as sst

CLOCK = Clock.between("2026-04-01", "2036-04-01")
SPEC = TypeAdapter(DistSpec)


# -- clock -------------------------------------------------------------------------
@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 1, 1)))
def test_clock_date_round_trip(d):
    assert CLOCK.date(CLOCK.hours(d)) == d


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_clock_hours_round_trip(t):
    assert CLOCK.hours(CLOCK.datetime(t)) == pytest.approx(t, abs=1e-6)


def test_clock_grid_and_horizon():
    assert CLOCK.days == 3653  # 2028, 2032 and 2036 leap days are not all inside; 2 + 1
    assert CLOCK.horizon == CLOCK.days * 24
    dates = CLOCK.dates()
    assert dates[0] == np.datetime64("2026-04-01") and dates[-1] == np.datetime64("2036-03-31")
    with pytest.raises(ValueError, match="must be after"):
        Clock.between("2026-01-01", "2025-01-01")


# -- streams -----------------------------------------------------------------------
def test_streams_reproducible_and_order_free():
    a, b = Streams(7, 3), Streams(7, 3)
    b.rng("other").random(10)  # asking for another component first changes nothing
    assert np.array_equal(a.rng("demand").random(100), b.rng("demand").random(100))


def test_streams_independent_across_components_replications_seeds():
    draws = [Streams(7, 0).rng("demand").random(20000), Streams(7, 0).rng("fleet").random(20000),
             Streams(7, 1).rng("demand").random(20000), Streams(8, 0).rng("demand").random(20000)]
    for i in range(len(draws)):
        for j in range(i + 1, len(draws)):
            assert not np.array_equal(draws[i], draws[j])
            r = np.corrcoef(draws[i], draws[j])[0, 1]
            assert abs(r) < 0.03  # ~4 standard errors at n = 20,000
    # Each stream is itself uniform (Kolmogorov-Smirnov at a fixed seed).
    assert sst.kstest(draws[0], "uniform").pvalue > 0.001


@pytest.mark.parametrize("spec, mean, var", [
    ({"dist": "uniform", "low": 2, "high": 6}, 4, 16 / 12),
    ({"dist": "triangular", "low": 0, "mode": 1, "high": 4}, 5 / 3, (0 + 1 + 16 - 0 - 0 - 4) / 18),
    ({"dist": "normal", "mean": 3, "sd": 2}, 3, 4),
    ({"dist": "lognormal", "median": 2, "sigma": 0.5}, 2 * math.exp(0.125),
     (math.exp(0.25) - 1) * 4 * math.exp(0.25)),
    ({"dist": "pert", "low": 0, "mode": 2, "high": 10}, (0 + 8 + 10) / 6, None),
    ({"dist": "constant", "value": 5}, 5, 0),
])
def test_distribution_moments_match_theory(spec, mean, var):
    s = SPEC.validate_python(spec)
    x = s.sample(np.random.default_rng(11), 200_000)
    se = math.sqrt(var if var is not None else x.var()) / math.sqrt(x.size)
    assert abs(x.mean() - mean) <= 4 * se + 1e-12
    if var:
        assert x.var() == pytest.approx(var, rel=0.03)


def test_lognormal_by_90_percent_interval():
    s = SPEC.validate_python({"dist": "lognormal", "p05": 0.05, "p95": 0.8})
    x = s.sample(np.random.default_rng(1), 200_000)
    assert np.percentile(x, 5) == pytest.approx(0.05, rel=0.03)
    assert np.percentile(x, 95) == pytest.approx(0.8, rel=0.03)
    assert s.median == pytest.approx(math.sqrt(0.05 * 0.8))


@pytest.mark.parametrize("bad", [
    {"dist": "uniform", "low": 3, "high": 1},
    {"dist": "triangular", "low": 0, "mode": 5, "high": 4},
    {"dist": "normal", "mean": 0, "sd": 0},
    {"dist": "lognormal", "median": 1, "sigma": -1},
    {"dist": "lognormal", "p05": 2, "p95": 1},
    {"dist": "lognormal", "median": 1},
    {"dist": "lognormal", "median": 1, "p05": 0.5, "p95": 2},  # a mix of the two forms
    {"dist": "weibull", "k": 1},
])
def test_bad_distribution_specs_refused(bad):
    with pytest.raises(ValidationError):
        SPEC.validate_python(bad)


# -- stats -------------------------------------------------------------------------
def test_mean_ci_coverage_is_near_nominal():
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(2000):
        _, lo, hi = stats.mean_ci(rng.exponential(1.0, 30))
        hits += lo <= 1.0 <= hi
    assert 0.92 <= hits / 2000 <= 0.96  # skewed data: t-intervals under-cover a little


def test_describe_and_degenerate_cases():
    d = stats.describe(np.array([2.0, 2.0, 2.0, np.nan]))
    assert d["mean"] == 2 and d["ci95"] == [2, 2] and d["n_missing"] == 1
    assert math.isnan(stats.mean_ci(np.array([1.0]))[1])
    p, lo, hi = stats.proportion_ci(0, 10)
    assert p == 0 and lo == 0 and 0 < hi < 0.35
    p, lo, hi = stats.proportion_ci(10, 10)
    assert p == 1 and hi == 1 and lo > 0.65


def test_paired_difference_narrower_than_unpaired_with_common_noise():
    rng = np.random.default_rng(2)
    common = rng.normal(0, 10, 50)
    a, b = common, common + 1 + rng.normal(0, 0.1, 50)
    p = stats.paired_difference(a, b)
    u = stats.unpaired_difference(a, b)
    assert p["diff_ci95"][0] > 0.9 and p["diff_ci95"][1] < 1.1
    assert np.diff(p["diff_ci95"])[0] < np.diff(u["diff_ci95"])[0] / 10
    z = stats.paired_difference(a, a)
    assert z["diff_mean"] == 0 and z["diff_ci95"] == [0, 0]


def test_a_run_directory_is_held_by_one_process_at_a_time(tmp_path):
    from capsim.simcore.store import RunStore, StoreError

    m = {"capsim_version": "test"}
    a = RunStore.create(tmp_path / "r", m)
    with pytest.raises(StoreError, match="in use by another capsim process"):
        RunStore.open(tmp_path / "r", lock=True)
    with pytest.raises(StoreError, match="in use"):
        RunStore.create(tmp_path / "r", m, force=True)  # never deletes a run being written
    assert (tmp_path / "r" / "manifest.json").exists()
    a.unlock()
    RunStore.open(tmp_path / "r", lock=True).unlock()
    RunStore.create(tmp_path / "r", m, force=True).unlock()


_ALLOCATOR_RUN = """
import json, sys
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore import simulation, tuning
tuning.become_worker()  # as a pool worker does
r = simulation.run_replication(CapacityModel, load()[0], 3, 1)
print(json.dumps({"tuned": tuning.allocator_tuned(), "kpis": r.kpis,
                  "served": float(r.timeseries["served_tps"].sum())}))
"""


def test_allocator_tuning_leaves_results_alone_and_can_be_switched_off():
    import json
    import os
    import subprocess
    import sys

    def run(**env):
        out = subprocess.run([sys.executable, "-c", _ALLOCATOR_RUN], capture_output=True,
                             text=True, check=True, env={**os.environ, **env})
        return json.loads(out.stdout)

    tuned, plain = run(), run(CAPSIM_MALLOC="default")
    assert plain["tuned"] is False
    if sys.platform == "linux":
        assert tuned["tuned"] is True
    # Where memory comes from changes no number.
    assert tuned["kpis"] == plain["kpis"] and tuned["served"] == plain["served"]


def test_a_serial_run_leaves_the_callers_process_as_it_was(tmp_path):
    import gc

    from capsim.simcore import tuning

    import capsim

    before = tuning.state()
    assert before["worker"] is False  # the test process is nobody's worker
    capsim.run(replications=2, seed=5, executor="serial", out=tmp_path / "r",
               overrides=["scenario.end=2025-01-01"])
    assert tuning.state() == before
    assert gc.get_freeze_count() == before["freeze_count"]


def test_pool_workers_get_the_process_tuning():
    from capsim.simcore import tuning
    from capsim.simcore.executors import ProcessExecutor

    ex = ProcessExecutor(2)
    try:
        states = list(ex.imap_unordered(tuning.state, [(), ()]))
    finally:
        ex.close()
    assert all(s["worker"] is True for s in states)
    if sys.platform == "linux" and os.environ.get("CAPSIM_MALLOC", "") != "default":
        assert all(s["allocator_tuned"] is True for s in states)


def test_a_replication_restores_the_collectors_state_even_when_it_fails():
    import gc

    from capsim.simcore.simulation import run_replication

    class Broken:
        def __init__(self, scenario):
            pass

        def build(self, streams):
            assert not gc.isenabled()  # no automatic collections during a replication
            raise RuntimeError("bad scenario")

    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            with pytest.raises(RuntimeError, match="bad scenario"):
                run_replication(Broken, None, 1, 0)
            assert gc.isenabled() is state
    finally:
        (gc.enable if was else gc.disable)()


def test_triangular_quantile_of_one_draw_equals_the_vectorized_one():
    from capsim.simcore.streams import Triangular

    for low, mode, high in [(1.0, 2.5, 7.0), (0.0, 0.0, 3.0), (-2.0, 5.0, 5.0)]:
        t = Triangular(dist="triangular", low=low, mode=mode, high=high)
        fc = (mode - low) / (high - low)
        u = np.concatenate([np.random.default_rng(0).random(20_000), [0.0, fc, 1.0]])
        one = np.array([t.ppf(float(x)) for x in u])
        np.testing.assert_array_equal(one, t.ppf(u))


def test_advancing_the_clock_gives_the_events_a_timeout_would():
    import simpy
    from capsim.simcore.simulation import advance

    def run(skip: bool) -> list[tuple[float, str]]:
        env, seen = simpy.Environment(), []

        def ticker():
            yield env.timeout(0.5)
            for day in range(40):
                seen.append((env.now, f"tick {day}"))
                if day == 7:  # work started by a tick runs before the next tick
                    env.process(other([0.0, 3.0]))
                if not (skip and advance(env, env.now + 1.0)):
                    yield env.timeout(1.0)

        def other(waits):
            for w in waits:
                yield env.timeout(w)
                seen.append((env.now, "other"))

        env.process(ticker())
        # Events between ticks and exactly at them (those scheduled first go first).
        env.process(other([3.5, 0.25, 9.75, 10.0, 0.0]))
        env.run(until=41.0)
        return seen

    assert run(True) == run(False)
    assert sum(1 for _, who in run(True) if who == "other") == 7


@pytest.mark.slow
def test_dask_workers_get_the_process_tuning():
    pytest.importorskip("dask.distributed")
    from capsim.simcore import tuning
    from capsim.simcore.executors import DaskExecutor

    ex = DaskExecutor(1)
    try:
        states = list(ex.imap_unordered(tuning.state, [()]))
    finally:
        ex.close()
    assert states[0]["worker"] is True
    assert tuning.state()["worker"] is False
