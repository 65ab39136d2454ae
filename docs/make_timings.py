"""How long the decision commands take on the default scenario, measured by running them.

    python docs/make_timings.py                 # all three, about 50 minutes on 2 cores
    python docs/make_timings.py --only plan     # one of sensitivity, plan, voi
    python docs/make_timings.py --keep DIR      # keep the output directories in DIR

Each command runs as a user would type it, in a child process with all the machine's
cores, one after another (the value of information reads the plan's directory). The script
writes `docs/developer/timings.md`: the wall-clock time of each command, its exit code,
the last lines it printed, the machine (cores, CPU model), the date and the digests of the
model and scenario it ran (as `docs/make_figures.py` computes them). Times are measured,
never asserted by a test: this machine moves by 10-20% from run to run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "developer" / "timings.md"
DATA = ROOT / "docs" / "developer" / "timings.json"
SEED = 2026
TARGETS = {"sensitivity": 20, "plan": 15, "voi": 15}
COMMANDS = {
    "sensitivity": ["sensitivity", "--groups",
                    "--seed", str(SEED)],
    "plan": ["plan", "--seed", str(SEED)],
    "voi": ["value-of-information", "--seed", str(SEED)],
}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _argv(name: str, out: Path, plan_dir: Path | None) -> list[str]:
    args = [sys.executable, "-m", "capsim.experiments.cli", *COMMANDS[name],
            "--out", str(out / name), "--no-progress"]
    if name == "voi" and plan_dir is not None and (plan_dir / "manifest.json").exists():
        args += ["--plan", str(plan_dir)]
    return args


def measure(names: list[str], keep: Path | None) -> dict:
    """Run each command; its time, exit code and the tail of what it printed."""
    sys.path.insert(0, str(ROOT / "docs"))
    import make_figures as figs

    import capsim

    out_root = keep or Path(tempfile.mkdtemp(prefix="capsim-timings-"))
    out_root.mkdir(parents=True, exist_ok=True)
    made = {"date": dt.date.today().isoformat(), "capsim_version": capsim.__version__,
            "model_digest": figs.model_digest(),
            "scenario_digest": figs.scenario_digest(None, [])}
    rows = {}
    for name in names:
        argv = _argv(name, out_root, out_root / "plan")
        shown = ["capsim", *argv[3:]]
        shown = [a if not a.startswith(str(out_root)) else a.replace(str(out_root), "DIR")
                 for a in shown]
        print(f"running: {' '.join(shown)}", flush=True)
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - t0
        tail = [ln.replace(str(out_root), "DIR") for ln in p.stdout.strip().splitlines()]
        rows[name] = {**made, "command": " ".join(shown), "seconds": round(seconds, 1),
                      "exit": p.returncode, "target_minutes": TARGETS[name],
                      "output": tail[-40:],
                      "stderr": p.stderr.strip().splitlines()[-5:] if p.returncode else []}
        print(f"  {seconds / 60:.1f} min, exit {p.returncode}", flush=True)
    return {"cores": os.cpu_count(), "cpu": _cpu(), "python": platform.python_version(),
            "seed": SEED, "commands": rows}


def page(data: dict) -> str:
    """The Markdown page of a measurement."""
    lines = ["# Time to answer", "",
             "<!-- written by docs/make_timings.py; do not edit by hand -->", "",
             "How long the decision commands take on the default scenario, measured by "
             "`python docs/make_timings.py`, which runs each command as written below, one "
             "after another, with every core of the machine. The value of information reads "
             "the plan's directory (`--plan`), so it is timed without the plan's own time.",
             "",
             f"Machine: {data['cores']} cores ({data['cpu']}), Python {data['python']}. "
             "Each row names the date, the capsim version and the digests of the model and "
             "the scenario it ran (as `docs/make_figures.py` computes them). Timings on "
             "this kind of machine move by 10-20% from run to run.", "",
             "| command | minutes | target | exit | measured | model digest | scenario digest |",
             "|---|---:|---:|---:|---|---|---|"]
    for r in data["commands"].values():
        lines.append(f"| `{r['command']}` | {r['seconds'] / 60:.1f} | "
                     f"{r['target_minutes']} | {r['exit']} | {r['date']} | "
                     f"`{r['model_digest']}` | `{r['scenario_digest']}` |")
    lines.append("")
    for name, r in data["commands"].items():
        lines += [f"## `{COMMANDS[name][0]}`", "", "What it printed (the end):", "", "```",
                  *r["output"], "```", ""]
        if r["stderr"]:
            lines += ["Its error output (the end):", "", "```", *r["stderr"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and write the page; the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=sorted(COMMANDS), default=None)
    p.add_argument("--keep", type=Path, default=None,
                   help="keep the directories here (with --only voi, DIR/plan is read)")
    p.add_argument("--page", action="store_true", help="only rewrite the page from the JSON")
    a = p.parse_args(argv)
    if a.page:
        data = json.loads(DATA.read_text())
    else:
        names = a.only or list(COMMANDS)
        data = measure(names, a.keep)
        if a.only and DATA.exists():  # the other commands keep their own measurement
            old = json.loads(DATA.read_text())
            data["commands"] = {n: data["commands"].get(n, old["commands"].get(n))
                                for n in COMMANDS if n in data["commands"]
                                or n in old["commands"]}
        DATA.write_text(json.dumps(data, indent=1) + "\n")
    PAGE.write_text(page(data))
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
