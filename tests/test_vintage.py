"""Priors with a vintage, and demand growth as a stochastic process."""

from __future__ import annotations

import datetime as dt
import tomllib

import numpy as np
import pytest
from capsim.models.demand import ar1_path, growth_deviation, growth_shocks
from capsim.models.inputs import at_vintage, priors_at, uncertain_inputs
from capsim.models.scenario import ScenarioError, load, to_toml, validate_dict
from capsim.simcore.clock import Clock
from pydantic import ValidationError

EMBEDDED = (None, "anthropic-multicloud-2026")


@pytest.mark.parametrize("name", EMBEDDED)
def test_every_uncertain_input_of_the_embedded_scenarios_is_dated(name):
    sc = load(name)[0]
    for i in uncertain_inputs(sc):
        assert i.as_of is not None, i.name
        assert i.source, i.name
        assert all(v.as_of < i.as_of for v in i.vintages), i.name


@pytest.mark.parametrize("origin", [dt.date(2024, 12, 31), dt.date(2025, 9, 30),
                                    dt.date(2026, 6, 30)])
def test_at_vintage_gives_each_input_the_latest_distribution_not_after_the_origin(origin):
    sc = load(None)[0]
    dated, chosen = at_vintage(sc, origin)
    assert chosen and all(d.as_of <= origin for d in chosen.values())
    by_name = {i.name: i for i in uncertain_inputs(dated)}
    for name, d in chosen.items():
        assert by_name[name].prior == d.prior and by_name[name].as_of == d.as_of
        # no distribution of the input's that is newer than the chosen one but still not
        # after the origin was passed over
        orig = next(i for i in uncertain_inputs(sc) if i.name == name)
        later = [v for v in (*orig.vintages,) if d.as_of < v.as_of <= origin]
        assert not later


def test_an_origin_older_than_every_distribution_is_refused_naming_the_inputs():
    sc = load(None)[0]
    with pytest.raises(ScenarioError) as exc:
        priors_at(sc, dt.date(2023, 6, 30))
    names = {i.name for i in uncertain_inputs(sc)}
    assert exc.value.problems and all(p.split(":")[0] in names for p in exc.value.problems)
    assert any(p.startswith("demand.growth_start:") for p in exc.value.problems)


def _with_param(value: dict) -> dict:
    data = tomllib.loads(to_toml(load(None)[0]))
    data["demand"]["cloud_share"] = value
    return data


def test_vintages_must_be_dated_before_the_parameter_and_inside_its_bounds():
    base = {"dist": "triangular", "low": 0.3, "mode": 0.5, "high": 0.7, "unit": "share",
            "source": "s", "as_of": dt.date(2025, 1, 1)}
    ok = {**base, "vintages": [{"as_of": dt.date(2024, 1, 1), "dist": "uniform", "low": 0.1,
                                "high": 0.9, "source": "earlier"}]}
    sc = validate_dict("t", _with_param(ok))
    assert sc.demand.cloud_share.vintages[0].spec.support == (0.1, 0.9)
    bad = [
        {**base, "vintages": [{**ok["vintages"][0], "as_of": dt.date(2025, 6, 1)}]},
        {**{k: v for k, v in base.items() if k != "as_of"}, "vintages": ok["vintages"]},
        {**base, "vintages": [{**ok["vintages"][0], "high": 1.5}]},  # a share above 1
    ]
    for b in bad:
        with pytest.raises((ScenarioError, ValidationError)):
            validate_dict("t", _with_param(b))


def test_ar1_path_is_stationary_with_the_stated_sd_and_persistence():
    rng = np.random.default_rng(1)
    x = ar1_path(rng.standard_normal(200_000), 0.9, 0.7)
    assert x.std() == pytest.approx(0.7, rel=0.03)
    assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(0.9, abs=0.01)
    assert np.all(ar1_path(np.zeros(5), 0.9, 0.7) == 0)


def test_growth_deviation_adds_a_month_s_rate_over_its_days():
    clock = Clock.between(dt.date(2024, 1, 1), dt.date(2024, 4, 1))
    dates = clock.dates()
    shocks = np.array([1.0, 0.0, 0.0])
    dev = growth_deviation(dates, shocks, 0.5, 2.0)
    # month 0 deviates by 2 ln(x)/year for 31 days, month 1 by 1, month 2 by 0.5
    jan, feb = 2.0 * 31 / 365.25, 1.0 * 29 / 365.25
    assert dev[31] == pytest.approx(jan + 0.5 * 1.0 / 365.25)
    assert dev[-1] == pytest.approx(jan + feb + 0.5 * 30 / 365.25 + 0.25 / 365.25)


def test_fixed_growth_shocks_replace_the_first_months_and_leave_later_draws_alone():
    sc = load(None)[0]
    dates = Clock.between(sc.scenario.start, sc.scenario.end).dates()
    free = growth_shocks(sc.demand, dates, np.random.default_rng(4))
    data = tomllib.loads(to_toml(sc))
    data["demand"]["growth_shocks"] = [0.5, -1.0, 2.0]
    fixed_sc = validate_dict("t", data)
    fixed = growth_shocks(fixed_sc.demand, dates, np.random.default_rng(4))
    assert fixed[:3].tolist() == [0.5, -1.0, 2.0]
    np.testing.assert_array_equal(fixed[3:], free[3:])


def test_more_volatility_spreads_simulated_demand_on_the_same_seeds():
    from capsim.models.capacity import CapacityModel
    from capsim.simcore.streams import Streams

    spreads = []
    for vol in (0.05, 2.0):
        sc = load(None, ["scenario.end=2026-01-01", f"demand.growth_volatility={vol}"])[0]
        levels = []
        for rep in range(8):
            m = CapacityModel(sc)
            m.build(Streams(11, rep))
            levels.append(np.log(m.demand.ent_growth[-1]))
        spreads.append(np.std(levels))
    assert spreads[1] > 2 * spreads[0]
