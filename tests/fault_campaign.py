"""A fault campaign: every fault of the robustness acceptance, run as a user would.

Bad inputs, special files, budgets, damaged run directories, bad output paths, --force
on the user's files, bad API calls, killed workers and processes.

    python tests/fault_campaign.py [--only CATEGORY ...] [--limit N] [--fuzz 20] [--keep]

Every case runs `python -m capsim ...` (or a short Python script for the API) in its own
process and session, with a time limit. Checked for each: the exit code is one the case
allows (never 1), stderr holds no traceback, the process ends in time (no hang), a
refusal stays under 1 GB of memory, every file the case marked as the user's is still
there with its bytes, and no run directory is marked "complete" while its tables lack a
replication the manifest promises. The bad-input fuzz of `acceptance_inputs.py` (its
`draw`) adds `--fuzz` random inputs; killed workers and processes reuse `procs.py`.
Prints one line per failure and a tally; exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import campaign_cases  # noqa: E402
from campaign_cases import Case  # noqa: E402
from procs import descendants  # noqa: E402

PY = sys.executable
SHORT = ["--set", "scenario.end=2026-10-01", "--no-progress", "--executor", "serial"]
REFUSAL_MEMORY = 1 << 30
"""A refusal (exit 2 or 74) must stay under 1 GB of memory (ru_maxrss)."""


def run_case(case: Case, cwd: Path, cmd: list[str] | None = None,
             during: Callable[[subprocess.Popen], None] | None = None
             ) -> tuple[int | str, str, float, int]:
    """Run one case in its own session: (exit code or "hang", stderr, seconds, peak bytes).

    `during(proc)` acts on the running process (a kill) before it is waited for.
    """
    if cmd is None:
        cmd = [PY, "-m", "capsim", *case.argv] if case.argv is not None \
            else [PY, "-c", case.script]
    if sum(len(a) for a in cmd) > 100_000:  # beyond what exec takes: argv from a file
        fd, argfile = tempfile.mkstemp(dir=cwd, suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(cmd[3:], fh)
        cmd = [PY, "-c", "import json, sys\nfrom capsim.experiments.cli import main\n"
               f"sys.exit(main(json.load(open({argfile!r}))))"]
    with tempfile.TemporaryFile("w+") as errf:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf,
                             stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True,
                             text=True)
        if during is not None:
            during(p)
        code: int | str = "hang"
        memory = 0
        while time.monotonic() - t0 < case.limit:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                code, memory = os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024
                p.returncode = code
                break
            time.sleep(0.02)
        else:
            for w in descendants(p.pid) | {p.pid}:
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
        seconds = time.monotonic() - t0
        errf.seek(0)
        return code, errf.read(), seconds, memory


def complete_but_missing(root: Path) -> list[str]:
    """Run directories under `root` marked complete whose tables lack replications."""
    from capsim.simcore.store import RunStore

    bad = []
    for m in root.rglob("manifest.json"):
        try:
            man = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(man, dict) or man.get("status") != "complete" or man.get("kind"):
            continue
        n = man.get("replications")
        problem = RunStore(m.parent).tables_problem(n) if isinstance(n, int) else "no count"
        if problem is not None and not m.parent.name.startswith("damaged"):
            bad.append(f"{m.parent}: complete but {problem}")
    return bad


def check(case: Case, code, err: str, seconds: float, memory: int, root: Path) -> list[str]:
    """The problems of one case's outcome (empty: it passed)."""
    problems = []
    if code == "hang":
        problems.append(f"no end within {case.limit:.0f} s")
    elif code == 1:
        problems.append("exit 1")
    elif code not in case.allowed:
        problems.append(f"exit {code}, wanted {case.allowed}")
    if "Traceback" in err:
        problems.append("a traceback")
    if code in (2, 74) and not err.strip():
        problems.append("refused without a message")
    if code in (2, 74) and memory > REFUSAL_MEMORY:
        problems.append(f"refusal used {memory / 2**20:.0f} MB")
    for p in case.keep:
        if not p.exists():
            problems.append(f"user file lost: {p}")
    if case.after is not None and code != "hang":
        extra = case.after()
        if extra:
            problems.append(extra)
    problems += complete_but_missing(root)
    return problems


def base_runs(tmp: Path) -> tuple[Path, Path]:
    """A complete run and a partial one (every part kept), to copy and damage."""
    done, partial = tmp / "base-complete", tmp / "base-partial"
    r = subprocess.run([PY, "-m", "capsim", "run", "--out", str(done), "-n", "3", "--seed", "5",
                        *SHORT], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"the base run failed: {r.stderr}")
    # Stopped while plotting: "partial", with every replication's parts kept.
    r = subprocess.run([PY, "-c", campaign_cases.STOP_WHILE_PLOTTING, "run", "--out",
                        str(partial), "-n", "3", "--seed", "5", *SHORT],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 130 or not (partial / "parts").is_dir():
        raise SystemExit(f"the partial base run failed: {r.stderr}")
    return done, partial


def main() -> int:
    """Run the campaign; 0 if every case passed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, metavar="CATEGORY",
                    help=f"run only these categories ({', '.join(campaign_cases.CATEGORIES)})")
    ap.add_argument("--limit", type=int, default=None, help="at most N cases of each category")
    ap.add_argument("--fuzz", type=int, default=20, help="random bad inputs (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the campaign's directory")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="capsim-campaign-"))
    t0 = time.monotonic()
    done, partial = base_runs(tmp)
    cases = campaign_cases.build(tmp, done, partial, a.fuzz, a.seed)
    if a.only:
        cases = [c for c in cases if c.category in a.only]
    if a.limit:
        by: dict[str, int] = collections.Counter()
        kept = []
        for c in cases:
            by[c.category] += 1
            if by[c.category] <= a.limit:
                kept.append(c)
        cases = kept
    tally: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    failed = 0
    for case in cases:
        if case.setup is not None:
            case.setup()
        code, err, seconds, memory = run_case(case, tmp, case.cmd, case.during)
        problems = check(case, code, err, seconds, memory, tmp)
        tally[f"exit {code}"] += 1
        kinds[case.category] += 1
        if problems:
            failed += 1
            last = err.strip().splitlines()[-1][:200] if err.strip() else ""
            print(f"FAILED [{case.category}] {case.name}: {'; '.join(problems)} | {last}",
                  flush=True)
    print(f"{len(cases)} cases in {time.monotonic() - t0:.0f} s ("
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + "): "
          + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items(), key=str)))
    print(f"{failed} failures; exit 1: {tally['exit 1']}, hangs: {tally['exit hang']}")
    if not a.keep and not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"campaign directory: {tmp}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
