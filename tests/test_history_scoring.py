"""History scores that spread cannot buy, and the kinds of observation counted apart."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from capsim.models import history, observations
from capsim.models.capacity import series_names
from capsim.models.scenario import load

OBS = """
[[observation]]
name = "a"
date = 2024-12-31
value = 1.0e9
low = 0.9e9
high = 1.1e9
unit = "USD per year"
series = "run_rate_usd"
source = "press reports"
kind = "independent"
"""


def _obs(name="x", value=100.0, low=90.0, high=110.0, kind="independent"):
    return observations.Observation(name, dt.date(2024, 6, 30), value, low, high, "u", "s",
                                    ("a",), kind=kind)


def _widened(base: np.ndarray, k: float) -> np.ndarray:
    """The same ensemble spread k times as wide about its median."""
    m = np.median(base)
    return m + k * (base - m)


@pytest.mark.parametrize("offset", [0.0, 0.3, -0.5])
def test_widening_the_band_about_the_same_median_never_improves_a_score(offset):
    # The observation lies near the simulated median (within half an sd): every widening
    # of the band (same median, larger spread) scores worse or equal in both scores, and
    # puts fewer replications in the observed range; the old standardized distance, by
    # contrast, improved with every widening.
    rng = np.random.default_rng(7)
    base = rng.normal(100.0, 5.0, 2000)
    o = _obs(value=float(np.median(base)) + offset * 5.0)
    rows = [history.row(o, _widened(base, k)) for k in (1.0, 1.5, 2.0, 4.0, 8.0)]
    for key in ("crps", "interval_score"):
        v = [r[key] for r in rows]
        assert all(np.diff(v) >= 0), (key, v)
    assert all(np.diff([r["share_in_range"] for r in rows]) <= 0)
    old = [history.distance(o.value, o.low, o.high, _widened(base, k))
           for k in (1.0, 1.5, 2.0, 4.0, 8.0)]
    if offset:  # what the history used to score: spread bought it
        assert all(np.diff(old) < 0)


def test_over_a_record_an_over_wide_band_scores_worse_than_the_right_one():
    # Properness: observations drawn from the truth N(m_i, 1); forecasts with the right
    # medians and k x the right spread. The mean score is best at k = 1; wider (and
    # narrower) bands lose, so no spread beyond the errors' can buy a better record.
    rng = np.random.default_rng(11)
    medians = rng.uniform(50, 150, 300)
    truth = medians + rng.normal(0, 1.0, medians.size)
    unit = rng.normal(0, 1.0, 4000)
    ks = (0.5, 1.0, 2.0, 4.0)
    crps = {k: np.mean([history.row(_obs(value=float(y)), m + k * unit)["crps"]
                        for m, y in zip(medians, truth, strict=True)]) for k in ks}
    isc = {k: np.mean([history.row(_obs(value=float(y)), m + k * unit)["interval_score"]
                       for m, y in zip(medians, truth, strict=True)]) for k in ks}
    for s in (crps, isc):
        assert min(s, key=s.get) == 1.0, s
        assert s[1.0] < s[2.0] < s[4.0]


def test_kinds_are_counted_apart_in_the_summary_and_the_line():
    rng = np.random.default_rng(3)
    obs = [_obs("in1"), _obs("out1", value=200.0, low=190.0, high=210.0),
           _obs("echo", kind="input-echo"), _obs("plan", kind="plan")]
    sims = {o.name: rng.normal(100.0, 3.0, 400) for o in obs}
    h = history.score(obs, sims)
    assert h["by_kind"]["independent"]["total"] == 2
    assert h["by_kind"]["independent"]["inside"] == 1
    assert h["by_kind"]["input-echo"] == {**h["by_kind"]["input-echo"], "total": 1, "inside": 1}
    line = history.headline(h)
    assert line.startswith("history (90% band): independent: 1 of 2 inside, ")
    assert "(outside: out1)" in line and "out1" not in line.split(";", 1)[1]
    assert "input-echo: 1 of 1 inside (give back inputs)" in line
    assert "plan: 1 of 1 inside (a stated plan the inputs follow)" in line
    r = {x["name"]: x for x in h["observations"]}
    assert r["out1"]["share_in_range"] == 0.0 and r["in1"]["share_in_range"] > 0.9
    assert r["out1"]["interval_score"] > 20 * (190.0 - r["out1"]["p95"])


def _parse(text):
    sc = load()[0]
    return observations.parse("obs.toml", text, series_names(sc), sc.scenario.start,
                              sc.scenario.end)


@pytest.mark.parametrize("change, problem", [
    (('kind = "independent"\n', ""), "kind: required key is missing"),
    (('kind = "independent"', 'kind = "indep"'), "kind: Input should be 'independent', "
                                                 "'input-echo' or 'plan'"),
    (("date = 2024-12-31", 'date = 2024-12-31\ndata_date = "soon"'), "data_date: "),
])
def test_every_observation_names_its_kind(change, problem):
    with pytest.raises(observations.ObservationError) as e:
        _parse(OBS.replace(*change))
    assert any(problem in p for p in e.value.problems), e.value.problems


def test_shipped_observations_are_tagged_and_sum_reads_a_span():
    o = _parse(OBS.replace("date = 2024-12-31", "date = 2024-12-31\ndata_date = 2025-01-15"))
    assert o[0].kind == "independent" and o[0].data_date == dt.date(2025, 1, 15)
    dates = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-11"))
    s = observations.Observation("s", dt.date(2024, 1, 5), 1.0, 0.5, 2.0, "u", "s", ("a",),
                                 "sum", dt.date(2024, 1, 3))
    got = history.simulate(s, {"a": np.tile(np.arange(10.0), (2, 1))}.__getitem__, dates)
    np.testing.assert_allclose(got, [2 + 3 + 4] * 2)


@pytest.mark.parametrize("unit, series, problem", [
    ("MW occupied", "occupied_mw__aws", "say whether it is facility or IT power"),
    ("MW IT occupied", "occupied_mw__aws", "counts MW facility (not IT power"),
    ("MW facility occupied", "occupied_it_mw__aws", "counts MW IT (not facility power"),
])
def test_a_power_observation_names_facility_or_it_power_as_its_series_does(unit, series,
                                                                           problem):
    text = OBS.replace('unit = "USD per year"', f'unit = "{unit}"').replace(
        'series = "run_rate_usd"', f'series = "{series}"')
    with pytest.raises(observations.ObservationError) as e:
        _parse(text)
    assert any(problem in p for p in e.value.problems), e.value.problems
    fine = text.replace(f'unit = "{unit}"', 'unit = "MW IT"' if "it_mw" in series
                        else 'unit = "MW facility"')
    assert _parse(fine)[0].series == (series,)
