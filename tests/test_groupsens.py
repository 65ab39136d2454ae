"""Grouped, converging Sobol' indices: known answers of test functions are recovered."""

import numpy as np
from capsim.simcore import groupsens
from capsim.simcore.sensitivity import ishigami, ishigami_indices


def _ev(f):
    return lambda x: {"y": f(x)}


def test_ishigami_recovered_within_005_first_and_total_order():
    names = ["x1", "x2", "x3"]
    conv = groupsens.converge_sobol(names, names, _ev(ishigami), ["y"], seed=11, n0=256,
                                    max_points=50000, target=0.03)
    assert conv.converged, conv.stop_reason
    s1, st = ishigami_indices()
    r = conv.final.indices["y"]
    assert np.max(np.abs(r["S1"] - s1)) <= 0.05
    assert np.max(np.abs(r["ST"] - st)) <= 0.05
    # each step reuses the points of the one before and N doubles
    ns = [s.n for s in conv.steps]
    assert ns == [256 * 2**i for i in range(len(ns))]


def test_grouped_function_recovered_and_groups_differ_from_inputs():
    names = [f"x{i}" for i in range(1, 6)]
    groups = groupsens.GROUPED_TEST_GROUPS
    conv = groupsens.converge_sobol(names, groups, _ev(groupsens.grouped_test_function), ["y"],
                                    seed=5, n0=256, max_points=50000, target=0.03)
    assert conv.converged
    s1, st = groupsens.grouped_test_indices()
    r = conv.final.indices["y"]
    assert np.max(np.abs(r["S1"] - s1)) <= 0.05
    assert np.max(np.abs(r["ST"] - st)) <= 0.05
    assert conv.groups == ["A", "B", "C"]
    # the interaction: group B has no first-order effect but a total one
    assert r["ST"][1] - r["S1"][1] > 0.05


def test_budget_stops_and_says_so():
    names = ["x1", "x2", "x3"]
    conv = groupsens.converge_sobol(names, names, _ev(ishigami), ["y"], seed=1, n0=16,
                                    max_points=200, target=0.001)
    assert not conv.converged
    assert conv.stop_reason.startswith("budget")
    assert conv.final.points <= 200


def test_morris_screens_out_an_inert_group_and_delta_ranks_inputs():
    names = ["a", "b", "c", "inert"]
    groups = ["g1", "g1", "g2", "g3"]

    def f(x):
        return {"y": 4 * x[:, 0] + x[:, 1] + 2 * x[:, 2] ** 2 + 0 * x[:, 3]}

    scr = groupsens.morris_groups(names, groups, f, trajectories=20, seed=3)
    assert groupsens.screened(scr, groups) == ["g1", "g2"]
    rng = np.random.default_rng(0)
    x = rng.random((2000, 4))
    d = groupsens.delta_indices(names, x, f(x)["y"], seed=0)
    assert d["delta"][0] > d["delta"][2] > d["delta"][3]
    assert d["delta"][3] < d["delta"][0] / 3
