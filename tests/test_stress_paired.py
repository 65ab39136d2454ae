"""Stress raises unmet demand: paired runs of the default scenario on the same seeds.

Twenty replications of the default scenario, unstressed and stressed, on the same seed
(common random numbers, so each replication's difference is the stress's effect), with the
uncertain inputs drawn as a default run draws them (the shipped posterior) and, apart, from
the priors (the mechanism over the whole prior range). Each stress must raise
`unmet_demand_share` with a paired 95% interval above zero:
- every power-on from the evaluation start delayed by 365 days;
- a 75% cut of Trainium3 and Trainium4 output for the scenario: each generation's share
  of output scaled by a quarter (its low, mode and high alike, so that every replication
  draws a quarter of the share it draws unstressed).
The test prints each difference; run with `-s` to see them.
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


def _unmet(tmp_path, name: str, overrides: list[str], prior: bool):
    run = capsim.run(replications=REPLICATIONS, seed=SEED, workers=2, overrides=overrides,
                     out=tmp_path / name, progress=False, prior=prior)
    kp = run.kpis  # indexed by replication, in order
    assert len(kp) == REPLICATIONS
    return kp["unmet_demand_share"].to_numpy()


SOURCES = {"posterior": False, "priors": True}
"""Where the uncertain inputs come from: prior=False is a default run (the posterior)."""


@pytest.fixture(scope="module")
def unstressed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paired")
    cache: dict[str, object] = {}

    def get(source: str):
        if source not in cache:
            cache[source] = _unmet(tmp, f"base-{source}", [], SOURCES[source])
        return cache[source]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("stress", sorted(STRESSES))
def test_a_stress_raises_unmet_demand_with_a_paired_interval_above_zero(
        unstressed, tmp_path, stress, source):
    base = unstressed(source)
    stressed = _unmet(tmp_path, stress, STRESSES[stress], SOURCES[source])
    d = paired_difference(base, stressed)
    lo, hi = d["diff_ci95"]
    print(f"{stress} ({source}): unmet_demand_share {base.mean():.4f} -> "
          f"{stressed.mean():.4f}, paired difference {d['diff_mean']:+.4f} "
          f"[{lo:+.4f}, {hi:+.4f}], {int((stressed < base).sum())} of {REPLICATIONS} "
          "replications lower")
    assert d["n"] == REPLICATIONS
    assert lo > 0, (stress, source, d)
