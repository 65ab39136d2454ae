"""The API in a notebook: short reprs and HTML, sweep -> sensitivity, temporary runs removed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import capsim

SHORT = ["scenario.end=2024-04-01"]


def test_scenario_repr_is_short_and_has_html():
    s = capsim.load()
    assert len(repr(s)) <= 2000 and "aws-anthropic-2026" in repr(s)
    assert "<table>" in s._repr_html_()


def test_run_and_comparison_reprs_dates_and_errors(tmp_path):
    with capsim.run(replications=2, seed=3, workers=1, executor="serial", progress=False,
                    overrides=SHORT) as a:
        path = a.path
        b = capsim.run(replications=2, seed=3, workers=1, executor="serial", progress=False,
                       overrides=[*SHORT, "demand.growth_multiplier=1.5"], out=tmp_path / "b")
        assert len(repr(a)) <= 2000 and "<table>" in a._repr_html_()
        cmp = capsim.compare(a, b)
        assert len(repr(cmp)) <= 2000 and "<table>" in cmp._repr_html_()
        ts = a.series("demand_tps")
        assert pd.api.types.is_datetime64_any_dtype(ts["date"])
        assert pd.api.types.is_datetime64_any_dtype(a.events["date"])
        with pytest.raises(capsim.UsageError, match="demand_tps"):
            a.series("demand_tpz")
    assert not path.exists()  # a temporary run is gone after the block
    assert (tmp_path / "b").exists()  # a run with out= is kept


def test_sweep_result_feeds_sensitivity_and_bad_bounds_are_refused(tmp_path):
    with pytest.raises(capsim.UsageError, match="low < high"):
        capsim.sweep({"demand.growth_multiplier": (1.2, 0.8)})
    # An end the scenario refuses (the multiplier is > 0), or an unknown key, is refused
    # before any point runs, however the design would sample the range.
    with pytest.raises(capsim.ScenarioError, match=r"low end -1.0: demand.growth_multiplier: "
                       r"Input should be greater than 0"):
        capsim.sweep({"demand.growth_multiplier": (-1.0, 2.0)}, out=tmp_path / "bad")
    with pytest.raises(capsim.ScenarioError, match="unknown key 'nope'") as err:
        capsim.sweep({"nope.key": (0.0, 1.0)}, out=tmp_path / "bad")
    assert len(err.value.problems) == 1 and not (tmp_path / "bad").exists()
    with capsim.sweep({"demand.growth_multiplier": (0.8, 1.2)}, samples=6, replications=1,
                      workers=1, progress=False, overrides=SHORT) as sw:
        assert (sw.path / "sweep.parquet").exists() and len(sw.table) == 6
        res = capsim.sensitivity(sw, kpi="unserved_fraction", bootstrap=20)
        assert res["ranking"][0]["param"] == "demand.growth_multiplier"
        with pytest.raises(capsim.UsageError, match="no KPI"):
            capsim.sensitivity(sw, kpi="unserved_fractoin")
        path = sw.path
    assert not path.exists()


def test_no_temporary_run_is_left_at_exit_unless_kept(tmp_path):
    code = textwrap.dedent(f"""
        import capsim, pathlib
        r = capsim.run(replications=1, workers=1, executor="serial", progress=False,
                       overrides={SHORT!r})
        k = capsim.run(replications=1, workers=1, executor="serial", progress=False,
                       overrides={SHORT!r}, keep=True)
        pathlib.Path({str(tmp_path / 'paths')!r}).write_text(f"{{r.path}}\\n{{k.path}}")
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    gone, kept = (tmp_path / "paths").read_text().split("\n")
    import shutil
    from pathlib import Path

    assert not Path(gone).exists() and Path(kept).exists()
    shutil.rmtree(kept)


def test_progress_bars_are_tqdm_auto_and_shown_in_a_notebook(monkeypatch):
    import types

    from capsim.simcore import progress

    class ZMQInteractiveShell:  # what a Jupyter kernel's get_ipython() returns
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = ZMQInteractiveShell  # type: ignore[attr-defined]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not progress.shown(None) and progress.bar(5, "x") is None
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress.in_notebook() and progress.shown(None)
    assert not progress.shown(False)
    from tqdm.auto import tqdm

    b = progress.bar(5, "replications", enabled=True)
    try:
        assert isinstance(b, tqdm) and b.total == 5
    finally:
        b.close()
    # Every bar of the library comes from simcore.progress (tqdm.auto), none from plain tqdm.
    import pathlib

    from capsim import experiments, models, simcore

    roots = [pathlib.Path(m.__file__).parent for m in (capsim, simcore, models, experiments)]
    files = [p for r in roots for p in r.rglob("*.py")]
    assert len(files) > 100
    assert [p for p in files if "from tqdm import" in p.read_text()] == []
