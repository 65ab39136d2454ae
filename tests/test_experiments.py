"""Experiment scripts run end to end (tiny: 2 replications, one year) and conclude.

Each question runs once per module (`ran`); the runs are CI's (slow), the quick loop
checks the list of questions and the refusal of an unknown one.
"""

from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest
from capsim.experiments.cli import EXPERIMENTS, main
from conftest import PRIORS

# From the priors, as the other tests of the model's mechanics (conftest.PRIORS).
TINY = ["-n", "2", "--workers", "1", "--set", "scenario.end=2027-04-01", "--set", PRIORS]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Run an experiment once per module, tiny: (exit code, stdout, --out folder)."""
    cache: dict[str, tuple[int, str, object]] = {}

    def run(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                rc = main(["experiment", name, *TINY, "--out", str(out)])
            cache[name] = (rc, buf.getvalue(), out)
        return cache[name]

    return run


def kpi(run_dir, name: str) -> pd.Series:
    """One KPI of a run directory, by replication."""
    return pd.read_parquet(run_dir / "kpis.parquet").set_index("replication")[name].sort_index()


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_and_concludes(name, ran):
    rc, out, folder = ran(name)
    assert rc == 0 and "Conclusion:" in out
    # A run directory, or a plan's check runs / a sensitivity design's indices.
    assert any(folder.rglob("summary.json")) or any(folder.rglob("sensitivity.json"))


@pytest.mark.slow
def test_multi_cloud_uses_the_multicloud_scenario(ran):
    rc, out, folder = ran("multi_cloud")
    assert rc == 0
    for variant in ("aws-only", "multi-cloud"):
        manifest = json.loads((folder / variant / "manifest.json").read_text())
        assert manifest["scenario"] == "anthropic-multicloud-2026"
    # Same seed and replications: the comparison is paired.
    assert json.loads((folder / "aws-only" / "manifest.json").read_text())["seed"] == \
        json.loads((folder / "multi-cloud" / "manifest.json").read_text())["seed"]
    assert "lost revenue" in out and "P(some month not fully served)" in out


def _ordered(ran, name: str, a: str, b: str) -> tuple[str, pd.Series, pd.Series]:
    """Run an experiment (cached); its output and ordered_mw of variants a and b."""
    rc, out, folder = ran(name)
    assert rc == 0
    return out, kpi(folder / a, "ordered_total_mw"), kpi(folder / b, "ordered_total_mw")


@pytest.mark.slow
def test_milestone_funding_orders_capacity_only_when_funded(ran):
    # Acceptance: tranches that spend nothing on capacity order nothing, in every
    # replication; the default tranches (the first fires at the start) always order some.
    out, without, with_ = _ordered(ran, "milestone_funding", "without-funded-capacity",
                                   "with-funded-capacity")
    assert (without == 0.0).all()
    assert (with_ > 0.0).all()
    assert "unserved share" in out and "lost revenue, $B" in out


@pytest.mark.slow
def test_procurement_forecast_orders_at_least_the_plan(ran):
    out, plan, forecast = _ordered(ran, "procurement", "plan", "forecast")
    assert (plan == 0.0).all()  # tranches buy no capacity in this experiment
    # Ordering ahead never orders less than the plan. Whether it orders at all in two short
    # replications depends on their draws; tests/test_supply.py checks that it does order
    # when demand outgrows the plan.
    assert (forecast >= plan).all()
    assert "MW ordered on average" in out
    assert "pay" in out.split("Conclusion:")[1]


def test_experiment_list_and_unknown(capsys):
    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in EXPERIMENTS)
    assert main(["experiment", "baseline2"]) == 2
    assert "did you mean 'baseline'" in capsys.readouterr().err
