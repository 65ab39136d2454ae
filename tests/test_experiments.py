"""Experiment scripts run end to end (tiny: 2 replications, one year) and conclude."""

from __future__ import annotations

import pytest

from experiments.cli import EXPERIMENTS, main


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_and_concludes(name, tmp_path, capsys):
    rc = main(["experiment", name, "-n", "2", "--workers", "1", "--set", "scenario.end=2027-04-01",
               "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "Conclusion:" in out
    assert any((p / "summary.json").exists() for p in tmp_path.iterdir())


def test_experiment_list_and_unknown(capsys):
    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in EXPERIMENTS)
    assert main(["experiment", "baseline2"]) == 2
    assert "did you mean 'baseline'" in capsys.readouterr().err
