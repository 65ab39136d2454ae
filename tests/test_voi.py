"""Preposterior analysis recovers the closed-form value of information of a toy decision."""

import numpy as np
import pytest
from capsim.simcore import voi


def _toy(s, seed, mu=1.0, sigma=2.0, breakeven=1.5, slope=3.0):
    theta = np.random.default_rng(seed).normal(mu, sigma, s)
    loss = np.column_stack([np.zeros(s), slope * (breakeven - theta)])
    return theta, loss


def test_evpi_matches_the_normal_linear_loss_formula():
    theta, loss = _toy(400_000, 1)
    exact, _ = voi.linear_loss_values(1.0, 2.0, 1.5, 3.0)
    assert voi.evpi(loss) == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("noise_sd", [0.5, 2.0, 6.0])
def test_evsi_by_grouping_matches_the_formula(noise_sd):
    theta, loss = _toy(200_000, 2)
    signal = theta + np.random.default_rng(3).normal(0, noise_sd, len(theta))
    r = voi.preposterior(loss, signal)
    _, exact = voi.linear_loss_values(1.0, 2.0, 1.5, 3.0, noise_sd)
    assert r.evsi == pytest.approx(exact, rel=0.05, abs=0.01)
    assert r.action_now == 0                      # mu < breakeven: do not act now
    # more noise, less value; never more than perfect information
    assert r.evsi <= voi.evpi(loss) + 1e-12


def test_an_uninformative_signal_is_worth_about_nothing():
    theta, loss = _toy(20_000, 4)
    junk = np.random.default_rng(5).normal(size=len(theta))
    r = voi.preposterior(loss, junk)
    assert abs(r.evsi) < 4 * r.evsi_se + 0.02
    assert r.evsi < 0.1 * voi.evpi(loss)


def test_noisy_is_reproducible_and_scales_with_the_error():
    v = np.full(10_000, 100.0)
    a = voi.noisy(v, 0.1, np.random.default_rng(7))
    b = voi.noisy(v, 0.1, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert np.std(a) == pytest.approx(10.0, rel=0.05)
    with pytest.raises(ValueError):
        voi.preposterior(np.zeros((3, 2)), np.zeros(3))


# ------------------------------------------------------------ capsim value-of-information
SHORT = ["scenario.end=2027-09-01"]


def test_value_of_information_pipeline_is_reproducible_from_the_seed(tmp_path):
    from capsim.experiments.pipelines import voi as pipeline

    spec = pipeline.VoiSpec(overrides=SHORT, states=8, plans=3, workers=1, executor="serial",
                            seed=3)
    a = pipeline.value_of_information(spec, tmp_path / "a")
    b = pipeline.value_of_information(spec, tmp_path / "b")
    assert len(a["observations"]) >= 4
    assert [e["observation"] for e in a["observations"]] == [
        e["observation"] for e in b["observations"]]
    assert [e["evsi_usd"] for e in a["observations"]] == [e["evsi_usd"] for e in b["observations"]]
    assert (tmp_path / "a/plots/value_of_information.png").exists()
    # preposterior values never exceed perfect information (same states), up to the
    # rounding of sums of losses of hundreds of billions of dollars
    slack = 1e-12 * abs(a["expected_loss_now_usd"])
    assert a["evpi_usd"] >= -slack
    for e in a["observations"]:
        assert -slack <= e["evsi_usd"] <= a["evpi_usd"] + slack
    # the same command again reuses the replications (nothing new to run): same answer
    again = pipeline.value_of_information(spec, tmp_path / "a")
    assert again["observations"] == a["observations"]


def test_value_of_information_cli_refuses_bad_input(tmp_path, capsys):
    from capsim.experiments.cli import main

    assert main(["value-of-information", "--states", "4", "--out", str(tmp_path / "v")]) == 2
    assert "--states" in capsys.readouterr().err
    # an observation after the run's end is refused, naming its key
    assert main(["value-of-information", "--set", "scenario.end=2026-12-01", "--out",
                 str(tmp_path / "w")]) == 2
    assert "value_of_information.observations" in capsys.readouterr().err
