"""The cases of `fault_campaign.py`: each a fault a user, the machine or a mistake makes."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PY = sys.executable
SHORT = ["--set", "scenario.end=2026-10-01", "--no-progress", "--executor", "serial"]
CATEGORIES = ("inputs", "files", "budgets", "rundirs", "reading", "outputs", "force", "api",
              "kills", "fuzz")

STOP_WHILE_PLOTTING = textwrap.dedent("""
    import sys
    from capsim.simcore import plots
    def stop(*a, **k):
        raise KeyboardInterrupt
    plots.fan_chart = stop
    from capsim.experiments.cli import main
    sys.exit(main(sys.argv[1:]))
""")

API_CALL = textwrap.dedent("""
    import sys
    import capsim
    from capsim import ScenarioError, StoreError, UsageError
    try:
        {call}
    except (ScenarioError, StoreError, UsageError) as exc:
        print(f"refused: {{exc}}", file=sys.stderr)
        sys.exit(2)
""")


@dataclass
class Case:
    """One fault: what to run, what it may exit with, and what must survive it."""

    category: str
    name: str
    argv: list[str] | None = None               # capsim's arguments, or
    script: str | None = None                   # a Python script (the API)
    allowed: tuple[int, ...] = (2,)
    limit: float = 30.0                         # seconds until it counts as a hang
    keep: list[Path] = field(default_factory=list)  # the user's files: must survive
    after: Callable[[], str | None] | None = None   # a further check: the problem, or None
    cmd: list[str] | None = None                # a whole command line instead
    during: Callable[[subprocess.Popen], None] | None = None  # acts on it while it runs
    setup: Callable[[], None] | None = None     # made just before the case runs


def _resume(run: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "capsim", "run", "--resume", str(run), "--no-progress",
                           "--executor", "serial"], capture_output=True, text=True, timeout=300)


def _resumes_complete(run: Path) -> Callable[[], str | None]:
    """After a kill: `--resume` must finish the run (its data checked by the campaign)."""
    def check() -> str | None:
        r = _resume(run)
        if r.returncode != 0:
            return f"resume exit {r.returncode}: {r.stderr.strip()[-200:]}"
        m = json.loads((run / "manifest.json").read_text())
        return None if m["status"] == "complete" else f"resumed run is {m['status']}"
    return check


def _nothing_at(path: Path) -> Callable[[], str | None]:
    return lambda: f"{path} was left on disk" if path.exists() else None


def _no_temporaries(run: Path) -> Callable[[], str | None]:
    def check() -> str | None:
        left = [str(p) for p in run.rglob(".*.tmp")]
        return f"temporary files survive: {left}" if left else None
    return check


class Builder:
    """Makes the case folders and the cases."""

    def __init__(self, tmp: Path, done: Path, partial: Path) -> None:
        self.tmp, self.done, self.partial = tmp, done, partial
        self.cases: list[Case] = []
        self.n = 0

    def folder(self) -> Path:
        """A new folder of its own for a case."""
        self.n += 1
        d = self.tmp / f"c{self.n:03d}"
        d.mkdir()
        return d

    def add(self, category: str, name: str, **kw) -> Case:
        """Add a case (see `Case`)."""
        c = Case(category, name, **kw)
        self.cases.append(c)
        return c

    def user_file(self, d: Path, name: str = "precious.txt") -> Path:
        """A file of the user's in `d`."""
        p = d / name
        p.write_text("the user's work")
        return p


def inputs(b: Builder) -> None:
    """Bad scenario values and files of the wrong syntax."""
    d = b.folder()
    (d / "bad.toml").write_text("[scenario\nname = = 1\n")
    (d / "empty.toml").write_text("")
    deep = ".".join(["a"] * 3000)
    (d / "deep.toml").write_text(f'extends = "aws-anthropic-2026"\n{deep} = 1\n')
    out = d / "out"
    run = ["run", "--out", str(out), "-n", "1", *SHORT]
    for name, argv in {
        "bad TOML (validate)": ["validate", str(d / "bad.toml")],
        "bad TOML (run)": ["run", str(d / "bad.toml"), "--out", str(out), "-n", "1", *SHORT],
        "empty scenario file": ["validate", str(d / "empty.toml")],
        "unknown key": [*run, "--set", "nosuch.key=1"],
        "NaN": [*run, "--set", "demand.growth_multiplier=nan"],
        "infinity": [*run, "--set", "demand.growth_multiplier=inf"],
        "negative duration": [*run, "--set",
                              "datacenters.campuses.aws-regions-2024.interval_days=-5"],
        "a 401-digit integer": [*run, "--set", "demand.growth_multiplier=" + "9" * 401],
        "an integer over Python's digit limit": [*run, "--set", "fleet.x=" + "9" * 5000],
        "dotted key 3,000 deep (--set)": [*run, "--set", f"{deep}=1"],
        "dotted key 3,000 deep with extends": ["validate", str(d / "deep.toml")],
        "a 100,000-character string": [*run, "--set", 'scenario.name="' + "x" * 100_000 + '"'],
        "a directory as the scenario": ["validate", str(d)],
    }.items():
        b.add("inputs", name, argv=argv, after=_nothing_at(out))


def files(b: Builder) -> None:
    """FIFOs and devices where a file is expected, missing and malformed posteriors."""
    d = b.folder()
    fifo = d / "fifo"
    os.mkfifo(fifo)
    (d / "extends-fifo.toml").write_text(f'extends = "{fifo}"\n')
    out = d / "out"
    run = ["run", "--out", str(out), "-n", "1", *SHORT]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"demand.growth_multiplier": ["high", "low"]}),
                   d / "text.parquet")
    for name, argv in {
        "FIFO as the scenario (validate)": ["validate", str(fifo)],
        "FIFO as the scenario (run)": ["run", str(fifo), "--out", str(out), "-n", "1", *SHORT],
        "FIFO as an extends target": ["validate", str(d / "extends-fifo.toml")],
        "FIFO as the observations": [*run, "--set", f'scenario.observations="{fifo}"'],
        "/dev/zero as the scenario": ["validate", "/dev/zero"],
        "/dev/zero as the observations": [*run, "--set", 'scenario.observations="/dev/zero"'],
        "/dev/zero as the posterior": [*run, "--posterior", "/dev/zero"],
        "FIFO as the posterior": [*run, "--posterior", str(fifo)],
        "a missing posterior": [*run, "--set", f'scenario.posterior="{d / "nope.parquet"}"'],
        "a posterior with text columns": [*run, "--posterior", str(d / "text.parquet")],
    }.items():
        b.add("files", name, argv=argv, limit=15, after=_nothing_at(out))


def budgets(b: Builder) -> None:
    """Budgets beyond their limits: refused at once, before anything is allocated."""
    d = b.folder()
    out = d / "out"
    for name, argv in {
        "-n 1e9": ["run", "--out", str(out), "-n", "1000000000", *SHORT],
        "surges 1e5 a year": ["run", "--out", str(out), "-n", "1", *SHORT, "--set",
                              "surges.rate_per_year=1e5"],
        "plot --dpi 5000": ["plot", str(b.done), "--dpi", "5000", "--out", str(out)],
        "sweep --samples 1e8": ["sweep", "--param", "demand.growth_multiplier=1:2",
                                "--samples", "100000000", "--out", str(out)],
        "sensitivity --samples 1e7": ["sensitivity", "--method", "sobol", "--samples",
                                      "10000000", "--out", str(out)],
        "calibrate --points 1e9": ["calibrate", "--points", "1000000000", "--out", str(out)],
        "plan --states 1e9": ["plan", "--states", "1000000000", "--out", str(out)],
    }.items():
        b.add("budgets", name, argv=argv, limit=15, after=_nothing_at(out))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _damage_parts(b: Builder) -> None:
    def truncate(run):
        p = run / "parts" / "ts-000001.parquet"
        p.write_bytes(p.read_bytes()[:1000])

    def garbage(run):
        (run / "parts" / "kpis-000002.parquet").write_bytes(os.urandom(5000))

    def empty(run):
        (run / "parts" / "ts-000000.parquet").write_bytes(b"")

    def swap(run):
        a, c = run / "parts" / "kpis-000000.parquet", run / "parts" / "kpis-000001.parquet"
        x = a.read_bytes()
        a.write_bytes(c.read_bytes())
        c.write_bytes(x)

    def temporaries(run):
        (run / ".timeseries.parquet.abcd1234.tmp").write_bytes(b"half")
        (run / "parts" / ".ts-000001.parquet.xyz.tmp").write_bytes(b"half")

    for name, damage in {"a truncated part": truncate, "a part of garbage bytes": garbage,
                         "an empty part": empty, "two parts swapped": swap,
                         "temporary files a kill left": temporaries}.items():
        run = b.folder() / "run"

        def setup(run=run, damage=damage):
            _copy(b.partial, run)
            damage(run)
        b.add("rundirs", f"resume with {name}", argv=["run", "--resume", str(run),
                                                      "--no-progress"],
              allowed=(0,), limit=120, setup=setup, after=_no_temporaries(run))


def rundirs(b: Builder) -> None:
    """Damaged run directories given to --resume."""
    _damage_parts(b)
    d = b.folder()
    stray, asfile = d / "stray", d / "parts-file"
    keep1 = stray / "parts" / "notes.txt"
    keep2 = asfile / "parts"

    def stray_setup():
        _copy(b.partial, stray)
        keep1.write_text("mine")

    def file_setup():
        _copy(b.partial, asfile)
        shutil.rmtree(asfile / "parts")
        keep2.write_text("a file of the user's")
    b.add("rundirs", "a stray file in parts/", argv=["run", "--resume", str(stray),
                                                    "--no-progress"],
          allowed=(0,), limit=120, setup=stray_setup, keep=[keep1])
    b.add("rundirs", "parts is a file", argv=["run", "--resume", str(asfile)],
          setup=file_setup, keep=[keep2])
    for name, change in {"replications 'six'": {"replications": "six"},
                         "seed -1": {"seed": -1}, "overrides a string": {"overrides": "a=1"},
                         "no replications": {"replications": None}}.items():
        run = b.folder() / "run"

        def setup(run=run, change=change):
            _copy(b.partial, run)
            m = json.loads((run / "manifest.json").read_text())
            (run / "manifest.json").write_text(json.dumps({**m, **change}))
        b.add("rundirs", f"resume with a manifest whose {name}",
              argv=["run", "--resume", str(run)], setup=setup)
    garbage = b.folder() / "run"
    b.add("rundirs", "resume with a manifest of garbage",
          argv=["run", "--resume", str(garbage)],
          setup=lambda: (_copy(b.partial, garbage),
                         (garbage / "manifest.json").write_bytes(os.urandom(300))))
    claims = b.folder() / "run"

    def claims_setup():
        _copy(b.done, claims)
        m = json.loads((claims / "manifest.json").read_text())
        (claims / "manifest.json").write_text(json.dumps({**m, "replications": 6}))
    b.add("rundirs", "a manifest claiming complete with half the replications",
          argv=["run", "--resume", str(claims), "--no-progress"], allowed=(0,), limit=120,
          setup=claims_setup)


def reading(b: Builder) -> None:
    """Reading commands and the API on complete runs with damaged files."""
    def trunc(name):
        def damage(run):
            p = run / name
            p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 3)])
        return damage

    def junk(name):
        return lambda run: (run / name).write_bytes(os.urandom(4000))

    damages = {"truncated summary.json": trunc("summary.json"),
               "garbage summary.json": junk("summary.json"),
               "truncated kpis.parquet": trunc("kpis.parquet"),
               "garbage kpis.parquet": junk("kpis.parquet"),
               "truncated timeseries.parquet": trunc("timeseries.parquet"),
               "garbage timeseries.parquet": junk("timeseries.parquet")}
    for what, damage in damages.items():
        run = b.folder() / "damaged-run"

        def setup(run=run, damage=damage):
            _copy(b.done, run)
            damage(run)
        calls = {"report": ["report", str(run), "--out", str(run.parent / "r.html")],
                 "plot": ["plot", str(run), "--out", str(run.parent / "p")],
                 "compare": ["compare", str(b.done), str(run)]}
        first = True
        for cmd, argv in calls.items():
            # compare reads the tables alone: a damaged summary does not stop it.
            ok = (0, 2) if cmd == "compare" and "summary" in what else (2,)
            b.add("reading", f"{cmd} on {what}", argv=argv, allowed=ok,
                  setup=setup if first else None)
            first = False
        b.add("reading", f"open_run on {what}", script=API_CALL.format(
            call=f"r = capsim.open_run({str(run)!r}); r.summary; r.kpis; r.timeseries"))


def outputs(b: Builder) -> None:
    """Output paths that cannot be used: too long, a directory, a file, /proc."""
    d = b.folder()
    afile, adir = b.user_file(d, "a-file"), d / "a-dir"
    adir.mkdir()
    long = d / ("x" * 300)
    for kind, path in {"too long": long, "under a file": afile / "sub",
                       "in /proc": Path("/proc/capsim-out"), "a directory": adir,
                       "a file": afile}.items():
        for name, argv in {
            "run --out": ["run", "--out", str(path), "-n", "1", *SHORT],
            "compare --json": ["compare", str(b.done), str(b.done), "--json", str(path)],
            "report --out": ["report", str(b.done), "--out", str(path)],
            "plot --out": ["plot", str(b.done), "--out", str(path)],
            "calibrate --out": ["calibrate", "--out", str(path), "--points", "10"],
        }.items():
            if (kind == "a directory" and name in ("run --out", "plot --out", "calibrate --out")) \
                    or (kind == "a file" and name in ("compare --json", "report --out")):
                continue  # what these write may go there
            b.add("outputs", f"{name} {kind}", argv=argv, keep=[afile], limit=15)


def force(b: Builder) -> None:
    """--force on directories holding files of the user's."""
    for where in ("plots/my-figure.png", "notes.txt", "parts/mine.parquet"):
        run = b.folder() / "run"
        user = run / where

        def setup(run=run, user=user):
            _copy(b.partial, run)
            user.parent.mkdir(exist_ok=True)
            user.write_bytes(b"\x89PNG the user's")
        b.add("force", f"--force with the user's {where}", setup=setup, keep=[user],
              argv=["run", "--out", str(run), "-n", "1", "--force", *SHORT])


def api(b: Builder) -> None:
    """Bad arguments to the Python API: refused, naming them, nothing left on disk."""
    d = b.folder()
    out = d / "out"
    o = repr(str(out))
    for call in (f"capsim.run(replications=1.5, out={o})",
                 f"capsim.run(replications='abc', out={o})",
                 f"capsim.run(replications=None, out={o})", f"capsim.run(replications=0, out={o})",
                 f"capsim.run(seed=-1, out={o})", f"capsim.run(seed=1.5, out={o})",
                 f"capsim.run(workers=-1, out={o})", f"capsim.run(executor='nope', out={o})",
                 f"capsim.run(overrides=[None], out={o})",
                 f"capsim.run(targets={{'nope': 1}}, out={o})",
                 f"capsim.run(series=['nope'], out={o})", "capsim.open_run(5)",
                 f"capsim.calibrate(points=-5, out={o})", f"capsim.calibrate(points=0, out={o})",
                 f"capsim.calibrate(cutoff=-1, out={o})", f"capsim.plan(budget=0, out={o})",
                 f"capsim.sweep(params={{}}, out={o})"):
        b.add("api", call.replace(f", out={o}", "").replace(f"out={o}", ""),
              script=API_CALL.format(call=call), after=_nothing_at(out))


def kills(b: Builder) -> None:
    """A killed worker, a killed main process, SIGTERM, a scheduler that is not there."""
    from procs import RUN, descendants, wait_for

    def kill_worker(out):
        def during(p):
            wait_for(lambda: (out / "parts").is_dir() and any((out / "parts").glob("kpis-*")))
            workers = sorted(descendants(p.pid))
            if workers:
                os.kill(workers[-1], signal.SIGKILL)
        return during

    def kill_main(out, sig, when):
        def during(p):
            wait_for(when)
            os.kill(p.pid, sig)
        return during

    out = b.folder() / "run"
    b.add("kills", "SIGKILL of a pool worker", cmd=[PY, "-m", "capsim", "run", "--out", str(out),
                                                     *RUN],
          during=kill_worker(out), allowed=(0, 74), limit=180)
    out2 = b.folder() / "run"
    b.add("kills", "SIGKILL just after the run directory appears",
          cmd=[PY, "-m", "capsim", "run", "--out", str(out2), *RUN],
          during=kill_main(out2, signal.SIGKILL, lambda: (out2 / "manifest.json").exists()),
          allowed=(-9,), limit=60, after=_resumes_complete(out2))
    out3 = b.folder() / "run"
    b.add("kills", "SIGTERM mid-run", cmd=[PY, "-m", "capsim", "run", "--out", str(out3), *RUN],
          during=kill_main(out3, signal.SIGTERM,
                           lambda: any((out3 / "parts").glob("kpis-*"))
                           if (out3 / "parts").is_dir() else False),
          allowed=(143,), limit=60, after=_resumes_complete(out3))
    out4 = b.folder() / "out"
    for name, address in {"unreachable": "tcp://127.0.0.1:9", "malformed": "no such:address"
                          }.items():
        b.add("kills", f"a Dask scheduler that is {name}",
              argv=["run", "--out", str(out4), "-n", "1", "--executor", "dask", "--scheduler",
                    address, "--no-progress", "--set", "scenario.end=2026-10-01"],
              limit=40, after=_nothing_at(out4))


def fuzz(b: Builder, count: int, seed: int) -> None:
    """Random bad values on random scenario fields (acceptance_inputs.draw)."""
    from acceptance_inputs import draw

    rng = random.Random(seed)
    for i in range(count):
        key, value = draw(rng)
        out = b.folder() / "run"
        b.add("fuzz", f"#{i} {key}={value[:40]}", allowed=(0, 2), limit=180,
              argv=["run", "--out", str(out), "-n", "1", *SHORT, "--set", f"{key}={value}"])


def build(tmp: Path, done: Path, partial: Path, count: int, seed: int) -> list[Case]:
    """Every case of the campaign (`count` fuzzed inputs)."""
    b = Builder(tmp, done, partial)
    for make in (inputs, files, budgets, rundirs, reading, outputs, force, api, kills):
        make(b)
    fuzz(b, count, seed)
    return b.cases
