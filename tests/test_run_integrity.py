"""A run directory's integrity: damaged parts, a manifest that claims too much, kills.

A part that is swapped, truncated or overwritten with garbage is found and its
replication runs again (the same streams, so the tables come out identical to an
uninterrupted run); a run marked complete whose tables lack replications is never
believed; a run directory is resumable from the moment it exists; and no temporary file
survives a resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from capsim.experiments.cli import main

SHORT = ["--set", "scenario.end=2026-10-01", "--no-progress", "--executor", "serial"]
RUN = ["-n", "3", "--seed", "5", *SHORT]
TABLES = ("kpis.parquet", "timeseries.parquet", "events.parquet")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["run", "--out", str(out), *RUN]) == 0
    return out


@pytest.fixture(scope="module")
def partial(tmp_path_factory) -> Path:
    """The same run stopped while plotting: partial, every replication's parts kept."""
    from capsim.simcore import plots

    out = tmp_path_factory.mktemp("partial") / "run"
    real = plots.fan_chart

    def stop(*a, **k):
        raise KeyboardInterrupt

    plots.fan_chart = stop
    try:
        assert main(["run", "--out", str(out), *RUN]) == 130
    finally:
        plots.fan_chart = real
    assert len(list((out / "parts").glob("ts-*.parquet"))) == 3
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _resumed_identical(run: Path, reference: Path, capsys) -> str:
    """Resume `run`; check it is complete and its tables are the reference's; stderr."""
    assert main(["run", "--resume", str(run), "--no-progress", "--executor", "serial"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "complete" and m["replications_done"] == 3
    for name in TABLES:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    assert not (run / "parts").exists()
    assert not [p for p in run.rglob(".*.tmp")]
    return err


def _swap(run: Path) -> None:
    a, b = run / "parts" / "ts-000000.parquet", run / "parts" / "ts-000002.parquet"
    tmp = a.with_suffix(".x")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _truncate(run: Path) -> None:
    p = run / "parts" / "ts-000001.parquet"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(run: Path) -> None:
    (run / "parts" / "kpis-000001.parquet").write_bytes(os.urandom(3000))


def _flipped(run: Path) -> None:
    # Bytes changed inside the file (a page of some column): only the checksums see it.
    p = run / "parts" / "ts-000001.parquet"
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0x5A for b in data[mid:mid + 64])
    p.write_bytes(bytes(data))


def _empty_events(run: Path) -> None:
    (run / "parts" / "ev-000002.parquet").write_bytes(b"")


DAMAGE = {"two parts swapped": (_swap, ["ts-000000", "ts-000002"]),
          "a part truncated": (_truncate, ["ts-000001"]),
          "a part of garbage": (_garbage, ["kpis-000001"]),
          "bytes changed inside a part": (_flipped, ["ts-000001"]),
          "an empty events part": (_empty_events, ["ev-000002"])}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_part_is_found_and_its_replication_runs_again(
        partial, reference, tmp_path, capsys, damage):
    run = _copy(partial, tmp_path / "run")
    make, named = DAMAGE[damage]
    make(run)
    err = _resumed_identical(run, reference, capsys)
    for name in named:  # each damaged part is named, with what happens to it
        assert name in err and "runs again" in err, err


def test_a_manifest_claiming_complete_with_half_the_replications_is_not_believed(
        reference, tmp_path, capsys):
    run = _copy(reference, tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    # The tables of a run of 3, a manifest promising 6: "complete" with half the data.
    (run / "manifest.json").write_text(json.dumps({**m, "replications": 6}))
    for argv in (["report", str(run)], ["plot", str(run)], ["compare", str(run), str(reference)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "3 of the 6 replications" in err and "--resume" in err, err
    from capsim import StoreError, open_run

    with pytest.raises(StoreError, match="3 of the 6"):
        _ = open_run(run).kpis
    assert main(["run", "--resume", str(run), "--no-progress", "--executor", "serial"]) == 0
    assert "marked complete, but" in capsys.readouterr().err
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "complete" and m["replications_done"] == 6
    kp = pq.read_table(run / "kpis.parquet").to_pandas()
    assert sorted(kp["replication"]) == list(range(6))
    ref = pq.read_table(reference / "kpis.parquet").to_pandas()
    assert kp[kp.replication < 3].reset_index(drop=True).equals(ref)  # same streams


def test_a_complete_run_whose_timeseries_lost_a_replication_is_not_believed(
        reference, tmp_path, capsys):
    run = _copy(reference, tmp_path / "run")
    ts = pq.read_table(run / "timeseries.parquet")
    pq.write_table(ts.filter(ts.column("replication").to_numpy() != 1),
                   run / "timeseries.parquet")
    assert main(["report", str(run)]) == 2
    assert "timeseries.parquet holds 2 of the 3" in capsys.readouterr().err
    _resumed_identical(run, reference, capsys)


def test_no_temporary_file_survives_a_resume(partial, reference, tmp_path, capsys):
    run = _copy(partial, tmp_path / "run")
    left = [run / ".timeseries.parquet.k1l2m3.tmp", run / ".manifest.json.x8y9.tmp",
            run / "parts" / ".ts-000001.parquet.abcd.tmp"]
    for p in left:
        p.write_bytes(b"half a file")
    _resumed_identical(run, reference, capsys)


MANIFEST_DAMAGE = {"replications": "six", "seed": -1, "overrides": "a.b=1",
                   "targets": [1, 2], "max_replications": 0.5}


@pytest.mark.parametrize("key", sorted(MANIFEST_DAMAGE))
def test_a_damaged_manifest_field_exits_2_naming_it(partial, tmp_path, capsys, key):
    run = _copy(partial, tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**m, key: MANIFEST_DAMAGE[key]}))
    assert main(["run", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and "manifest.json" in err[0], err


def test_parts_as_a_file_or_a_stray_file_in_parts(partial, reference, tmp_path, capsys):
    run = _copy(partial, tmp_path / "run")
    (run / "parts" / "notes.txt").write_text("mine")
    (run / "parts" / "kpis-12.parquet").write_text("not a part's name")
    assert main(["run", "--resume", str(run), "--no-progress", "--executor", "serial"]) == 0
    assert (run / "parts" / "notes.txt").read_text() == "mine"  # the user's file stays
    other = _copy(partial, tmp_path / "other")
    shutil.rmtree(other / "parts")
    (other / "parts").write_text("a file where the parts belong")
    assert main(["run", "--resume", str(other), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "parts: is not a directory" in err and "Traceback" not in err, err
    assert (other / "parts").read_text() == "a file where the parts belong"


_KILLED_AT_ONCE = textwrap.dedent("""
    import os, signal, sys
    from capsim.experiments.pipelines import launch
    def die(*a, **k):  # the moment the run directory exists: SIGKILL, no handler runs
        os.kill(os.getpid(), signal.SIGKILL)
    launch.execute = die
    from capsim.experiments.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_sigkill_just_after_the_run_directory_appears_then_resume_completes(
        reference, tmp_path, capsys):
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-c", _KILLED_AT_ONCE, "run", "--out", str(out), *RUN],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    # The directory holds its scenario and manifest from the moment it exists.
    assert (out / "scenario.toml").is_file() and (out / "manifest.json").is_file()
    assert json.loads((out / "manifest.json").read_text())["status"] == "partial"
    assert not [q for q in tmp_path.iterdir() if q.name != "run"]  # no staging left
    _resumed_identical(out, reference, capsys)


def test_a_run_directory_is_never_seen_without_its_scenario(tmp_path, monkeypatch):
    """Creation is one rename: until it, nothing is at the path; after it, everything."""
    from capsim.simcore import store as S

    seen = []
    real = os.rename

    def watch(src, dst):
        seen.append((Path(dst).exists(), sorted(p.name for p in Path(src).iterdir())))
        return real(src, dst)

    monkeypatch.setattr(S.os, "rename", watch)
    out = tmp_path / "a" / "b" / "run"
    store = S.RunStore.create(out, {"capsim_version": "x", "seed": 1},
                              files={"scenario.toml": "x = 1\n"})
    store.unlock()
    assert seen == [(False, [".lock", "manifest.json", "scenario.toml"])]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "scenario.toml"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]


READ_DAMAGE = {"summary.json": lambda p: p.write_bytes(p.read_bytes()[:40]),
               "kpis.parquet": lambda p: p.write_bytes(os.urandom(2000)),
               "timeseries.parquet": lambda p: p.write_bytes(p.read_bytes()[:5000])}


@pytest.mark.parametrize("name", sorted(READ_DAMAGE))
def test_reading_a_damaged_table_or_summary_exits_2_naming_it(reference, tmp_path, capsys,
                                                                 name):
    from capsim import StoreError, open_run

    run = _copy(reference, tmp_path / "run")
    READ_DAMAGE[name](run / name)
    reading = [["report", str(run)], ["plot", str(run), "--out", str(tmp_path / "p")]]
    if name != "summary.json":  # compare reads the tables alone (units from the registry)
        reading.append(["compare", str(reference), str(run)])
    for argv in reading:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err, err
    r = open_run(run)
    with pytest.raises(StoreError, match=name):
        _ = r.summary if name == "summary.json" else (
            r.kpis if name == "kpis.parquet" else r.timeseries)
    # A damaged summary is written again by --resume (the tables are whole).
    if name == "summary.json":
        assert main(["run", "--resume", str(run), "--no-progress"]) == 0
        assert json.loads((run / "summary.json").read_text())["status"] == "complete"


def test_numbers_too_long_to_read_are_refused_by_name(tmp_path, capsys):
    for digits in (401, 5000):
        assert main(["validate", "--set", "demand.growth_multiplier=" + "9" * digits]) == 2
        err = capsys.readouterr().err
        assert "demand.growth_multiplier" in err and "Traceback" not in err, err
    (tmp_path / "s.toml").write_text('extends = "aws-anthropic-2026"\n[demand]\n'
                                     f'growth_multiplier = {"9" * 5000}\n')
    assert main(["validate", str(tmp_path / "s.toml")]) == 2
    assert "too long to read" in capsys.readouterr().err
