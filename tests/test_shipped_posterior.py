"""The default scenario forecasts from its joint posterior, shipped with capsim.

- The shipped posterior still applies: the priors it was drawn from, the observation file
  it was fitted to and the model's simulated history it was matched on are the current
  ones (else: calibrate again and ship, see experiments/tools/ship_posterior.py).
- A run of the default says in its manifest that its inputs come from that posterior,
  with 1 and 2 workers alike; `--prior` gives back the priors' run that the golden digest
  pins.
- Pinned inputs (a design point, a sweep) switch a named posterior off.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.tools import ship_posterior
from capsim.models.inputs import Builder, uncertain_inputs
from capsim.models.posterior import (
    PosteriorDraws,
    describe,
    posterior_path,
    priors_digest,
    read_posterior,
)
from golden_digest import GOLDEN, SEED

import capsim

NAME = "aws-anthropic-2026"


@pytest.fixture(scope="module")
def info() -> dict:
    path = posterior_path(NAME)
    return json.loads(path.with_name(f"{NAME}.posterior.json").read_text())


def test_the_default_names_a_shipped_posterior_that_reads(info):
    sc = capsim.load()
    assert sc.scenario.posterior == NAME
    post = read_posterior(NAME, sc)
    assert len(post.weights) == info["accepted"] >= 20
    assert abs(post.weights.sum() - 1) < 1e-12
    # Every uncertain input is drawn from it (none left to its prior).
    assert set(post.names) == {i.name for i in uncertain_inputs(sc)}
    assert info["held_out"] == [] and info["observations_fitted"] >= 15
    assert {"independent", "input-echo"} <= set(info["fitted_by_kind"])


def test_the_shipped_posterior_is_current(info):
    sc = capsim.load(None, ["scenario.posterior=''"])
    redo = ("calibrate again and ship: capsim calibrate --out CAL --points 12000; "
            "python -m capsim.experiments.tools.ship_posterior CAL")
    assert info["priors_sha256"] == priors_digest(sc), f"the priors changed; {redo}"
    _, text = ship_posterior.observations_text(sc)
    assert info["observations_sha256"] == hashlib.sha256(text.encode()).hexdigest(), (
        f"the observations changed; {redo}")
    golden = json.loads(GOLDEN.read_text())
    assert info["history_sha256"] == ship_posterior.history_digest(sc, golden), (
        f"the simulated history the posterior was matched on moved; {redo}")


def test_the_history_digest_moves_with_an_observed_series():
    sc = capsim.load(None, ["scenario.posterior=''"])
    golden = json.loads(GOLDEN.read_text())
    before = ship_posterior.history_digest(sc, golden)
    run = f"{NAME}/0"
    q = golden["runs"][run]["series.run_rate_reported_usd"]
    q["sha"] = "0" * 24  # another CPU's rounding: the same history
    q["sum"] *= 1 + 1e-13
    assert ship_posterior.history_digest(sc, golden) == before
    q["sum"] *= 1 + 1e-6  # a moved series
    assert ship_posterior.history_digest(sc, golden) != before
    q["sum"] /= (1 + 1e-6) * (1 + 1e-13)
    golden["runs"][run]["kpi.revenue_total_usd"]["value"] = 1.0  # not observed
    assert ship_posterior.history_digest(sc, golden) == before


def _kpis(run_dir) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "kpis.parquet").sort_values("replication")


@pytest.mark.slow
def test_runs_draw_from_the_posterior_alike_on_1_and_2_workers(tmp_path):
    dirs = []
    for w in (1, 2):
        out = tmp_path / f"w{w}"
        assert main(["run", "-n", "3", "--seed", "7", "-w", str(w), "--out", str(out),
                     "--no-progress"]) == 0
        dirs.append(out)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["inputs"]["draws"] == "joint posterior"
        assert manifest["inputs"]["posterior"] == NAME
        assert manifest["inputs"]["fitted"]["observations_fitted"] >= 15
    a, b = (_kpis(d) for d in dirs)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.slow
def test_prior_gives_back_the_pinned_prior_run(tmp_path):
    out = tmp_path / "prior"
    assert main(["run", "-n", "1", "--seed", str(SEED), "-w", "1", "--out", str(out),
                 "--no-progress", "--prior"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"] == {"draws": "priors"}
    stored = json.loads(GOLDEN.read_text())["runs"][f"{NAME}/0"]
    kpis = _kpis(out).iloc[0]
    checked = 0
    for q, d in stored.items():
        name = q.removeprefix("kpi.")
        if q.startswith("kpi.") and name in kpis and d.get("value") is not None:
            assert np.isclose(float(kpis[name]), d["value"], rtol=1e-9, atol=1e-12), name
            checked += 1
    assert checked >= 20
    # The posterior run of the same seed is another run.
    post = tmp_path / "post"
    assert main(["run", "-n", "1", "--seed", str(SEED), "-w", "1", "--out", str(post),
                 "--no-progress"]) == 0
    assert not _kpis(post).equals(_kpis(out))


def test_prior_and_posterior_together_are_refused(tmp_path, capsys):
    assert main(["run", "-n", "1", "--prior", "--posterior", str(tmp_path), "--out",
                 str(tmp_path / "x")]) == 2
    assert "--prior" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_pinned_inputs_switch_a_named_posterior_off():
    sc = capsim.load()
    assert describe(sc)["draws"] == "joint posterior"
    post = read_posterior(NAME, sc)
    pinned = Builder(sc).pin({post.names[0]: float(post.values[0, 0])})
    assert not pinned.scenario.posterior
    assert describe(pinned) == {"draws": "priors"}


def test_an_input_the_scenario_sets_is_not_drawn_from_the_posterior():
    base = read_posterior(NAME, capsim.load())
    name = "supply.pools.cowos.share"
    assert name in base.names
    fixed = capsim.load(None, [f"{name}=0.07"])
    assert name not in read_posterior(NAME, fixed).names
    changed = capsim.load(None, [f'{name}={{ dist = "triangular", low = 0.01, mode = 0.02, '
                                 'high = 0.03, unit = "share", source = "test" }'])
    post = read_posterior(NAME, changed)
    assert name not in post.names and len(post.names) == len(base.names) - 1
    draw = PosteriorDraws(changed, post).scenario(np.random.default_rng(0))
    # Other inputs are pinned to the row; this one keeps the scenario's own prior.
    assert draw.supply.pools["cowos"].share == changed.supply.pools["cowos"].share
    assert draw.supply.pools["hbm"].share != changed.supply.pools["hbm"].share
