"""Output paths a user gets wrong, --force on a partial run, the report's plots, compare.

A bad output path (too long, a directory where a file goes, a file where a directory
goes, /proc) exits 2 before any work, in one line naming the path, and leaves nothing on
disk; the API raises StoreError the same way. `--force` replaces only files capsim
writes; the report embeds only files inside the run directory; `compare` warns when
the runs cover different windows.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from capsim.experiments.cli import main

SHORT = ["--set", "scenario.end=2026-10-01", "--no-progress", "--executor", "serial"]


@pytest.fixture(scope="module")
def done_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base") / "run"
    assert main(["run", "--out", str(out), "-n", "2", "--seed", "5", *SHORT]) == 0
    return out


def _bad_paths(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of bad path: (the path, what the message must say)."""
    (tmp / "a-file").write_text("mine")
    (tmp / "a-dir").mkdir()
    return {"too long": (tmp / ("x" * 300), "too long"),
            "under a file": (tmp / "a-file" / "sub", "a-file"),
            "in /proc": (Path("/proc/capsim-out"), "/proc"),
            "a directory for a file": (tmp / "a-dir", "is a directory"),
            "a file for a directory": (tmp / "a-file", "not a directory")}


FILE_KINDS = ("too long", "under a file", "in /proc", "a directory for a file")
DIR_KINDS = ("too long", "under a file", "in /proc", "a file for a directory")
COMMANDS = {
    "run --out": (DIR_KINDS, lambda run, p: ["run", "--out", str(p), "-n", "1", *SHORT]),
    "compare --json": (FILE_KINDS, lambda run, p: ["compare", str(run), str(run),
                                                    "--json", str(p)]),
    "report --out": (FILE_KINDS, lambda run, p: ["report", str(run), "--out", str(p)]),
    "plot --out": (DIR_KINDS, lambda run, p: ["plot", str(run), "--out", str(p)]),
    "calibrate --out": (DIR_KINDS, lambda run, p: ["calibrate", "--out", str(p),
                                                   "--points", "10"]),
}
CASES = [(c, k) for c, (kinds, _) in COMMANDS.items() for k in kinds]


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("command", "kind"), CASES)
def test_a_bad_output_path_exits_2_naming_it_and_leaves_nothing(
        done_run, tmp_path, capsys, command, kind):
    path, says = _bad_paths(tmp_path)[kind]
    before = _listing(tmp_path)
    run_before = _listing(done_run)
    argv = COMMANDS[command][1](done_run, path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert command.split()[-1] in lines[0] and says in lines[0], lines[0]
    assert str(path)[:60] in lines[0]
    assert _listing(tmp_path) == before and _listing(done_run) == run_before
    assert (tmp_path / "a-file").read_text() == "mine"


def test_the_api_raises_store_error_for_a_bad_output_path_and_writes_nothing(
        done_run, tmp_path):
    import capsim

    paths = _bad_paths(tmp_path)
    before = _listing(tmp_path)
    calls = [lambda: capsim.run(replications=1, out=paths["in /proc"][0]),
             lambda: capsim.run(replications=1, out=paths["a file for a directory"][0]),
             lambda: capsim.open_run(done_run).report(out=paths["a directory for a file"][0]),
             lambda: capsim.open_run(done_run).plot(out=paths["too long"][0]),
             lambda: capsim.compare(done_run, done_run).plot(paths["under a file"][0] / "x.png"),
             lambda: capsim.calibrate(out=paths["in /proc"][0], points=10)]
    for call in calls:
        with pytest.raises(capsim.StoreError):
            call()
    assert _listing(tmp_path) == before


def _partial_copy(done_run: Path, dst: Path) -> Path:
    run = Path(shutil.copytree(done_run, dst, symlinks=True))
    m = json.loads((run / "manifest.json").read_text())
    m.pop("plots")  # a partial run has no plot list
    (run / "manifest.json").write_text(json.dumps({**m, "status": "partial"}))
    return run


def test_force_on_a_partial_run_never_deletes_a_users_png(done_run, tmp_path, capsys):
    run = _partial_copy(done_run, tmp_path / "run")
    (run / "plots" / "my-figure.png").write_bytes(b"\x89PNG mine")
    argv = ["run", "--out", str(run), "-n", "1", "--force", *SHORT]
    assert main(argv) == 2
    assert "plots/my-figure.png" in capsys.readouterr().err
    assert (run / "plots" / "my-figure.png").read_bytes() == b"\x89PNG mine"
    # capsim's own plot names, with no list, are capsim's: the run is replaced.
    (run / "plots" / "my-figure.png").unlink()
    assert main(argv) == 0
    assert json.loads((run / "manifest.json").read_text())["replications_done"] == 1


def test_the_report_never_embeds_a_file_from_outside_the_run(done_run, tmp_path):
    run = Path(shutil.copytree(done_run, tmp_path / "run", symlinks=True))
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG a private picture" * 50)
    (run / "plots" / "holiday.png").symlink_to(secret)
    (run / "plots" / "fan_chart.png").unlink()
    (run / "plots" / "fan_chart.png").symlink_to(secret)
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert base64.b64encode(secret.read_bytes()).decode()[:80] not in html
    assert base64.b64encode((done_run / "plots" / "power.png").read_bytes()).decode()[:80] \
        in html  # the run's own plots are there


def test_compare_warns_when_the_runs_cover_different_windows(done_run, tmp_path, capsys):
    other = tmp_path / "longer"
    argv = ["run", "--out", str(other), "-n", "2", "--seed", "5",
            *SHORT[:1], "scenario.end=2026-12-01", *SHORT[2:]]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["compare", str(done_run), str(other)]) == 0
    err = capsys.readouterr().err
    assert "different windows" in err and "end 2026-10-01 (A) vs 2026-12-01 (B)" in err, err
    assert main(["compare", str(done_run), str(done_run)]) == 0
    assert "different windows" not in capsys.readouterr().err
