"""Run directories under stress: --force, disk and permission errors, user mistakes.

Nothing capsim did not write is ever deleted; a run is "complete" only with everything
in it; every user mistake exits 2 with one line and leaves the files as they were.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from capsim.experiments.cli import main
from capsim.simcore.store import RunStore

SHORT = ["--set", "scenario.end=2026-10-01", "--no-progress", "--executor", "serial"]


def snapshot(*roots: Path) -> dict[str, object]:
    """Every entry under the roots, without following links: bytes, link target or dir."""
    out: dict[str, object] = {}
    for root in roots:
        if root.is_symlink():
            out[str(root)] = ("link", os.readlink(root))
            continue
        if not root.exists():
            out[str(root)] = None
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                if p.is_symlink():
                    out[str(p)] = ("link", os.readlink(p))
                elif p.is_file():
                    out[str(p)] = p.read_bytes()
                else:
                    out[str(p)] = "dir"
    return out


@pytest.fixture(scope="module")
def done_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base") / "run"
    assert main(["run", "--out", str(out), "-n", "2", "--seed", "5", *SHORT]) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _force(out: Path) -> int:
    return main(["run", "--out", str(out), "-n", "1", "--seed", "6", "--force", *SHORT])


# -- --force ------------------------------------------------------------------------
def _user_file_in(sub):
    def make(run: Path, tmp: Path) -> list[Path]:
        (run / sub).mkdir(exist_ok=True)
        (run / sub / "my notes.txt").write_text("mine")
        return [run]
    return make


def _link_instead_of(sub):
    def make(run: Path, tmp: Path) -> list[Path]:
        outside = tmp / f"outside-{sub}"
        outside.mkdir()
        (outside / "precious.png").write_bytes(b"not capsim's")
        (outside / "kpis-000000.parquet").write_bytes(b"not capsim's either")
        if (run / sub).exists():
            shutil.rmtree(run / sub)
        (run / sub).symlink_to(outside, target_is_directory=True)
        return [run, outside]
    return make


def _fake_manifest(run: Path, tmp: Path) -> list[Path]:
    shutil.rmtree(run)
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps(
        {"capsim_version": "0.1.0", "status": "complete", "seed": 1}))
    (run / "thesis.tex").write_text("years of work")
    (run / "plots").mkdir()
    (run / "plots" / "figure1.pdf").write_bytes(b"%PDF")
    return [run]


LAYOUTS = {
    "user file in plots/": _user_file_in("plots"),
    "user file in parts/": _user_file_in("parts"),
    "parts/ is a symlink": _link_instead_of("parts"),
    "plots/ is a symlink": _link_instead_of("plots"),
    "fake manifest beside user files": _fake_manifest,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_force_never_deletes_what_capsim_did_not_write(done_run, tmp_path, capsys, layout):
    run = _copy(done_run, tmp_path / "run")
    roots = LAYOUTS[layout](run, tmp_path)
    before = snapshot(*roots)
    assert _force(run) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "refusing" in err
    assert snapshot(*roots) == before  # nothing deleted, nothing added, nothing half-done
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_force_never_follows_an_out_that_is_a_symlink(done_run, tmp_path, capsys):
    real = _copy(done_run, tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = snapshot(real, link)
    assert _force(link) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert snapshot(real, link) == before
    fresh = tmp_path / "fresh-link"
    fresh.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert main(["run", "--out", str(fresh), "-n", "1", *SHORT]) == 2
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.slow
def test_force_replaces_a_run_of_capsim_files_whole(done_run, tmp_path):
    run = _copy(done_run, tmp_path / "run")
    (run / "report.html").write_text("<html>old</html>")
    assert _force(run) == 0
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "complete" and m["seed"] == 6 and m["replications_done"] == 1
    assert not (run / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no old run left aside
    assert not (run / ".lock").exists() and not (run / "parts").exists()
    # The replaced run is itself replaceable: the plots it drew are in its manifest.
    assert set(m["plots"]) == {p.name for p in (run / "plots").iterdir()}
    assert _force(run) == 0


# -- complete means complete ----------------------------------------------------------
def test_a_run_killed_while_plotting_stays_partial_and_resume_completes_it(
        done_run, tmp_path, monkeypatch, capsys):
    import capsim.experiments.pipelines.runs as R
    from capsim.simcore import plots

    real = plots.fan_chart
    calls = {"n": 0}

    def dies_on_the_third(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(plots, "fan_chart", dies_on_the_third)
    out = tmp_path / "r"
    assert main(["run", "--out", str(out), "-n", "2", "--seed", "5", *SHORT]) == 130
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "partial" and m["replications_done"] == 2
    assert len(list((out / "parts").glob("kpis-*"))) == 2  # kept for the resume
    monkeypatch.setattr(plots, "fan_chart", real)
    ran = []
    real_replicate = R.replicate
    monkeypatch.setattr(R, "replicate", lambda *a, **k: ran.append(real_replicate(*a, **k)))
    assert main(["run", "--resume", str(out), "--no-progress"]) == 0
    assert ran == [0]  # no replication run again
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    for name in ("kpis.parquet", "timeseries.parquet", "events.parquet"):
        assert (out / name).read_bytes() == (done_run / name).read_bytes(), name
    assert {p.name for p in (out / "plots").iterdir()} == \
        {p.name for p in (done_run / "plots").iterdir()}
    assert not (out / "parts").exists() and not (out / ".lock").exists()


def test_opening_a_run_writes_nothing(done_run):
    before = snapshot(done_run)
    store = RunStore.open(done_run)
    store.read_kpis()
    assert store.done() == []
    assert snapshot(done_run) == before


# -- environment errors -------------------------------------------------------------
# A full disk in the quick loop; a read-only file system and a denied permission in CI's.
@pytest.mark.parametrize("code", [errno.ENOSPC, pytest.param(errno.EROFS, marks=pytest.mark.slow),
                                  pytest.param(errno.EACCES, marks=pytest.mark.slow)])
def test_disk_and_permission_errors_exit_74_in_one_line_and_stay_resumable(
        done_run, tmp_path, monkeypatch, capsys, code):
    from capsim.simcore import parts as P
    from capsim.simcore import store as S

    real = S.atomic_write_table
    calls = {"n": 0}

    def fails_on_the_fourth(path, table, **options):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, table, **options)

    monkeypatch.setattr(S, "atomic_write_table", fails_on_the_fourth)
    monkeypatch.setattr(P, "atomic_write_table", fails_on_the_fourth)
    out = tmp_path / "r"
    assert main(["run", "--out", str(out), "-n", "2", "--seed", "5", *SHORT]) == 74
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and os.strerror(code) in err[1] and "--resume" in err[1], err
    assert json.loads((out / "manifest.json").read_text())["status"] == "partial"
    monkeypatch.setattr(S, "atomic_write_table", real)
    monkeypatch.setattr(P, "atomic_write_table", real)
    assert main(["run", "--resume", str(out), "--no-progress"]) == 0
    for name in ("kpis.parquet", "timeseries.parquet"):
        assert (out / name).read_bytes() == (done_run / name).read_bytes()


# -- read-only commands ---------------------------------------------------------------
def test_read_only_commands_never_write_into_a_run(done_run, tmp_path, capsys):
    before = snapshot(done_run)
    assert main(["compare", str(done_run), str(done_run)]) == 0
    assert main(["compare", str(done_run), str(done_run), "--json", str(tmp_path / "c.json"),
                 "--plot", str(tmp_path / "c.png")]) == 0
    assert main(["report", str(done_run), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["plot", str(done_run), "--out", str(tmp_path / "plots")]) == 0
    assert main(["validate", str(done_run / "scenario.toml")]) == 0
    assert snapshot(done_run) == before
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "r.html").exists()


def test_plot_and_report_of_a_read_only_run_go_to_the_working_directory(
        done_run, tmp_path, monkeypatch, capsys):
    import capsim.experiments.cli.commands as cli

    monkeypatch.setattr(cli, "_writable", lambda d: False)
    monkeypatch.chdir(tmp_path)
    before = snapshot(done_run)
    assert main(["report", str(done_run)]) == 0
    assert main(["plot", str(done_run)]) == 0
    assert snapshot(done_run) == before
    assert (tmp_path / "run-report.html").stat().st_size > 1000
    assert (tmp_path / "run-plots" / "fan_chart.png").exists()
    assert "read-only" in capsys.readouterr().err


# -- user mistakes (issue 12, point 3) -------------------------------------------------
def _sweep_dir(tmp: Path) -> Path:
    d = tmp / "sweep"
    RunStore.create(d, {"capsim_version": "0.1.0", "kind": "sweep", "seed": 1}).unlock()
    return d


MISTAKES = {
    "--out under /proc": lambda run, tmp: ["run", "--out", "/proc/capsim-run", "-n", "1",
                                           *SHORT],
    "report on a sweep": lambda run, tmp: ["report", str(_sweep_dir(tmp))],
    "plot on a sweep": lambda run, tmp: ["plot", str(_sweep_dir(tmp))],
    "compare with a sweep": lambda run, tmp: ["compare", str(run), str(_sweep_dir(tmp))],
    "report on a non-run": lambda run, tmp: ["report", str(tmp)],
    "compare with a non-run": lambda run, tmp: ["compare", str(tmp), str(run)],
    "plot on a missing dir": lambda run, tmp: ["plot", str(tmp / "nope")],
    "resume with another seed": lambda run, tmp: ["run", "--resume", str(run), "--seed", "9"],
    "resume with another -n": lambda run, tmp: ["run", "--resume", str(run), "-n", "7"],
    "resume with --set": lambda run, tmp: ["run", "--resume", str(run), "--set", "a.b=1"],
    "resume of a complete run": lambda run, tmp: ["run", "--resume", str(run)],
    "max-replications below -n": lambda run, tmp: [
        "run", "--out", str(tmp / "o"), "-n", "5", "--max-replications", "3",
        "--target-ci", "unserved_fraction=0.1", *SHORT],
    "max-replications without a target": lambda run, tmp: [
        "run", "--out", str(tmp / "o"), "-n", "5", "--max-replications", "9", *SHORT],
    "unknown option": lambda run, tmp: ["run", "--replicaitons", "3"],
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_user_mistakes_exit_2_with_one_line_and_change_nothing(
        done_run, tmp_path, capsys, mistake):
    run = _copy(done_run, tmp_path / "run")
    argv = MISTAKES[mistake](run, tmp_path)
    before = snapshot(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("capsim"), err
    assert "Traceback" not in err and "python -m" not in err
    assert snapshot(tmp_path) == before


def test_resume_of_a_partial_run_drops_its_stale_report(done_run, tmp_path, capsys):
    run = _copy(done_run, tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**m, "status": "partial"}))
    (run / "report.html").write_text("<html>2 of 3 replications</html>")
    assert main(["run", "--resume", str(run), "--no-progress"]) == 0
    assert not (run / "report.html").exists()
    assert main(["report", str(run)]) == 0
    assert "2 of 3" not in (run / "report.html").read_text()


def test_an_unmet_target_exits_3_and_says_so(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["run", "--out", str(out), "-n", "2", "--target-ci", "aws_spend_total_usd=1",
                 "--max-replications", "3", "--prior", *SHORT]) == 3
    err = capsys.readouterr()
    assert "NOT met" in err.out and "not met within 3 replications" in err.err
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_bare_capsim_prints_help_and_version_and_serial_reports_one_worker(tmp_path, capsys):
    import capsim

    assert main([]) == 0
    assert "usage: capsim" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"capsim {capsim.__version__}"
    assert main(["run", "--out", str(tmp_path / "s"), "-n", "1", "-w", "4", *SHORT]) == 0
    assert "1 worker(s)" in capsys.readouterr().err
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["workers"] == 1


def test_every_option_has_help_with_a_default_or_unit():
    import argparse

    from capsim.experiments.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        text = sub.format_help()
        assert f"usage: capsim {name}" in text
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, (name, action.dest)
                shown = sub._get_formatter()._get_help_string(action)
                if action.default not in (None, False, [], argparse.SUPPRESS):
                    assert "default" in shown, (name, action.dest)



def test_resume_of_a_complete_run_redraws_a_lost_summary_and_plots(done_run, tmp_path, capsys):
    run = _copy(done_run, tmp_path / "run")
    (run / "summary.json").unlink()
    (run / "plots" / "fan_chart.png").unlink()
    tables = {n: (run / n).read_bytes() for n in ("kpis.parquet", "timeseries.parquet")}
    assert main(["run", "--resume", str(run), "--no-progress"]) == 0
    assert "missing" in capsys.readouterr().err
    assert (run / "summary.json").exists() and (run / "plots" / "fan_chart.png").exists()
    assert {n: (run / n).read_bytes() for n in tables} == tables
    assert json.loads((run / "summary.json").read_text())["status"] == "complete"
    assert not (run / ".lock").exists()
    assert main(["run", "--resume", str(run)]) == 2  # nothing missing now


def test_an_out_that_cannot_be_written_exits_2_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from capsim.simcore import store as S

    def read_only(path, data):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(S, "atomic_write_bytes", read_only)
    out = tmp_path / "new" / "run"
    assert main(["run", "--out", str(out), "-n", "1", *SHORT]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Read-only file system" in err[0]
    assert list(tmp_path.iterdir()) == []
