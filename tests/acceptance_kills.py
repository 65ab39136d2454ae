"""Acceptance check of issue 19: SIGKILL of the main process at random moments.

    python tests/acceptance_kills.py [--kills 10] [--seed 0]

Each round starts `capsim run` (6 replications, 2 workers), kills the main process with
SIGKILL at a random moment between the creation of its run directory and its end (one
round waits for the plotting), checks that no process of the run is alive 5 s later,
resumes the run and compares its tables byte for byte, and its plots by name, with an
uninterrupted run.
Prints one line per round and exits 1 if any round failed.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from procs import RUN, TABLES, kill_and_check, resume, start, wait_for  # noqa: E402


def main() -> int:
    """Run the rounds; 0 if all passed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="capsim-kills-"))
    ref = tmp / "reference"
    p = start(ref)
    wait_for(lambda: (ref / "manifest.json").exists())
    t0 = time.monotonic()
    _, err = p.communicate()
    span = time.monotonic() - t0  # the run's life from its directory's creation to its end
    if p.returncode != 0:
        print(err)
        return 1
    plots = {x.name for x in (ref / "plots").iterdir()}
    print(f"reference run: {span:.1f} s from its directory's creation to its end, "
          f"{len(plots)} plots")
    failed = 0
    for k in range(a.kills):
        out = tmp / f"kill-{k}"
        proc = start(out)
        if k == a.kills - 1:
            wait_for(lambda out=out: (out / "plots").is_dir())
            when = "during plotting"
        else:
            # A random moment of the run's life: from its directory's creation to its end.
            wait_for(lambda out=out: (out / "manifest.json").exists())
            delay = rng.uniform(0.0, 0.95 * span)
            time.sleep(delay)
            when = f"{delay:.2f} s after the run directory appeared"
        done_before = proc.poll() is not None
        left = kill_and_check(proc, signal.SIGKILL)
        m = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() \
            else {}
        state = (f"status {m.get('status')}, {m.get('replications_done')} done, "
                 f"{len(list((out / 'plots').glob('*.png'))) if (out / 'plots').is_dir() else 0}"
                 " plots")
        if not (out / "manifest.json").exists():
            # Killed before the run directory existed: nothing to resume; run it afresh.
            r = subprocess.run([sys.executable, "-m", "capsim", "run", "--out", str(out), *RUN],
                               capture_output=True, text=True)
        elif m.get("status") == "complete":
            r = subprocess.CompletedProcess([], 0, "", "")
        else:
            r = resume(out)
        same = r.returncode == 0 and all(
            (out / t).read_bytes() == (ref / t).read_bytes() for t in TABLES) and \
            {x.name for x in (out / "plots").iterdir()} == plots
        ok = not left and same and not done_before
        failed += not ok
        print(f"kill {k + 1}: SIGKILL {when} ({state}); alive 5 s later: {len(left)}; "
              f"resume exit {r.returncode}; tables identical and all plots: {same}"
              + ("" if ok else "  <-- FAILED"))
    print(f"{a.kills - failed} of {a.kills} rounds passed ({tmp})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
