"""Stress raises unmet demand: paired runs of the default scenario on the same seeds.

Twenty replications of the default scenario drawn from its priors (the mechanism, not the
posterior's twenty rows: with them a power-on delay lowers unmet demand in some rows, and
twenty replications do not settle the sign), unstressed and stressed, on the same seed
(common random numbers, so each replication's difference is the stress's effect). Each
stress must raise `unmet_demand_share` with a paired 95% interval above zero:
- every power-on from the evaluation start delayed by 365 days;
- a 75% cut of Trainium3 and Trainium4 output for the scenario: each generation's share
  of output scaled by a quarter (its low, mode and high alike, so that every replication
  draws a quarter of the share it draws unstressed).
"""

from __future__ import annotations

import pytest
from capsim.models.scenario import load
from capsim.simcore.stats import paired_difference

import capsim

REPLICATIONS = 20
SEED = 2026
CUT = 0.25
"""What a 75% cut leaves of the output."""


def _output_cut(generations: tuple[str, ...] = ("trainium3", "trainium4")) -> list[str]:
    """Overrides that scale each generation's share of output by `CUT`."""
    sc = load(None)[0]
    out = []
    for g in generations:
        share = sc.supply.generations[g].share.as_toml()
        assert share["dist"] == "triangular", (g, share)
        out += [f"supply.generations.{g}.share.{k}={share[k] * CUT!r}"
                for k in ("low", "mode", "high")]
    return out


STRESSES = {
    "power_on_delay_365d": ["datacenters.power_on_delay_days=365"],
    "trainium3_4_output_cut_75pct": _output_cut(),
}


def _unmet(tmp_path, name: str, overrides: list[str]):
    run = capsim.run(replications=REPLICATIONS, seed=SEED, workers=2, overrides=overrides,
                     out=tmp_path / name, progress=False, prior=True)
    kp = run.kpis  # indexed by replication, in order
    assert len(kp) == REPLICATIONS
    return kp["unmet_demand_share"].to_numpy()


@pytest.fixture(scope="module")
def unstressed(tmp_path_factory):
    return _unmet(tmp_path_factory.mktemp("paired"), "base", [])


@pytest.mark.slow
@pytest.mark.parametrize("stress", sorted(STRESSES))
def test_a_stress_raises_unmet_demand_with_a_paired_interval_above_zero(
        unstressed, tmp_path, stress):
    stressed = _unmet(tmp_path, stress, STRESSES[stress])
    d = paired_difference(unstressed, stressed)
    lo, hi = d["diff_ci95"]
    print(f"{stress}: unmet_demand_share {unstressed.mean():.4f} -> {stressed.mean():.4f}, "
          f"paired difference {d['diff_mean']:+.4f} [{lo:+.4f}, {hi:+.4f}], "
          f"{int((stressed < unstressed).sum())} of {REPLICATIONS} replications lower")
    assert d["n"] == REPLICATIONS
    assert lo > 0, (stress, d)
