"""Bad input never gives garbage: exit 2 naming the key, or a run with finite KPIs.

The fuzzing strategies come from the schema (tests/schema_fuzz.py), so new fields are
covered; the example counts come from the hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines.finite import MAY_BE_MISSING
from capsim.models import validation
from capsim.models.scenario import ScenarioError, load, resolve_path
from hypothesis import given
from schema_fuzz import bad_override, leaves

SHORT = "scenario.end=2026-10-01"


def _lines(err: str) -> list[str]:
    return [x for x in err.splitlines() if x.strip()]


def _assert_clean_refusal(err: str, key: str) -> None:
    assert "Traceback" not in err and "Warning" not in err, err
    lines = _lines(err)
    assert lines and all(x.startswith("capsim") for x in lines), err
    assert any(part in err for part in key.split(".")), (key, err)


def test_the_schema_walk_reaches_every_section_and_nested_tables():
    keys = {k for k, _ in leaves()}
    for key in ("demand.growth_multiplier", "demand.enterprise.customers",
                "supply.generations.trainium3.chips_per_rack", "datacenters.campuses",
                "surges.launches", "service.slo_target_share", "procurement.headroom",
                "finance.capex_usd_per_mw", "scenario.end"):
        assert key in keys, key
    assert len(keys) > 300


@given(bad_override())
def test_bad_values_for_any_field_exit_0_or_2_never_a_traceback(capsys, kv):
    key, value = kv
    rc = main(["validate", "--set", f"{key}={value}"])
    err = capsys.readouterr().err
    assert rc in (0, 2), (key, value[:80], err)
    if rc == 2:
        _assert_clean_refusal(err, key)


@given(bad_override())
def test_accepted_values_run_to_finite_kpis_or_stop_with_exit_2(tmp_path_factory, capsys, kv):
    key, value = kv
    if main(["validate", "--set", SHORT, "--set", f"{key}={value}"]) != 0:
        capsys.readouterr()
        return
    out = tmp_path_factory.mktemp("run") / "r"
    rc = main(["run", "--out", str(out), "-n", "1", "--executor", "serial", "--no-progress",
               "--set", SHORT, "--set", f"{key}={value}"])
    err = capsys.readouterr().err
    assert rc in (0, 2), (key, value[:80], err)
    assert "Traceback" not in err and "Warning" not in err, err
    status = json.loads((out / "manifest.json").read_text())["status"]
    if rc == 2:
        assert status != "complete"
        return
    assert status == "complete"
    kp = pd.read_parquet(out / "kpis.parquet")
    for col in kp.columns:
        x = kp[col].to_numpy(float)
        assert not np.isinf(x).any(), col
        assert not np.isnan(x).any() or col.partition("__")[0] in MAY_BE_MISSING, col


@pytest.mark.parametrize("override, fragment", [
    ("demand.growth_multiplier=inf", "must be a finite number"),
    ("demand.growth_multiplier=nan", "must be a finite number"),
    ("demand.enterprise.peak_local_hour=nan", "demand.enterprise.peak_local_hour"),
    ("demand.enterprise.customers=1e12", "GiB of memory"),
    ("demand.enterprise.customers=1.5", "whole number"),
    ("supply.generations.legacy.installed_at_start=1e12", "GiB of memory"),
    ("surges.rate_per_year=1e9", "events, more than"),
    ("surges.launch_every_days=1e-6", "events, more than"),
    ("fleet.mtbf_hours=1e308", "largest accepted magnitude"),
    ("demand.growth_multiplier=1000", "less than or equal to 10"),
    ("scenario.end=2999-01-01", "horizon is at most"),
    ("demand.cloud_share={dist='uniform', low=nan, high=1, unit='x', source='s'}",
     "demand.cloud_share"),
    ("scenario.title=\"" + "x" * 20_000 + "\"", "characters"),
    ("demand.cloud_share=" + "[" * 5000 + "]" * 5000, "nested deeper"),
])
def test_issue_cases_are_refused_with_exit_2_naming_the_key(capsys, override, fragment):
    assert main(["validate", "--set", override]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err, err
    assert override.split("=")[0].split(".")[-1] in err


def test_resource_estimate_says_how_much_and_scales_with_workers():
    sc = load(None, ["demand.enterprise.customers=5000000"])[0]
    est = validation.estimate(sc)
    assert 64 * 5e6 < est.memory_bytes < 2e9
    validation.check_resources(sc, workers=1, memory=8e9)
    with pytest.raises(validation.ResourceLimit, match=r"GiB for 16 worker\(s\)"):
        validation.check_resources(sc, workers=16, memory=8e9)


@pytest.mark.parametrize("text, fragment", [
    ("a = " + "[" * 100_000, "nested deeper"),
    ("[scenario]\n" + "x" * (validation.MAX_FILE_BYTES + 10), "larger than"),
    ("a = {" * 2000, "nested deeper"),
])
def test_pathological_files_are_refused(tmp_path, capsys, text, fragment):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and str(p) in err and "Traceback" not in err
    assert len(_lines(err)) == 1


def test_extends_reads_only_small_regular_files_named_in_the_chain(tmp_path, capsys):
    zero = tmp_path / "zero.toml"
    zero.write_text('[scenario]\nextends = "/dev/zero"\nname = "z"\n')
    assert main(["validate", str(zero)]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and str(zero) in err
    # A relative base resolves next to the extending file, whatever its suffix.
    d = tmp_path / "sub"
    d.mkdir()
    base = resolve_path(None)[1].replace('name = "aws-anthropic-2026"', 'name = "base"')
    (d / "base.scn").write_text(base)
    (d / "mid.scn").write_text('[scenario]\nextends = "base.scn"\nname = "mid"\n')
    (d / "top.cfg").write_text('[scenario]\nextends = "mid.scn"\nname = "top"\n')
    sc, _ = load(d / "top.cfg")
    assert sc.name == "top"
    # An error in the base names the whole chain.
    (d / "base.scn").write_text(base.replace("growth_multiplier = 1.0",
                                             "growth_multiplier = nan"))
    with pytest.raises(ScenarioError) as exc:
        load(d / "top.cfg")
    assert "top.cfg -> " in str(exc.value) and "mid.scn" in str(exc.value)
    (d / "mid.scn").write_text('[scenario]\nextends = "missing.scn"\nname = "mid"\n')
    with pytest.raises(ScenarioError, match=r"top.cfg -> .*mid.scn.*file not found"):
        load(d / "top.cfg")


def test_magnitude_check_names_parameters_without_their_value_key():
    problems = validation.check_data({"a": {"b": {"value": math.inf}}, "c": 1e300})
    assert problems == ["a.b: must be a finite number (got inf)",
                        "c: 1e+300 is beyond the largest accepted magnitude (1e+15)"]


def _breaking_model(kind):
    from capsim.models.capacity import CapacityModel

    class Breaking(CapacityModel):
        def collect(self, sim):
            r = super().collect(sim)
            if kind == "inf":
                r.kpis["unserved_fraction"] = math.inf
            else:
                with np.errstate(over="raise"):
                    np.exp(np.array([1e4]))
            return r

    return Breaking


@pytest.mark.parametrize("kind", ["inf", "overflow"])
def test_a_non_finite_result_stops_the_run_with_exit_2_and_is_not_stored(
        tmp_path, capsys, monkeypatch, kind):
    import capsim.experiments.pipelines.runs as R

    monkeypatch.setattr(R, "CapacityModel", _breaking_model(kind))
    out = tmp_path / "r"
    rc = main(["run", "--out", str(out), "-n", "2", "--executor", "serial", "--no-progress",
               "--set", SHORT, "--set", "demand.growth_multiplier=2"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "demand.growth_multiplier=2" in err and "Traceback" not in err
    assert ("unserved_fraction" in err) if kind == "inf" else ("overflow" in err)
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "partial" and m["replications_done"] == 0
    assert not (out / ".lock").exists()


# -- special files: refused at once, nothing written ---------------------------------
_FIFO_CASES = {
    "scenario": lambda d: ["validate", str(d / "fifo.toml")],
    "extends": lambda d: ["validate", str(d / "child.toml")],
    "observations": lambda d: ["run", "-n", "1", "--no-progress", "--out", str(d / "run"),
                               "--set", "scenario.end=2024-03-01",
                               "--set", f"scenario.observations='{d / 'fifo.toml'}'"],
    "posterior": lambda d: ["run", "-n", "1", "--no-progress", "--out", str(d / "run"),
                            "--set", "scenario.end=2024-03-01",
                            "--posterior", str(d / "fifo.toml")],
    "device": lambda d: ["validate", "/dev/zero"],
}


@pytest.mark.parametrize("case", sorted(_FIFO_CASES))
def test_a_fifo_or_device_where_a_file_is_expected_is_refused_at_once(tmp_path, case):
    import os
    import subprocess
    import sys

    os.mkfifo(tmp_path / "fifo.toml")  # opening it for reading would wait for a writer
    (tmp_path / "child.toml").write_text(
        f'[scenario]\nname = "child"\nextends = "{tmp_path / "fifo.toml"}"\n')
    proc = subprocess.run([sys.executable, "-m", "capsim.experiments.cli",
                           *_FIFO_CASES[case](tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "not a regular file" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()  # refused before the run directory was made
