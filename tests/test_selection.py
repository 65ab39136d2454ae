"""Ranking and selection (KN): the best system is kept at least as often as promised."""

import numpy as np
import pytest
from capsim.simcore import selection


def _systems(means, sd, common, seed):
    """Normal outputs; `common` shares of variance come from a shared (CRN) draw per rep."""
    means = np.asarray(means, float)
    rng = np.random.default_rng(seed)

    def sample(systems, first, count):
        z0 = rng.standard_normal((count, 1))
        z = rng.standard_normal((count, len(means)))
        x = np.sqrt(common) * z0 + np.sqrt(1 - common) * z
        return means[systems] + sd * x[:, systems]
    return sample


def test_kn_pcs_at_least_nominal_in_the_slippage_configuration():
    delta, alpha, macro = 0.5, 0.1, 300
    means = [0.0, delta, delta, delta, delta]   # system 0 is best, by exactly delta
    hits = 0
    for m in range(macro):
        r = selection.kn_select(_systems(means, 1.0, 0.5, m), 5, n0=10, delta=delta,
                                alpha=alpha, max_n=5000)
        assert r.decided
        hits += r.best == 0
    pcs = hits / macro
    # PCS >= 1 - alpha; allow two binomial standard errors of the estimate
    assert pcs >= 1 - alpha - 2 * np.sqrt(alpha * (1 - alpha) / macro)


def test_crn_needs_fewer_replications_and_pcs_estimate_is_high_when_clear():
    means = [1.0, 0.0, 1.5]
    ind = [selection.kn_select(_systems(means, 1.0, 0.0, s), 3, delta=0.3, max_n=5000)
           for s in range(20)]
    crn = [selection.kn_select(_systems(means, 1.0, 0.9, s), 3, delta=0.3, max_n=5000)
           for s in range(20)]
    assert all(r.best == 1 for r in ind + crn)
    assert np.mean([sum(r.replications) for r in crn]) < np.mean(
        [sum(r.replications) for r in ind])
    r = crn[0]
    paired = selection.paired_to_best(r.data, r.best)
    assert paired[1]["diff_mean"] == 0
    assert paired[0]["diff_ci95"][0] > 0          # system 0 is worse than the chosen
    assert selection.pcs_bonferroni(paired, r.best) > 0.95


def test_max_n_stops_and_says_undecided():
    r = selection.kn_select(_systems([0.0, 0.0, 0.0], 1.0, 0.0, 1), 3, n0=5, delta=0.01,
                            max_n=20, batch=5)
    assert not r.decided and len(r.survivors) > 1
    assert max(r.replications) == 20


def test_bad_arguments_refused():
    with pytest.raises(ValueError):
        selection.kn_constant(1, 10, 0.05)
    with pytest.raises(ValueError):
        selection.kn_select(_systems([0, 1], 1, 0, 0), 2, n0=10, max_n=5)
