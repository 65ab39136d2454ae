"""Uncertain inputs: one lister and one pinner for calibration, posteriors, sensitivity, plans."""

from __future__ import annotations

import json
import tomllib
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines import sensitivity as gsa
from capsim.models.inputs import Builder, uncertain_inputs
from capsim.models.scenario import ScenarioError, load, to_toml
from conftest import PRIORS


def _raw_default() -> dict:
    text = resources.files("capsim.models.scenarios").joinpath("aws-anthropic-2026.toml")
    return tomllib.loads(text.read_text())


def _raw_uncertain(raw: dict) -> set[str]:
    """Names of the distributions in a scenario's TOML, found without the schema.

    A table with `dist` whose low and high (if it has them) differ, and each entry of a
    table with `low` and `high` lists whose low and high differ; tables of a switched-off
    cloud (its `clouds` table, its generations and campuses, `cloud = "aws"` by default)
    are left out.
    """
    off = {n for n, c in raw.get("clouds", {}).items() if not c.get("enabled", True)}
    found: set[str] = set()

    def walk(name: str, obj) -> None:
        if isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(f"{name}[{i}]", v)
            return
        if not isinstance(obj, dict):
            return
        if "dist" in obj:
            if obj["dist"] != "constant" and obj.get("low", 0) != obj.get("high", 1):
                found.add(name)
            return
        if isinstance(obj.get("low"), list) and isinstance(obj.get("high"), list):
            found.update(f"{name}[{i}]" for i, (a, b) in enumerate(zip(obj["low"], obj["high"],
                                                                       strict=True)) if b > a)
            return
        for k, v in obj.items():
            walk(f"{name}.{k}" if name else k, v)

    for top, table in raw.items():
        if top == "levers":  # decisions, with low/high ranges but no distribution
            continue
        if top == "clouds":
            table = {k: v for k, v in table.items() if k not in off}
        for section in ("generations", "campuses"):
            if isinstance(table, dict) and section in table:
                table = {**table, section: {k: v for k, v in table[section].items()
                                            if v.get("cloud", "aws") not in off}}
        walk(top, table)
    return found


def test_the_lister_finds_every_distribution_of_the_default_scenario(default_scenario):
    raw = _raw_uncertain(_raw_default())
    names = [i.name for i in uncertain_inputs(default_scenario)]
    assert len(names) == len(set(names))
    assert set(names) == raw
    # The growth process's inputs and the list-held ones: 12 quarters of Trainium2.
    assert {"demand.growth_persistence", "demand.growth_volatility"} <= raw
    assert sum("quarterly_output[" in n for n in raw) == 12
    print(f"uncertain inputs of the default scenario: {len(names)}")


def test_every_input_has_its_unit_bounds_and_current_value(default_scenario):
    for i in uncertain_inputs(default_scenario):
        lo, hi = i.bounds
        assert lo < hi and i.unit
        assert lo <= i.current(default_scenario) <= hi
        v = [i.value(u) for u in (0.0, 0.25, 0.5, 0.75, 1.0)]
        assert v == sorted(v) and lo <= v[0] and v[-1] <= hi
    q = next(i for i in uncertain_inputs(default_scenario)
             if i.name == "supply.generations.trainium2.quarterly_output[3]")
    assert (q.bounds, q.current(default_scenario)) == ((133000.0, 247000.0), 190000.0)
    assert q.unit.startswith("chips per quarter")
    customers = next(i for i in uncertain_inputs(default_scenario)
                     if i.name == "demand.enterprise.customers")
    assert customers.whole and customers.value(0.37) == round(customers.value(0.37))


def _leaves(obj, name=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{name}.{k}" if name else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{name}[{i}]")
    else:
        yield name, obj


def _changed(a, b) -> set[str]:
    la, lb = dict(_leaves(a)), dict(_leaves(b))
    return {k for k in la.keys() | lb.keys() if la.get(k) != lb.get(k)}


@pytest.mark.parametrize("name,value,changes", [
    ("demand.growth_start", 5.0,
     # the parameter table becomes {value, unit, source} (a constant has no vintage)
     {"demand.growth_start." + k for k in
      ("dist", "low", "mode", "high", "value", "source", "as_of")}),
    ("supply.generations.trainium2.quarterly_output[4]", 200000.0,
     {f"supply.generations.trainium2.quarterly_output.{k}[4]" for k in
      ("values", "low", "high")}),
])
def test_pinning_a_list_held_input_changes_exactly_that_value(name, value, changes):
    b = Builder(None, [PRIORS])
    before = tomllib.loads(to_toml(b.base))
    pinned = b.pin({name: value})
    after = tomllib.loads(to_toml(pinned))
    assert _changed(before, after) == changes
    inputs = {i.name: i for i in uncertain_inputs(pinned)}
    assert name not in inputs and len(inputs) == len(b.inputs) - 1
    assert b.inputs[name].current(pinned) == value
    for n, i in inputs.items():  # every other input keeps its distribution and value
        assert i.prior == b.inputs[n].prior and i.current(pinned) == i.current(b.base)


def test_pinned_values_round_trip(tmp_path):
    b = Builder(None, ["scenario.end=2026-01-01"])
    rng = np.random.default_rng(7)
    u = rng.random(len(b.inputs))
    values = {n: i.value(q) for (n, i), q in zip(b.inputs.items(), u, strict=True)}
    pinned = b.pin(values)
    # Every input pinned: nothing uncertain is left, and each reads back its value ...
    assert uncertain_inputs(pinned) == []
    assert {n: i.current(pinned) for n, i in b.inputs.items()} == values
    # ... also from the scenario's TOML file, and through a second pin at the same values.
    path = tmp_path / "pinned.toml"
    path.write_text(to_toml(pinned))
    again = load(path)[0]
    assert {n: i.current(again) for n, i in b.inputs.items()} == values
    assert to_toml(Builder(path).base) == to_toml(pinned)
    # Overrides and pins together: the override first, then the pins.
    both = b.build(["demand.batch_discount=0.4"], {"datacenters.pue": 1.1})
    assert both.demand.batch_discount.base == 0.4 and both.datacenters.pue.base == 1.1


def test_pinning_refuses_unknown_inputs_and_values_the_schema_refuses():
    b = Builder()
    # A count is pinned to a whole number (the schema refuses a fractional constant count).
    assert b.pin({"demand.enterprise.customers": 41234.6}).demand.enterprise.customers.base \
        == 41235.0
    with pytest.raises(ScenarioError, match="not an uncertain input"):
        b.pin({"demand.growth_by_period[9].rate": 2.0})
    with pytest.raises(ScenarioError) as exc:
        b.pin({"demand.cloud_share": 1.5}, "design point")
    assert exc.value.source == "design point" and "cloud_share" in exc.value.problems[0]


def test_sensitivity_varies_list_held_inputs(tmp_path):
    b = Builder(None, ["scenario.end=2026-09-01"])
    consumer = gsa.choose_inputs(b, ["demand.consumer"])
    assert consumer and all(i.name.startswith("demand.consumer.") for i in consumer)
    assert len(gsa.choose_inputs(b, ["supply.generations.trainium2.quarterly_output"])) == 12
    assert len(gsa.choose_inputs(b, [])) == len(b.inputs)
    out = tmp_path / "gsa"
    assert main(["sensitivity", "--method", "sobol", "--param", "demand.growth_start",
                 "--param", "demand.growth_volatility", "--param", "demand.growth_persistence",
                 "--param", "supply.generations.trainium2.quarterly_output[5]", "--samples", "2",
                 "--set", "scenario.end=2026-09-01", "--out", str(out), "-w", "1",
                 "--executor", "serial", "--no-progress", "--kpi", "revenue_total_usd",
                 "--kpi", "lost_revenue_total_usd"]) == 0
    r = json.loads((out / "sensitivity.json").read_text())
    names = ["demand.growth_start", "demand.growth_volatility", "demand.growth_persistence",
             "supply.generations.trainium2.quarterly_output[5]"]
    assert r["params"] == names and r["points"] == 2 * (4 + 2)
    assert {e["param"] for e in r["kpis"]["revenue_total_usd"]["inputs"]} == set(names)
    # Each point ran with its own pinned inputs, on the same seeds: between two points that
    # differ only in the 2024 growth rate, demand (served plus unserved revenue) moves
    # with that rate.
    design = pd.read_parquet(out / "design.parquet").set_index("point").sort_index()
    res = pd.read_parquet(out / "results.parquet").set_index("point").sort_index()
    demand = res["revenue_total_usd"] + res["lost_revenue_total_usd"]
    u = design[[f"u__{n}" for n in names]].to_numpy()
    pairs = [(p, q) for p in range(len(u)) for q in range(p + 1, len(u))
             if u[p, 0] != u[q, 0] and (u[p, 1:] == u[q, 1:]).all()]
    assert pairs
    for p, q in pairs:
        rate = design[names[0]]
        assert np.sign(demand.iloc[q] - demand.iloc[p]) == np.sign(rate.iloc[q] - rate.iloc[p])
