"""Budgets checked before anything is allocated or written, by the CLI and the API alike.

Every budget has a stated limit (`checks.LIMITS`); a value beyond it, or a bad argument
of the API, is refused with the argument named and nothing left on disk; a scenario
whose replications would outgrow memory (surges' hourly windows included) is refused
with the amount needed.
"""

from __future__ import annotations

import os

import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines.checks import LIMITS
from capsim.models import validation
from capsim.models.scenario import ScenarioError, load

import capsim


@pytest.mark.parametrize("argv, name", [
    (["run", "-n", "1000000000"], "--replications"),
    (["run", "-n", "9" * 401], "--replications"),
    (["sweep", "--param", "surges.rate_per_year=1:5", "--samples", "100000000"], "--samples"),
    (["sensitivity", "--method", "sobol", "--samples", "10000000"], "--samples"),
    (["calibrate", "--points", "1000000000"], "--points"),
    (["plan", "--states", "1000000000"], "--states"),
    (["plan", "--budget", "100000000"], "--budget"),
])
def test_cli_budgets_beyond_their_limit_exit_2_naming_it(tmp_path, capsys, argv, name):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert name in err and ("limit" in err or "whole number" in err), err
    assert not out.exists()


def test_plot_dpi_beyond_its_limit_is_refused(tmp_path, capsys):
    assert main(["plot", str(tmp_path), "--dpi", "5000"]) == 2
    assert "--dpi" in capsys.readouterr().err
    with pytest.raises(capsim.UsageError, match="dpi"):
        capsim.plot(tmp_path, dpi=5000)


BAD_CALLS = {
    "calibrate points=0": (lambda o: capsim.calibrate(points=0, out=o), "points"),
    "calibrate points=-5": (lambda o: capsim.calibrate(points=-5, out=o), "points"),
    "calibrate points=1e9": (lambda o: capsim.calibrate(points=10**9, out=o), "points"),
    "calibrate cutoff=-1": (lambda o: capsim.calibrate(cutoff=-1, out=o), "cutoff"),
    "calibrate cutoff=nan": (lambda o: capsim.calibrate(cutoff=float("nan"), out=o), "cutoff"),
    "plan budget=0": (lambda o: capsim.plan(budget=0, out=o), "budget"),
    "plan states=1e9": (lambda o: capsim.plan(states=10**9, out=o), "states"),
    "plan reps=1.5": (lambda o: capsim.plan(reps=1.5, out=o), "reps"),
    "sweep {}": (lambda o: capsim.sweep({}, out=o), "params"),
    "sweep inverted": (lambda o: capsim.sweep({"surges.rate_per_year": (5, 1)}, out=o),
                       "surges.rate_per_year"),
    "sweep empty range": (lambda o: capsim.sweep({"surges.rate_per_year": (5, 5)}, out=o),
                          "surges.rate_per_year"),
    "sweep one bound": (lambda o: capsim.sweep({"surges.rate_per_year": (5,)}, out=o),
                        "surges.rate_per_year"),
    "sweep samples=1e8": (lambda o: capsim.sweep({"surges.rate_per_year": (1, 5)},
                                                 samples=10**8, out=o), "samples"),
    "sweep seed=-1": (lambda o: capsim.sweep({"surges.rate_per_year": (1, 5)}, seed=-1,
                                             out=o), "seed"),
    "sensitivity bootstrap=0": (lambda o: capsim.sensitivity(o, bootstrap=0), "bootstrap"),
    "global_sensitivity samples=1e7": (
        lambda o: capsim.global_sensitivity(samples=10**7, out=o), "samples"),
    "global_sensitivity executor": (
        lambda o: capsim.global_sensitivity(executor="gpu", out=o), "executor"),
    "run replications=1e9": (lambda o: capsim.run(replications=10**9, out=o), "replications"),
}


@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_api_arguments_are_refused_naming_them_with_nothing_on_disk(tmp_path, call):
    fn, name = BAD_CALLS[call]
    out = tmp_path / "out"
    before = set(os.listdir(tmp_path))
    with pytest.raises(capsim.UsageError, match=name):
        fn(out)
    assert not out.exists() and set(os.listdir(tmp_path)) == before


def test_every_budget_has_a_limit_the_parser_enforces():
    from capsim.experiments.pipelines.checks import int_at_least

    for name, top in LIMITS.items():
        parse = int_at_least(0, "--" + name.replace("_", "-"))
        assert parse(str(top)) == top
        with pytest.raises(Exception, match="limit"):
            parse(str(top + 1))


@pytest.mark.parametrize("rate", ["1e5", "1e3"])
def test_surges_outgrowing_memory_are_refused_with_the_amount(rate, monkeypatch):
    with pytest.raises(ScenarioError, match=r"surges.rate_per_year: .* GiB"):
        monkeypatch.setattr(validation, "available_memory", lambda: 4e9)
        load(None, [f"surges.rate_per_year={rate}"])
    monkeypatch.setattr(validation, "available_memory", lambda: 1e15)
    sc = load(None, [f"surges.rate_per_year={rate}"])[0]
    est = validation.estimate(sc)
    assert est.memory_key == "surges.rate_per_year"
    # One replication at 1e3 a year was measured at 2.9 GB; at 1e5 it grew past 23 GB.
    assert est.memory_bytes > (2.0e9 if rate == "1e3" else 100e9)
    with pytest.raises(validation.ResourceLimit, match=r"surges.rate_per_year: .* GiB"):
        validation.check_resources(sc, workers=2, memory=8e9)


def test_the_surge_term_grows_with_the_rate_and_is_small_by_default():
    def need(rate: str) -> float:
        return validation.estimate(load(None, [f"surges.rate_per_year={rate}"])[0]
                                   ).memory_bytes

    base = validation.estimate(load(None, [])[0]).memory_bytes
    assert base < 0.5e9
    assert need("10") < need("100") < need("1000")


def test_run_refuses_surges_that_outgrow_memory_before_making_its_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "-n", "2", "--set", "surges.rate_per_year=1e5", "--out", str(out),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "surges.rate_per_year" in err and "GiB" in err
    assert not out.exists()
