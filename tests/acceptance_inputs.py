"""Acceptance check of issue 19: generated bad inputs across every scenario field.

    python tests/acceptance_inputs.py [--count 1000] [--seed 0]

Each input is one `--set key=value` on a field found by walking the schema
(tests/schema_fuzz.py), with a value that breaks naive code (NaN, +-inf, 1e308, negative,
zero, fractional counts, huge strings, deep nesting, unicode, wrong types, distribution
tables holding such numbers). Each is run as `capsim run -n 1 --executor serial` on a
nine-month horizon (in this process, stderr captured). Checked: the exit code is 0 or 2
(never 1), stderr has no traceback or warning, no input takes more than 60 s of CPU, and no
run marked "complete" has an infinite KPI or a missing one outside
`finite.MAY_BE_MISSING`. Prints a tally; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import random
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from capsim.experiments.cli import main as capsim  # noqa: E402
from capsim.experiments.pipelines.finite import MAY_BE_MISSING  # noqa: E402
from schema_fuzz import NUMBERS, OTHER, _table, leaves  # noqa: E402

LIMIT_S = 60


class _Timeout(BaseException):  # not an Exception: capsim's main must not catch it
    pass


def _alarm(signum, frame):
    raise _Timeout()


def draw(rng: random.Random) -> tuple[str, str]:
    """One (key, value): a field of the schema and a bad value for its kind."""
    key, kind = rng.choice(leaves())
    pool = NUMBERS + OTHER
    if kind == "param" and rng.random() < 0.4:
        return key, _table(rng.choice(["constant", "uniform", "triangular", "normal",
                                       "lognormal", "pert"]),
                           rng.choice(NUMBERS), rng.choice(NUMBERS))
    if kind == "list" and rng.random() < 0.4:
        return key, "[" + ", ".join(rng.choice(NUMBERS) for _ in range(rng.randint(0, 4))) + "]"
    return key, rng.choice(pool)


def main() -> int:
    """Run the inputs; 0 if all passed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", type=int, nargs="*", default=None, metavar="I",
                    help="run only these input numbers of the sequence (to re-check failures)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="capsim-inputs-"))
    # The limit is CPU time of this process: on a shared machine wall time says little.
    signal.signal(signal.SIGVTALRM, _alarm)
    warnings.simplefilter("always")
    tally: collections.Counter = collections.Counter()
    failures: list[str] = []
    slowest = (0.0, "")
    for i in range(a.count):
        key, value = draw(rng)
        if a.only is not None and i not in a.only:
            continue
        out = tmp / f"r{i}"
        argv = ["run", "--out", str(out), "-n", "1", "--executor", "serial", "--no-progress",
                "--set", "scenario.end=2027-01-01", "--set", f"{key}={value}"]
        err = io.StringIO()
        t0 = time.process_time()
        signal.setitimer(signal.ITIMER_VIRTUAL, LIMIT_S)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
                    warnings.catch_warnings(record=True) as caught:
                rc = capsim(argv)
        except _Timeout:
            rc = "timeout"
            caught = []
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        took = time.process_time() - t0
        slowest = max(slowest, (took, f"{key}={value[:40]}"))
        text = err.getvalue()
        problem = ""
        if rc not in (0, 2):
            problem = f"exit {rc}"
        elif "Traceback" in text or caught or "Warning" in text:
            problem = "traceback or warning"
        elif took > LIMIT_S:
            problem = f"took {took:.0f} s"
        elif rc == 0:
            m = json.loads((out / "manifest.json").read_text())
            kp = pd.read_parquet(out / "kpis.parquet")
            for col in kp.columns:
                x = kp[col].to_numpy(float)
                if np.isinf(x).any() or (np.isnan(x).any()
                                         and col.partition("__")[0] not in MAY_BE_MISSING):
                    problem = f"complete={m['status'] == 'complete'} with {col}={x[0]}"
        tally[f"exit {rc}"] += 1
        if problem:
            failures.append(f"#{i} {key}={value[:60]!r}: {problem}: {text.strip()[-300:]}")
    print(f"{sum(tally.values())} inputs over {len(leaves())} schema fields: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
          + f"; most CPU time {slowest[0]:.1f} s ({slowest[1]})")
    for f in failures:
        print("FAILED", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
