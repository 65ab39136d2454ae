"""The plan's frontier and its fresh-seed ranking and selection, on a stand-in evaluator."""

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.pipelines import plan_select
from capsim.experiments.pipelines.plan_spec import PlanSpec
from capsim.models.decisions import headline_kpi
from capsim.models.inputs import Builder


def _cands(risks, costs):
    return pd.DataFrame({"candidate": [f"t{i}" for i in range(len(risks))], "risk": risks,
                         "risk_lo": np.array(risks) * 0.5, "risk_hi": np.array(risks) * 1.5,
                         "cost": costs, "n": 8})


def _spec(**kw):
    s = PlanSpec(**kw)
    s.resolve(Builder(None, []).base)
    return s


def test_frontier_is_the_undominated_set_and_says_when_the_target_is_out_of_reach():
    spec = _spec(max_risk=0.01)
    f = plan_select.frontier(_cands([0.05, 0.03, 0.04, 0.02], [1.0, 2.0, 3.0, 4.0]), spec)
    assert [e["candidate"] for e in f["pareto"]] == ["t3", "t1", "t0"]
    assert f["lowest_risk"]["candidate"] == "t3" and f["lowest_risk"]["risk"] == 0.02
    assert not f["target_reachable"]
    assert plan_select.frontier(_cands([0.005, 0.03], [2.0, 1.0]), spec)["target_reachable"]


class FakeEvaluator:
    """Candidate i costs base_i + a common (CRN) term + its own noise, per replication."""

    def __init__(self, base_costs, risks):
        self.base, self.risks = base_costs, risks

    def run_many(self, jobs):  # noqa: D102
        out = {}
        for key, _overrides, n, seed, _ in jobs:
            name = key.split(":", 1)[1]
            i = int(name[1:])
            common = np.random.default_rng(seed).normal(0, 5.0, n)
            own = np.random.default_rng([seed, i]).normal(0, 0.5, n)
            cost = self.base[i] + common + own
            out[key] = pd.DataFrame({"spend_usd": cost, headline_kpi(): self.risks[i] + 0 * cost,
                                     "short": 0.0}, index=pd.RangeIndex(n, name="replication"))
        return out


@pytest.fixture
def base():
    return Builder(None, []).base


def test_certify_keeps_the_cheapest_feasible_plan_with_high_pcs(base, monkeypatch):
    monkeypatch.setattr(plan_select, "plan_overrides", lambda sc, p: [])
    cands = _cands([0.001, 0.001, 0.001, 0.5], [10.0, 11.0, 12.0, 1.0])
    for k in base.levers:
        cands[k] = 0
    spec = _spec(max_risk=0.01, certify_max=200, certify_batch=5)
    spec.indifference = 0.02                     # ties below 2% of ~11: 0.22
    ev = FakeEvaluator([10.0, 11.0, 12.0, 1.0], [0.001] * 3 + [0.5])
    r = plan_select.certify(spec, ev, base, cands, ["t0", "t1", "t2", "t3"])
    assert r["candidates"] == ["t0", "t1", "t2"]   # the infeasible cheap one is not compared
    assert r["chosen"] == "t0" and r["decided"] and r["pcs_nominal"] == 0.95
    assert r["pcs_estimate"] > 0.95
    d = r["paired_minus_chosen"]["t1"]["spend_usd"]
    assert d["diff_ci95"][0] > 0 and d["diff_mean"] == pytest.approx(1.0, abs=0.5)
    # common random numbers: the paired interval is far narrower than the common noise
    assert d["diff_ci95"][1] - d["diff_ci95"][0] < 2.0


def test_certify_compares_risk_when_no_plan_is_feasible(base, monkeypatch):
    monkeypatch.setattr(plan_select, "plan_overrides", lambda sc, p: [])
    cands = _cands([0.2, 0.1], [1.0, 2.0])
    for k in base.levers:
        cands[k] = 0
    spec = _spec(max_risk=0.01, certify_max=20, certify_batch=5)
    r = plan_select.certify(spec, FakeEvaluator([1.0, 2.0], [0.2, 0.1]), base, cands,
                            ["t0", "t1"])
    assert r["compared_on"] == "risk" and r["chosen"] == "t1"
