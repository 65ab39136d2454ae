"""End to end: the `capsim` CLI on a temporary directory, the run-directory contract, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from capsim.experiments.cli import main
from capsim.models.capacity import KPIS, MILESTONES
from capsim.models.scenario import resolve_path

SHORT = ["--set", "scenario.end=2027-06-01", "--no-progress"]


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    rc = main(["run", "--out", str(out), *SHORT, *extra])
    return rc, out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    one = _run(tmp, "w1", "--replications", "4", "--seed", "7", "--workers", "1")
    two = _run(tmp, "w2", "--replications", "4", "--seed", "7", "--workers", "2")
    other = _run(tmp, "s8", "--replications", "4", "--seed", "8", "--workers", "2")
    return one, two, other


def test_run_writes_the_run_directory_contract(runs):
    (rc, out), _, _ = runs
    assert rc == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["replications_done"] == 4 and m["seed"] == 7
    for key in ("capsim_version", "scenario", "scenario_sha256", "executor", "started",
                "finished", "python", "numpy", "simpy"):
        assert m[key] not in (None, ""), key
    assert (out / "scenario.toml").read_text().startswith("[scenario]")
    kp = pd.read_parquet(out / "kpis.parquet")
    assert sorted(kp["replication"]) == [0, 1, 2, 3]
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert len(ts) == 4 * ts["date"].nunique()
    s = json.loads((out / "summary.json").read_text())
    for name in KPIS:
        assert set(s["kpis"][name]) >= {"mean", "ci95", "p05", "p50", "p95"}, name
    for name in MILESTONES:
        assert set(s["milestones"][name]) >= {"mean", "ci95", "p05", "p50", "p95"}
    assert {p.name for p in (out / "plots").glob("*.png")} >= {
        "fan_chart.png", "shortfall_probability.png", "slo_breach_probability.png",
        "slo_heatmap.png", "power.png", "stranded_chips.png", "kpi_ecdf.png"}
    assert not (out / "parts").exists()


def test_same_seed_same_tables_whatever_the_workers_other_seed_differs(runs):
    (_, a), (_, b), (_, c) = runs
    for table in ("kpis.parquet", "timeseries.parquet"):
        ta, tb = pd.read_parquet(a / table), pd.read_parquet(b / table)
        pd.testing.assert_frame_equal(ta, tb)
        assert not ta.equals(pd.read_parquet(c / table))


def test_existing_run_directory_untouched_without_force(runs, tmp_path, capsys):
    (_, src), _, _ = runs
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["run", "--out", str(out), *SHORT, "-n", "2"]) == 2
    assert "exists" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main(["run", "--out", str(out), *SHORT, "-n", "2", "--force", "--workers", "1"]) == 0
    assert json.loads((out / "manifest.json").read_text())["replications_done"] == 2


def test_force_never_replaces_a_directory_capsim_did_not_write(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", "--out", str(out), *SHORT, "-n", "1", "--force"]) == 2
    assert "not a capsim run directory" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_resume_finishes_a_partial_run_identically(tmp_path, monkeypatch):
    rc, full = _run(tmp_path, "full", "-n", "5", "--seed", "3", "--workers", "1")
    assert rc == 0
    # A run interrupted after 3 of 5 replications: Ctrl-C arrives as the 4th finishes.
    import capsim.simcore.montecarlo as mc

    real = mc.result_tables
    calls = {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(mc, "result_tables", interrupted)
    part = tmp_path / "part"
    argv = ["run", "--out", str(part), *SHORT, "-n", "5", "--seed", "3", "--workers", "1"]
    assert main(argv) == 130
    m = json.loads((part / "manifest.json").read_text())
    assert m["status"] == "partial" and m["replications_done"] == 3
    assert len(pd.read_parquet(part / "kpis.parquet")) == 3  # readable while partial
    monkeypatch.setattr(mc, "result_tables", real)
    assert main(["run", "--resume", str(part), "--workers", "2", "--no-progress"]) == 0
    assert json.loads((part / "manifest.json").read_text())["status"] == "complete"
    for table in ("kpis.parquet", "timeseries.parquet", "events.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(full / table), pd.read_parquet(part / table))
    ev = pd.read_parquet(full / "events.parquet")
    assert set(ev["replication"]) == set(range(5))
    assert {"power_on", "tranche"} <= set(ev["kind"])
    assert main(["run", "--resume", str(part)]) == 2  # already complete


BROKEN = {
    "syntax": ("[scenario\nname = 1\n", ["TOML syntax error", "line 1"]),
    "unknown": (None, ["demand.growth_multiplyer", "unknown key",
                       "did you mean 'growth_multiplier'"]),
    "type": (None, ["datacenters.power_on_delay_days", "valid number"]),
    "negative": (None, ["supply.delivery_delay_days", "greater than or equal to 0"]),
    "bad_dist": (None, ["fleet.repair_hours", "low <= mode <= high"]),
    "shares": (None, ["region_shares", "sum to 1"]),
}


def _broken(tmp_path, kind):
    text, _ = BROKEN[kind]
    if text is None:
        text = resolve_path(None)[1]
        text = {
            "unknown": lambda t: t.replace("growth_multiplier = 1.0", "growth_multiplyer = 1.0"),
            "type": lambda t: t.replace("power_on_delay_days = 0.0",
                                        'power_on_delay_days = "soon"'),
            "negative": lambda t: t.replace("delivery_delay_days = 0.0",
                                            "delivery_delay_days = -30"),
            "bad_dist": lambda t: t.replace("low = 24, mode = 72, high = 336",
                                            "low = 400, mode = 72, high = 336"),
            "shares": lambda t: t.replace("americas = 0.55, emea = 0.3",
                                          "americas = 0.65, emea = 0.3"),
        }[kind](text)
    p = tmp_path / f"{kind}.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("kind", sorted(BROKEN))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_scenarios_exit_2_naming_file_and_key(tmp_path, capsys, kind, command):
    path = _broken(tmp_path, kind)
    args = [command, str(path)] + (["--out", str(tmp_path / "o"), "-n", "1"]
                                   if command == "run" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    for fragment in BROKEN[kind][1]:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind, written", [
    ("negative", "delivery_delay_days = -30"),
    ("bad_dist", "repair_hours = { dist"),
    ("unknown", "growth_multiplyer = 1.0"),
])
def test_messages_give_the_line_of_the_bad_key(tmp_path, capsys, kind, written):
    path = _broken(tmp_path, kind)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if written in t)
    assert main(["validate", str(path)]) == 2
    assert f"{path}: line {line}: " in capsys.readouterr().err


@pytest.mark.parametrize("override, fragments", [
    ("supply.generations.trainium3.chips_per_rack=100000",
     ["supply.generations.trainium3.chips_per_rack", "more than the smallest building"]),
    ("supply.generations.trainium4.installed_at_start=1000",
     ["supply.generations.trainium4", "cannot be installed before it exists"]),
    ("scenario.end=2020-01-01", ["scenario: end (=2020-01-01) must be after start"]),
    ("demand.growth_start={dist='lognormal', median=2, sigma=0, unit='x', source='s'}",
     ["demand.growth_start.sigma", "greater than 0"]),
    ("demand.cloud_share=true", ["demand.cloud_share", "valid number"]),
])
def test_impossible_combinations_exit_2(capsys, override, fragments):
    assert main(["validate", "--set", override]) == 2
    err = capsys.readouterr().err
    for f in fragments:
        assert f in err, (f, err)


def test_internal_error_exits_1_with_a_log(tmp_path, capsys, monkeypatch):
    import capsim.experiments.pipelines.runs as R

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(R, "execute", boom)
    assert main(["run", "--out", str(tmp_path / "r"), *SHORT, "-n", "1"]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "simulated bug" in err and "Traceback" not in err
    log = err.split("details: ")[1].rstrip(")\n ")
    assert "Traceback" in open(log).read()


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from capsim.simcore import store

    path = tmp_path / "kpis.parquet"
    store.atomic_write_table(path, pa.table({"x": [1.0, 2.0]}))
    store.atomic_write_bytes(tmp_path / "manifest.json", b'{"a": 1}')

    def dies_midway(table, where, **kw):
        with open(where, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        store.atomic_write_table(path, pa.table({"x": [3.0]}))
    monkeypatch.undo()
    assert pq.read_table(path).column("x").to_pylist() == [1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kpis.parquet", "manifest.json"]


@pytest.mark.parametrize("args, fragment", [
    (["run", "-n", "0"], "--replications must be >= 1"),
    (["run", "--workers", "0"], "--workers must be >= 1"),
    (["run", "--executor", "cloud"], "invalid choice"),
    (["run", "--set", "demand.nope=1"], "unknown key"),
    (["run", "--set", "demand.growth_multiplier=[1,"], "cannot parse value"),
    (["run", "--set", "demand.growth_multiplier=-1"], "demand.growth_multiplier"),
    (["run", "no-such-scenario"], "no scenario file or embedded scenario"),
    (["run", "missing.toml"], "file not found"),
    (["validate", "aws-anthropic-2025"], "did you mean 'aws-anthropic-2026'"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, args, fragment):
    assert main([*args, *(["--out", str(tmp_path / "o")] if args[0] == "run" else [])]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_scenarios_and_validate(capsys):
    assert main(["scenarios"]) == 0
    assert "aws-anthropic-2026 (default)" in capsys.readouterr().out
    assert main(["validate"]) == 0
    assert "ok" in capsys.readouterr().out


def test_console_script_runs(tmp_path):
    # pip puts the script beside the interpreter of the environment it installs into
    # (whether or not that environment is activated).
    script = Path(sys.executable).with_name("capsim")
    assert script.exists(), f"no console script at {script}: is capsim installed here?"
    p = subprocess.run([str(script), "run", "--out", str(tmp_path / "r"), "-n", "2", *SHORT],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "unserved_fraction" in p.stdout


@pytest.mark.slow
def test_target_ci_adds_replications_until_met_and_stays_reproducible(tmp_path):
    out = tmp_path / "t"
    rc = main(["run", "--out", str(out), *SHORT, "-n", "4", "--seed", "2", "--workers", "2",
               "--target-ci", "trainium_gw_2026_12_31=0.02", "--max-replications", "40"])
    s = json.loads((out / "summary.json").read_text())
    n = s["replications"]
    t = s["targets"]["trainium_gw_2026_12_31"]
    assert rc == (0 if t["met"] else 3)  # exit 3: the cap was reached first
    assert n > 4 and (t["met"] or n == 40)
    assert t["met"] == (t["half_width"] <= 0.02)
    assert json.loads((out / "manifest.json").read_text())["replications"] == n
    # Replication i always draws from (seed, i): a plain run of n gives the same table.
    plain = tmp_path / "plain"
    assert main(["run", "--out", str(plain), *SHORT, "-n", str(n), "--seed", "2"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "kpis.parquet"),
                                  pd.read_parquet(plain / "kpis.parquet"))


def test_a_scenario_with_a_cloud_switched_off_reports_capacity_by_cloud(tmp_path, capsys):
    out = tmp_path / "mc"
    assert main(["run", "anthropic-multicloud-2026", "--set", "clouds.azure.enabled=false",
                 *SHORT, "-n", "3", "--all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "By cloud" in printed and "\naws " in printed and "\ngoogle " in printed
    assert "azure" not in printed
    s = json.loads((out / "summary.json").read_text())
    assert set(s["by_cloud"]) == {"aws", "google"}
    for cloud in ("aws", "google"):
        assert s["by_cloud"][cloud]["energized_mw_end"]["mean"] > 0
        assert s["by_cloud"][cloud]["compute_tps_end"]["mean"] > 0
    ts = pd.read_parquet(out / "timeseries.parquet", columns=["date", "compute_tps__aws",
                                                               "compute_tps__google"])
    # TPUs arrive from Q4 2025 (the history starts in 2024): compute on both from the
    # announcement on.
    ts = ts[pd.to_datetime(ts["date"]) >= "2026-04-01"]
    assert len(ts) and (ts[["compute_tps__aws", "compute_tps__google"]] > 0).all().all()
