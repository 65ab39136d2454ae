"""Decision analysis: levers, uncertain inputs, Sobol'/Morris, PRIM, the plan search."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines import plan as planmod
from capsim.experiments.pipelines import plan_outputs
from capsim.models import decisions
from capsim.models.inputs import Builder, uncertain_inputs
from capsim.models.scenario import ScenarioError, load, parse_toml, resolve_path, validate_dict
from capsim.simcore import sensitivity as S

SHORT = ["scenario.end=2027-10-01"]


# ------------------------------------------------------------------ Sobol', Morris, PRIM
def test_sobol_recovers_ishigami_indices():
    names = ["x1", "x2", "x3"]
    x = S.sobol_design(names, 4096, seed=3)
    res = S.sobol_indices(names, S.ishigami(x), seed=3)
    s1, st = S.ishigami_indices()
    assert np.abs(res["S1"] - s1).max() < 0.05
    assert np.abs(res["ST"] - st).max() < 0.05
    total, lo, hi = S.sum_first_order(res)
    assert lo <= 1.0 and lo <= total <= hi
    # The intervals are honest: each true index lies within about its 95% half-width.
    assert (np.abs(res["S1"] - s1) <= 2 * res["S1_conf"] + 1e-3).all()


def test_sobol_of_an_additive_function_sums_to_one_and_finds_the_dummy():
    names = ["a", "b", "dummy"]
    x = S.sobol_design(names, 2048, seed=1)
    y = 2 * x[:, 0] + x[:, 1]  # additive: S1 = ST, sum 1; the third input does nothing
    res = S.sobol_indices(names, y, seed=1)
    assert abs(res["S1"].sum() - 1) < 0.05
    np.testing.assert_allclose(res["S1"], [0.8, 0.2, 0.0], atol=0.05)
    assert abs(res["ST"][2]) < 0.01


def test_morris_ranks_inputs_and_gives_a_dummy_no_effect():
    names = ["strong", "weak", "dummy"]
    x = S.morris_design(names, 40, seed=2)
    y = 10 * x[:, 0] + x[:, 1] ** 2
    r = S.morris_effects(names, x, y, seed=2)
    assert r["mu_star"][0] > r["mu_star"][1] > r["mu_star"][2]
    assert r["mu_star"][2] == pytest.approx(0, abs=1e-12)
    assert r["mu_star"][0] == pytest.approx(10, rel=1e-9)  # linear: every effect is 10


def test_prim_finds_a_two_input_box():
    rng = np.random.default_rng(0)
    x = rng.random((3000, 6))
    outcome = (x[:, 1] > 0.6) & (x[:, 4] < 0.4)
    box, path = S.prim(x, outcome)
    assert box is not None and len(path) > 1
    assert set(box.limits) >= {1, 4}
    assert box.limits[1][0] == pytest.approx(0.6, abs=0.05)
    assert box.limits[4][1] == pytest.approx(0.4, abs=0.05)
    assert box.density > 0.9 and box.coverage >= 0.5
    assert box.density > 3 * box.base_rate
    np.testing.assert_array_equal(box.contains(x).mean(), box.mass)
    # Densities never fall much along the peeling path; nothing to find gives no box.
    assert path[-1].density >= path[0].density
    assert S.prim(x, np.zeros(len(x), bool)) == (None, [])
    one, _ = S.prim(x, outcome, max_dims=1)
    assert one is not None and len(one.limits) <= 1


# ------------------------------------------------------------------ levers and inputs
def _default_data() -> dict:
    label, text = resolve_path(None)
    return parse_toml(label, text)


def test_default_scenario_declares_levers_with_units_and_sources():
    sc = load(None)[0]
    assert len(sc.levers) >= 6
    keys = {lv.key for lv in sc.levers.values()}
    assert "procurement.headroom" in keys
    assert any(k.startswith("datacenters.campuses.") for k in keys)
    assert any(k.startswith("supply.generations.") for k in keys)
    for lv in sc.levers.values():
        assert lv.unit and lv.source
    # Both ends of every lever make a valid scenario.
    b = Builder()
    for end in ("low", "high"):
        vals = {n: (lv.choices[-1] if lv.kind == "choice" else getattr(lv, end))
                for n, lv in sc.levers.items()}
        built = b.build(decisions.plan_overrides(sc, vals))
        for n, lv in sc.levers.items():
            got = decisions.lever_value(built, lv)
            assert got == (vals[n] if lv.kind != "int" else int(vals[n]))


@pytest.mark.parametrize("lever,message", [
    ({"key": "procurement.nope", "low": 0, "high": 1, "unit": "u", "source": "s"},
     "levers.x.key: no scenario key 'procurement.nope'"),
    ({"key": "procurement.headroom", "low": 2, "high": 1, "unit": "u", "source": "s"},
     "low < high"),
    ({"key": "procurement.headroom", "kind": "int", "low": 0.5, "high": 3, "unit": "u",
      "source": "s"}, "whole-number"),
    ({"key": "procurement.policy", "kind": "choice", "unit": "u", "source": "s"}, "choices"),
    ({"key": "procurement.headroom", "low": 1, "high": 2, "unit": "u"}, "source"),
])
def test_bad_levers_are_refused_naming_the_key(lever, message):
    data = _default_data()
    data["levers"] = {"x": lever}
    with pytest.raises(ScenarioError) as exc:
        validate_dict("f.toml", data)
    text = "\n".join(exc.value.problems)
    assert message in text and "levers" in text


def test_uncertain_inputs_are_the_non_constant_parameters_of_enabled_clouds():
    sc = load(None)[0]
    inputs = uncertain_inputs(sc)
    keys = [u.name for u in inputs]
    assert len(keys) >= 20 and len(set(keys)) == len(keys)
    assert "demand.growth_start" in keys and "datacenters.pue" in keys
    # List entries too: Trainium2's output per quarter.
    assert "demand.growth_volatility" in keys
    assert "supply.generations.trainium2.quarterly_output[11]" in keys
    off = ("tpu7x", "tpu-broadcom", "gb300", "nvidia-next", "google", "azure")
    assert not any(o in k for o in off for k in keys)  # switched-off clouds draw nothing
    assert all(u.bounds[1] > u.bounds[0] for u in inputs)
    assert "supply.generations.trainium2.uses.hbm" not in keys  # a constant
    multi = [u.name for u in uncertain_inputs(load("anthropic-multicloud-2026")[0])]
    assert any(k.startswith("supply.generations.tpu7x.") for k in multi)
    no_levers = [u.name for u in uncertain_inputs(sc, exclude_levers=True)]
    assert "supply.generations.trainium4.share" in keys
    assert "supply.generations.trainium4.share" not in no_levers
    assert len(no_levers) == len(keys) - len({lv.key for lv in sc.levers.values()} & set(keys))
    # Pinning at a quantile makes the parameter a constant at that quantile.
    u = next(x for x in inputs if x.name == "datacenters.pue")
    assert u.value(0.5) == pytest.approx(u.current(sc))
    built = Builder().build(pins={u.name: u.value(0.9)})
    assert built.datacenters.pue.spec.dist == "constant"
    assert built.datacenters.pue.base == pytest.approx(u.value(0.9))
    assert u.value(0.0) >= u.bounds[0] and u.value(1.0) <= u.bounds[1]


def test_short_months_follow_the_threshold_and_the_window():
    dates = np.arange(np.datetime64("2030-01-01"), np.datetime64("2030-05-01"))
    demand = np.full(dates.size, 100.0)
    unserved = np.zeros(dates.size)
    unserved[(dates >= np.datetime64("2030-02-01")) & (dates < np.datetime64("2030-02-04"))] = 10
    # February: 30 of 2,800 units unserved (1.07%); March: 0.
    w = decisions.Window(np.datetime64("2030-01-01").item(), np.datetime64("2030-05-01").item(),
                         0.01)
    np.testing.assert_array_equal(decisions.short_months(dates, demand, unserved, w),
                                  [False, True, False, False])
    w2 = decisions.Window(w.start, w.end, 0.02)
    assert not decisions.short_months(dates, demand, unserved, w2).any()
    w3 = decisions.Window(np.datetime64("2030-03-01").item(), w.end, 0.0)
    assert decisions.short_months(dates, demand, unserved, w3).size == 2


def test_search_outcomes_equal_the_outcomes_of_a_run_directory(tmp_path):
    """The search (evaluate in a worker) and the check (a run directory) measure alike."""
    import capsim

    b = Builder(None, SHORT)
    w = decisions.Window.default(b.base)
    # The default window and threshold are the scenario's, as the run's KPIs use them.
    meta = b.base.scenario
    assert (w.start, w.end) == (meta.evaluation_start, meta.end)
    assert w.threshold == b.base.service.short_month_threshold
    run = capsim.run(b.base, replications=2, seed=11, workers=1, out=tmp_path / "r",
                     progress=False)
    from_dir = decisions.run_outcomes(run.kpis, run.series("demand_potential_tps", "unmet_tps"), w)
    for rep in range(2):
        _, _, direct = decisions.evaluate("k", b.base, 11, rep, w)
        for k in decisions.OUTCOMES:
            assert direct[k] == pytest.approx(from_dir.loc[rep, k], rel=1e-12, abs=1e-12), k
        # So the plan's constraint is the run's short-month KPI.
        kp = run.kpis.loc[rep]
        assert from_dir.loc[rep, "short"] == kp["p_shortfall_any"]
        assert from_dir.loc[rep, "short_month_share"] == pytest.approx(kp["short_month_share"])
    # A run that ends before its window is evaluated over the whole run, as its KPIs are.
    early = Builder(None, ["scenario.end=2025-01-01"]).base
    assert (decisions.Window.default(early).start,
            decisions.Window.default(early).end) == (early.scenario.start, early.scenario.end)


# -------------------------------------------------------------------------- the plan
def _spec(**kw) -> planmod.PlanSpec:
    base = dict(overrides=list(SHORT), budget=4, reps=2, max_reps=4, check_reps=3, workers=1,
                executor="serial", robust=2, states=6, progress=False, seed=5,
                window="2026-10-01:2027-10-01")
    base.update(kw)
    return planmod.PlanSpec(**base)


@pytest.fixture(scope="module")
def plan_without_robustness(tmp_path_factory):
    """One search without the robustness check, shared: (its result, its directory)."""
    out = tmp_path_factory.mktemp("plan") / "ref"
    return planmod.plan(_spec(robust=0), out), out


# The whole search end to end, twice over: CI's (slow); the quick loop checks its parts.
@pytest.mark.slow
def test_plan_writes_a_runnable_plan_and_is_reproducible(tmp_path, capsys,
                                                         plan_without_robustness):
    r = planmod.plan(_spec(), tmp_path / "a")
    d = tmp_path / "a"
    for f in ("plan.toml", "schedule.csv", "candidates.parquet", "plots/pareto.png",
              "plan.json", "robustness.json", "check/plan/summary.json",
              "check/own/summary.json"):
        assert (d / f).exists(), f
    cands = pd.read_parquet(d / "candidates.parquet")
    assert len(cands) == 4
    assert ((cands["p_lo"] <= cands["p_short"]) & (cands["p_short"] <= cands["p_hi"])).all()
    assert r["fresh"]["seed"] == 6 and r["fresh"]["replications"] == 3
    # The paired difference is plan - own, replication by replication.
    kp = {k: pd.read_parquet(d / f"check/{k}/kpis.parquet").set_index("replication")
          for k in ("plan", "own")}
    # spend_usd: the clouds' bills plus the chips held at the supplier.
    spend = {k: v.filter(like="spend_total_usd__").sum(axis=1)
             + v["held_chip_cost_usd"].fillna(0.0) for k, v in kp.items()}
    assert r["paired_plan_minus_own"]["spend_usd"]["diff_mean"] == pytest.approx(
        (spend["plan"] - spend["own"]).mean(), rel=1e-9, abs=1.0)
    assert r["fresh"]["plan"]["spend_usd"] == pytest.approx(spend["plan"].mean(), rel=1e-9)
    sched = pd.read_csv(d / "schedule.csv")
    assert list(sched.columns) == ["what", "where", "when", "how_much", "unit", "basis"]
    assert (sched["how_much"] >= 0).all() and len(sched)
    # The plan file runs with `capsim run` and reproduces the check exactly (same seeds).
    assert main(["run", str(d / "plan.toml"), "--seed", "6", "-n", "3", "-w", "1",
                 "--out", str(tmp_path / "rerun"), "--no-progress"]) == 0
    a = pd.read_parquet(d / "check/plan/kpis.parquet").set_index("replication").sort_index()
    b = pd.read_parquet(tmp_path / "rerun/kpis.parquet").set_index("replication").sort_index()
    pd.testing.assert_frame_equal(a, b)
    # The plan's levers are in its scenario file.
    sc = load(d / "plan.toml")[0]
    for name, v in r["levers"].items():
        got = decisions.lever_value(sc, sc.levers[name])
        assert got == pytest.approx(v) if not isinstance(v, str) else got == v
    # Same seed, same search.
    c2 = pd.read_parquet(plan_without_robustness[1] / "candidates.parquet")
    cols = [c for c in cands.columns if c in c2.columns]
    pd.testing.assert_frame_equal(cands[cols].reset_index(drop=True),
                                  c2[cols].reset_index(drop=True))


@pytest.mark.slow
def test_plan_resumes_to_the_same_result(tmp_path, monkeypatch, plan_without_robustness):
    ref, ref_dir = plan_without_robustness
    calls = {"n": 0}
    real = planmod.Evaluator.run_many

    def stop_after_two(self, jobs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, jobs)

    monkeypatch.setattr(planmod.Evaluator, "run_many", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        planmod.plan(_spec(robust=0), tmp_path / "cut")
    assert json.loads((tmp_path / "cut/manifest.json").read_text())["status"] == "partial"
    monkeypatch.setattr(planmod.Evaluator, "run_many", real)
    again = planmod.plan(_spec(robust=0), tmp_path / "cut")
    assert again["levers"] == ref["levers"]
    a = pd.read_parquet(ref_dir / "candidates.parquet")
    b = pd.read_parquet(tmp_path / "cut/candidates.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_pareto_mask_keeps_only_undominated_points():
    risk = np.array([0.1, 0.2, 0.1, 0.3, 0.05])
    cost = np.array([5.0, 4.0, 6.0, 4.5, 9.0])
    np.testing.assert_array_equal(plan_outputs.pareto_mask(risk, cost),
                                  [True, True, False, False, True])


def test_plan_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["plan", "--max-shortfall", "1.5", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-shortfall" in err[0]
    assert main(["plan", "--window", "2030-01-01:2029-01-01", "--set", SHORT[0],
                 "--out", str(tmp_path / "q")]) == 2
    assert "--window" in capsys.readouterr().err


# ---------------------------------------------------------------- capsim sensitivity
def test_sensitivity_cli_sobol_runs_resumes_and_reanalyses(tmp_path, capsys):
    out = tmp_path / "gsa"
    args = ["sensitivity", "--method", "sobol", "--param", "demand.growth_start",
            "--param", "surges.magnitude", "--param", "datacenters.pue", "--samples", "2",
            "--set", "scenario.end=2027-01-01", "--out", str(out), "-w", "1",
            "--executor", "serial", "--no-progress", "--kpi", "unserved_fraction",
            "--kpi", "spend_usd"]
    assert main(args) == 0
    first = json.loads((out / "sensitivity.json").read_text())
    assert first["points"] == 2 * (3 + 2)
    res = pd.read_parquet(out / "results.parquet")
    assert len(res) == first["points"]
    assert (out / "plots/sobol_spend_usd.png").exists()
    # PUE raises the facility power of every chip: it must matter for spend... or not at
    # all, never negatively in total order beyond noise.
    e = first["kpis"]["spend_usd"]
    assert {i["param"] for i in e["inputs"]} == {"demand.growth_start", "surges.magnitude",
                                                  "datacenters.pue"}
    # Analysing again (nothing left to run) gives the same indices.
    capsys.readouterr()
    assert main(["sensitivity", str(out), "--no-progress"]) == 0
    assert json.loads((out / "sensitivity.json").read_text()) == first
    assert "Sobol sensitivity of spend_usd" in capsys.readouterr().out


def test_sensitivity_cli_bad_param_and_prcc_without_sweep_exit_2(tmp_path, capsys):
    assert main(["sensitivity", "--method", "sobol", "--param", "demand.nope",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "demand.nope" in err[0]
    assert main(["sensitivity", "--method", "prcc"]) == 2
    assert "sweep directory" in capsys.readouterr().err


def test_global_sensitivity_api_morris_and_a_dummy_input(tmp_path):
    import capsim

    # PUE sets how much IT power (billed) each facility MW holds; surges change demand,
    # not what is installed and billed, in half a year under the fixed plan.
    r = capsim.global_sensitivity(
        method="morris", params=["datacenters.pue", "surges.magnitude"], samples=3,
        overrides=["scenario.end=2026-10-01"], out=tmp_path / "m", workers=1,
        executor="serial", kpis=["spend_usd"], progress=False)
    assert r["points"] == 3 * (2 + 1)
    e = {x["param"]: x for x in r["kpis"]["spend_usd"]["inputs"]}
    assert e["datacenters.pue"]["mu_star"] > 0
    assert e["surges.magnitude"]["mu_star"] < e["datacenters.pue"]["mu_star"]
