"""capsim: will AI compute capacity keep up with demand? Monte Carlo discrete-event simulation.

The public API (see README, "Python API")::

    import capsim

    run = capsim.run(replications=8)          # the default scenario, into a temporary dir
    run.summary["kpis"]["unserved_fraction"]  # estimates with 95% intervals
    run.kpis                                  # one row per replication (pandas)
    capsim.compare(run_a, run_b).frame()      # paired differences when seeds match

Subpackages: `capsim.simcore` (domain-free kernel), `capsim.models` (the AI-capacity
domain), `capsim.experiments` (the command line, the pipelines behind this API, the
question scripts and the tools).

The `capsim` command's exit codes: 0 done, 1 internal error, 2 user mistake, 3
`--target-ci` not met, 74 disk full / read-only file system / permission denied (the run
is kept resumable), 130 Ctrl-C, 143 SIGTERM (see `capsim.experiments.cli`).
"""

from importlib import metadata as _metadata
from pathlib import Path as _Path

# Run from a source checkout (`python -m capsim` in the repository, where this folder
# shadows an installed copy), the subpackages are the sibling folders simcore/, models/
# and experiments/ that an install maps into capsim (setuptools package-dir). An
# installed capsim holds them inside this folder, so this never applies there.
_here = _Path(__file__).resolve().parent
if not (_here / "simcore").is_dir() and (_here.parent / "simcore" / "streams.py").is_file() \
        and (_here.parent / "pyproject.toml").is_file():
    __path__.append(str(_here.parent))

# The API (and pandas, pyarrow, matplotlib behind it) loads on first use, so that a
# process that only runs the model (a pool worker) stays small.
_API = ("Comparison", "Run", "Scenario", "ScenarioError", "StoreError", "Sweep", "UsageError",
        "calibrate", "compare", "global_sensitivity", "load", "open_run", "plan", "plot",
        "report", "resume", "run", "scenarios", "sensitivity", "sweep")


def __getattr__(name: str):
    if name in _API:
        from capsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'capsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


try:
    __version__ = _metadata.version("capsim")
except _metadata.PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["Comparison", "Run", "Scenario", "ScenarioError", "StoreError", "Sweep", "UsageError",
           "__version__", "calibrate", "compare", "global_sensitivity", "load", "open_run", "plan",
           "plot", "report", "resume", "run", "scenarios", "sensitivity", "sweep"]
