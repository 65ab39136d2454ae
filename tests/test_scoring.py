"""Proper scores: ensemble CRPS against the normal's closed form, interval score, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from capsim.simcore.scoring import (
    central_band,
    coverage,
    crps_normal,
    crps_sample,
    in_band,
    interval_score,
    share_inside,
)


def test_crps_of_a_large_normal_ensemble_matches_the_closed_form():
    rng = np.random.default_rng(7)
    mu, sd = 3.0, 2.0
    samples = rng.normal(mu, sd, size=(5, 40_000))
    observed = np.array([-1.0, 2.0, 3.0, 4.5, 9.0])
    got = crps_sample(samples, observed)
    want = crps_normal(mu, sd, observed)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=0.02)


def test_crps_sample_equals_the_pairwise_definition():
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, size=(4, 37))
    y = np.array([0.1, 1.0, 2.5, 10.0])
    pairwise = (np.abs(x - y[:, None]).mean(axis=1)
                - 0.5 * np.abs(x[:, :, None] - x[:, None, :]).mean(axis=(1, 2)))
    np.testing.assert_allclose(crps_sample(x, y), pairwise, rtol=1e-12)


def test_crps_of_a_point_forecast_is_the_absolute_error_and_nan_is_left_out():
    assert float(crps_sample(np.full(10, 4.0), 1.5)) == pytest.approx(2.5)
    with_nan = np.array([1.0, np.nan, 2.0, 3.0])
    assert float(crps_sample(with_nan, 2.0)) == pytest.approx(float(crps_sample([1, 2, 3], 2.0)))
    assert np.isnan(crps_sample(np.full(3, np.nan), 1.0))


def test_a_wider_ensemble_centred_on_the_truth_scores_worse_than_a_sharp_one():
    rng = np.random.default_rng(11)
    z = rng.standard_normal(2000)
    assert float(crps_sample(z * 0.5, 0.0)) < float(crps_sample(z * 2.0, 0.0))


def test_interval_score_is_width_plus_penalised_miss():
    assert float(interval_score(1.0, 3.0, 2.0, 0.1)) == pytest.approx(2.0)
    assert float(interval_score(1.0, 3.0, 4.0, 0.1)) == pytest.approx(2.0 + 20.0 * 1.0)
    assert float(interval_score(1.0, 3.0, 0.5, 0.1)) == pytest.approx(2.0 + 20.0 * 0.5)
    # widening a band that already holds the value only costs width
    assert interval_score(0.0, 4.0, 2.0, 0.1) > interval_score(1.0, 3.0, 2.0, 0.1)
    with pytest.raises(ValueError):
        interval_score(0, 1, 0.5, 1.5)


def test_band_coverage_and_share_inside():
    rng = np.random.default_rng(5)
    samples = rng.normal(size=(200, 4000))
    lo, hi = central_band(samples, 0.9)
    truth = rng.normal(size=200)
    cov = coverage(lo, hi, truth)
    assert 0.83 <= cov <= 0.96
    assert in_band(1.0, 2.0, np.array([0.5, 1.0, 2.0, 2.5])).tolist() == [False, True, True, False]
    share = share_inside(np.array([[1.0, 2.0, 3.0, np.nan]]), 1.5, 3.0)
    assert share.tolist() == [pytest.approx(2 / 3)]
