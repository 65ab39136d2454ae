"""The public API: one `capsim` namespace, runs from Python, run directories as objects."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import capsim

SHORT = ["scenario.end=2027-04-01"]  # one year keeps these runs to a second or two


@pytest.mark.slow
def test_only_capsim_is_importable_and_a_local_models_package_does_not_shadow_it(tmp_path):
    # A user's working directory with its own models.py and experiments/ package.
    (tmp_path / "models.py").write_text("raise RuntimeError('the user models.py was imported')\n")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "__init__.py").write_text("raise RuntimeError('user pkg')\n")
    (tmp_path / "simcore.py").write_text("raise RuntimeError('user simcore')\n")
    code = textwrap.dedent("""
        import capsim
        run = capsim.run(replications=3, seed=7, workers=1, executor="serial",
                         overrides=["scenario.end=2027-04-01"], out="out", progress=False)
        print("unserved", run.kpi("unserved_fraction")["mean"])
        print("reps", len(run.kpis))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "reps 3" in r.stdout
    # Nothing with a generic name is installed: `import models` finds only the user's file,
    # and from an empty directory nothing at all.
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("models", "experiments", "simcore"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=empty,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, (name, r.stderr)


def test_python_dash_m_capsim_is_the_capsim_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "capsim", "scenarios"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "aws-anthropic-2026 (default)" in r.stdout


def test_run_opens_its_directory_with_typed_tables(tmp_path):
    run = capsim.run(replications=2, seed=3, executor="serial", overrides=SHORT,
                     out=tmp_path / "r", progress=False)
    assert run.status == "complete" and run.seed == 3
    assert list(run.kpis.index) == [0, 1]
    ts = run.series("demand_tps")
    assert set(ts.columns) == {"replication", "date", "demand_tps"}
    assert len(ts) == 2 * len(ts["date"].unique())
    assert run.scenario.name == "aws-anthropic-2026"
    assert run.kpi("unserved_fraction")["unit"]
    assert any(p.name == "fan_chart.png" for p in run.plots)
    assert isinstance(run.events, pd.DataFrame)
    with pytest.raises(capsim.UsageError, match="did you mean unserved_fraction"):
        run.kpi("unserved_fractoin")
    # Opening the same directory again gives the same numbers.
    again = capsim.open_run(tmp_path / "r")
    pd.testing.assert_frame_equal(again.kpis, run.kpis)


@pytest.mark.slow
def test_compare_is_paired_on_the_same_seed_and_shows_the_change(tmp_path):
    a = capsim.run(replications=3, seed=11, executor="serial", overrides=SHORT,
                   out=tmp_path / "a", progress=False)
    b = capsim.run(replications=3, seed=11, executor="serial",
                   overrides=[*SHORT, "demand.growth_multiplier=1.5"], out=tmp_path / "b",
                   progress=False)
    cmp = capsim.compare(a, b)
    assert cmp.paired
    frame = cmp.frame()
    row = frame.loc["unserved_fraction"]
    assert row["b_mean"] >= row["a_mean"]
    assert np.isclose(row["diff_mean"], row["b_mean"] - row["a_mean"])
    assert "paired" in cmp.table()


def test_load_applies_overrides_and_reports_bad_keys():
    sc = capsim.load(overrides=["demand.growth_multiplier=2"])
    assert sc.demand.growth_multiplier == 2
    same = capsim.load(sc)
    assert same is sc
    with pytest.raises(capsim.ScenarioError) as exc:
        capsim.load(overrides=["demand.no_such_key=1"])
    assert "no_such_key" in " ".join(exc.value.problems)


def test_open_run_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(capsim.StoreError):
        capsim.open_run(tmp_path)


def test_version_is_the_installed_distribution_version():
    from importlib import metadata

    assert capsim.__version__ == metadata.version("capsim")


def test_public_names_are_documented():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in ("capsim.run", "capsim.open_run", "capsim.load", "capsim.compare"):
        assert name in readme, name


@pytest.mark.parametrize("bad", [
    {"replications": 1.5}, {"replications": "abc"}, {"replications": None},
    {"replications": 0}, {"replications": True}, {"seed": -1}, {"seed": 1.5}, {"seed": "x"},
    {"workers": -1}, {"workers": 0}, {"workers": 1.5}, {"executor": "foo"},
    {"overrides": [None]}, {"overrides": "demand.growth_multiplier=1.1"},
    {"targets": {"not_a_kpi": 0.1}}, {"targets": {"unserved_fraction": -1.0}},
    {"targets": {"unserved_fraction": True}}, {"targets": ["unserved_fraction"]},
    {"targets": {"unserved_fraction": 0.1}, "max_replications": -3}])
def test_bad_arguments_are_refused_by_name_before_anything_is_written(tmp_path, bad):
    kw = {"replications": 2, "workers": 1, "overrides": ["scenario.end=2024-03-01"], **bad}
    with pytest.raises(capsim.UsageError) as err:
        capsim.run(out=tmp_path / "r", progress=False, **kw)
    named = [k for k in bad if k != "targets"] or ["target"]
    assert any(k.split("_")[0] in str(err.value) or k in str(err.value) for k in named)
    assert not (tmp_path / "r").exists()


def test_numpy_integers_are_whole_numbers(tmp_path):
    import numpy as np

    run = capsim.run(replications=np.int64(1), seed=np.int64(3), workers=1, progress=False,
                     out=tmp_path / "r", overrides=["scenario.end=2024-03-01"])
    assert run.manifest["replications"] == 1


def test_open_run_of_something_not_a_path_is_a_store_error():
    with pytest.raises(capsim.StoreError, match="str or os.PathLike"):
        capsim.open_run(5)
