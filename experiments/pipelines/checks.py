"""The defaults, errors and checks shared by the API, the CLI, the questions and the tools.

`capsim.api` and the `capsim` command call the same checks with the same defaults, so a
notebook and the shell refuse the same inputs with the same messages.
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_REPLICATIONS = 100
"""Replications of a run when none are given (~1 minute on 2 cores, default scenario)."""
DEFAULT_SEED = 2026
"""Root seed when none is given."""
DEFAULT_MAX_REPLICATIONS = 2000
"""Cap of a run with precision targets (`--target-ci`) when none is given."""


LIMITS = {"replications": 100_000, "max_replications": 100_000, "workers": 1_024,
          "samples": 10_000, "points": 100_000, "states": 10_000, "bootstrap": 20_000,
          "dpi": 600, "budget": 10_000, "reps": 100_000, "max_reps": 100_000,
          "check_reps": 100_000, "robust": 1_000}
"""The largest value of each budget (an option of the command line, an argument of the API).

Checked before anything is allocated or written: a run's replications (a run directory
of about 1 MB each), a sweep's or a Sobol' design's samples (Sobol' runs N x (inputs + 2)
points), a calibration's design points, a plan's states of the world and search budget,
the bootstrap resamples of an analysis, and a plot's dots per inch (a figure at 600 dpi
is about 100 MB of pixels).
"""


class UsageError(Exception):
    """A caller's mistake (a bad value, option or directory): `capsim` exits 2."""


def limit_of(name: str) -> int | None:
    """The stated limit of a budget named as an option (`--max-reps`) or an argument."""
    return LIMITS.get(name.lstrip("-").replace("-", "_"))


def whole(name: str, value: Any, minimum: int, none_ok: bool = False,
          command: str = "capsim.run") -> None:
    """Refuse a value that is not a whole number in [minimum, its stated limit].

    NumPy's integers count (numbers.Integral); True, 1.5 and "3" do not.

    Raises:
        UsageError: naming `command`, the argument, the range and the value.
    """
    if value is None and none_ok:
        return
    top = limit_of(name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            int(value) < minimum or (top is not None and int(value) > top):
        upto = f" and <= {top:,}" if top is not None else ""
        raise UsageError(f"{command}: {name} must be a whole number >= {minimum}{upto}"
                         f"{' or None' if none_ok else ''}, got {value!r}")


def positive(name: str, value: Any, command: str, zero_ok: bool = False) -> None:
    """Refuse a value that is not a finite real number > 0 (>= 0 with `zero_ok`).

    Raises:
        UsageError: naming `command`, the argument and the value.
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and \
        math.isfinite(value) and (float(value) >= 0 if zero_ok else float(value) > 0)
    if not ok:
        raise UsageError(f"{command}: {name} must be a finite number "
                         f"{'>= 0' if zero_ok else '> 0'}, got {value!r}")


def sweep_ranges(params: Any, command: str = "capsim.sweep") -> None:
    """Refuse sweep ranges that are not a non-empty {key: (low, high)} with low < high.

    Raises:
        UsageError: naming the key and its range.
    """
    if not isinstance(params, dict) or not params:
        raise UsageError(f"{command}: params must be a non-empty dict {{key: (low, high)}}, "
                         f"got {params!r}")
    for key, rng in params.items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"{command}: params: a key must be a scenario key, got {key!r}")
        try:
            low, high = rng
            finite = all(not isinstance(v, bool) and isinstance(v, numbers.Real)
                         and math.isfinite(v) for v in (low, high))
        except (TypeError, ValueError):
            finite = False
        if not finite or not low < high:
            raise UsageError(f"{command}: params[{key!r}] must be (low, high), two finite "
                             f"numbers with low < high, got {rng!r}")


def default_workers() -> int:
    """Parallel workers when none are given: every core."""
    return os.cpu_count() or 1


def int_at_least(minimum: int, name: str = "value") -> Callable[[str], int]:
    """An argparse type: a whole number >= `minimum`; argparse turns errors into exit 2."""
    top = limit_of(name)

    def parse(text: str) -> int:
        try:
            value = int(text) if len(text) < 100 else int("x")
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text[:40]!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, got {value}")
        if top is not None and value > top:
            raise argparse.ArgumentTypeError(f"{name} must be <= {top:,} (capsim's limit), "
                                             f"got {value:,}")
        return value

    return parse


def parse_targets(items: Sequence[str]) -> dict[str, float]:
    """`KPI=HALFWIDTH` strings (as `--target-ci` takes them) as {KPI: half-width}.

    Raises:
        UsageError: an unknown KPI, or a half-width that is not a number > 0.
    """
    from capsim.models.capacity import KPIS, MILESTONES

    out = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if name not in KPIS + MILESTONES:
            raise UsageError(f"capsim run: --target-ci {item!r}: unknown KPI {name!r} "
                             f"(one of {', '.join(KPIS + MILESTONES)})")
        try:
            width = float(raw)
        except ValueError:
            raise UsageError(
                f"capsim run: --target-ci {item!r}: HALFWIDTH must be a number") from None
        if not sep or not width > 0:
            raise UsageError(f"capsim run: --target-ci {item!r}: HALFWIDTH must be > 0")
        out[name] = width
    return out


def replication_cap(targets: dict[str, float] | None, max_replications: int | None,
                    replications: int) -> int | None:
    """The cap of a run with precision targets (None without targets).

    Raises:
        UsageError: a cap without targets, or a cap below the first replications.
    """
    if max_replications is not None and not targets:
        raise UsageError("capsim run: --max-replications is the cap of --target-ci; give "
                         "--target-ci KPI=HALFWIDTH too, or leave it out")
    if max_replications is not None and max_replications < replications:
        raise UsageError(f"capsim run: --max-replications {max_replications} is below "
                         f"--replications {replications}")
    if not targets:
        return None
    return max_replications or max(DEFAULT_MAX_REPLICATIONS, replications)


def with_posterior(overrides: Sequence[str], posterior: str | os.PathLike[str] | None,
                   prior: bool = False) -> list[str]:
    """The overrides that draw a run's uncertain inputs from a calibration's posterior.

    With `prior` the inputs come from the priors, whatever posterior the scenario names.

    Raises:
        UsageError: both a posterior and `prior`.
    """
    if prior:
        if posterior is not None:
            raise UsageError("--prior and --posterior: give one (the priors, or a posterior "
                             "to draw the uncertain inputs from)")
        return [*overrides, "scenario.posterior=''"]
    if posterior is None:
        return list(overrides)
    return [*overrides, f"scenario.posterior={str(Path(posterior).resolve())!r}"]


def check_workers(scenario: Any, workers: int, source: str) -> None:
    """Refuse a scenario whose replications need more memory than `workers` of them get.

    Raises:
        ScenarioError: naming `source`, the key that drives the need, and the limit.
    """
    from capsim.models import validation
    from capsim.models.scenario import ScenarioError

    try:
        validation.check_resources(scenario, workers)
    except validation.ResourceLimit as exc:
        raise ScenarioError(source, [f"{exc} (try fewer --workers)"]) from None


def check_executor(executor: str, command: str = "capsim run",
                   scheduler: str | None = None) -> None:
    """Refuse the dask executor without dask.distributed, or with a bad scheduler address.

    Raises:
        UsageError: naming the extra to install, or the address and its problem.
    """
    if executor != "dask":
        return
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"{command}: --executor dask needs the 'distributed' extra: "
                         "pip install 'capsim[distributed]'") from None
    if scheduler:
        check_scheduler(scheduler, command)


SCHEDULER_SECONDS = 5.0
"""How long a Dask scheduler's address may take to accept a connection."""
_ADDRESS = re.compile(r"^(?:(?P<proto>[a-z]+)://)?(?P<host>\[[^\]]+\]|[^:/\s\[\]]+)"
                      r":(?P<port>\d{1,5})$")


def check_scheduler(address: Any, command: str = "capsim run") -> None:
    """Refuse a Dask scheduler address that is malformed or does not accept a connection.

    Raises:
        UsageError: naming the address and the problem, within `SCHEDULER_SECONDS`.
    """
    import socket

    where = f"{command}: --scheduler {address!r}"
    m = _ADDRESS.match(address) if isinstance(address, str) else None
    if m is None or not 0 < int(m["port"]) < 65536 or \
            (m["proto"] or "tcp") not in ("tcp", "tls"):
        raise UsageError(f"{where}: not a scheduler address (tcp://HOST:PORT)")
    host = m["host"].strip("[]")
    try:
        socket.create_connection((host, int(m["port"])), timeout=SCHEDULER_SECONDS).close()
    except OSError as exc:
        raise UsageError(f"{where}: cannot connect within {SCHEDULER_SECONDS:g} s: "
                         f"{exc.strerror or exc}") from None


def run_dir(path: Path, command: str, finished: bool = True):
    """The RunStore of a run directory for a reading command, or a UsageError.

    Refuses a missing path, a directory that is not a run, a sweep, and (with `finished`)
    a run that is not complete. Never writes.
    """
    from capsim.simcore.store import RunStore, is_run_dir

    where = f"capsim {command}: {path}"
    if not path.exists():
        raise UsageError(f"{where}: no such directory")
    if not is_run_dir(path):
        raise UsageError(f"{where}: not a capsim run directory (no readable manifest.json; "
                         "`capsim run` makes one)")
    store = RunStore.open(path)
    m = store.manifest()
    if m.get("kind") == "sweep":
        raise UsageError(f"{where}: is a sweep, not a run; `capsim sensitivity {path}` "
                         "analyses a sweep")
    if finished and (m.get("status") != "complete" or not (path / "summary.json").exists()
                     or not (path / "timeseries.parquet").exists()):
        raise UsageError(f"{where}: run is not complete (status {m.get('status')!r}); finish "
                         f"it with: capsim run --resume {path}")
    if finished and not m.get("kind"):  # a run (designs and plans have a kind)
        n = m.get("replications")
        damage = store.tables_problem(n) if isinstance(n, int) and not isinstance(n, bool) \
            and n > 0 else f"its manifest's replications is {n!r}"
        if damage is None and not readable_json(path / "summary.json"):
            damage = "its summary.json is damaged"
        if damage is not None:
            raise UsageError(f"{where}: run is marked complete, but {damage}; finish it "
                             f"with: capsim run --resume {path}")
    if not finished and not store.done() and not (path / "kpis.parquet").exists():
        raise UsageError(f"{where}: run has no finished replication yet")
    return store


def readable_json(path: Path) -> bool:
    """True when `path` holds a JSON object (a summary capsim wrote and nobody damaged)."""
    import json

    try:
        return isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False


def plot_file(path: Path, option: str = "capsim compare: --plot") -> None:
    """Refuse a plot file name that is neither .png nor .svg."""
    if path.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{option} {path}: the file name must end in .png or .svg")


def check_calibration(out: Path | None, force: bool, cutoff: float, discrepancy: float
                      ) -> None:
    """Refuse a calibration into a non-empty directory (without `force`) or bad settings."""
    from capsim.experiments.pipelines.outputs import output_dir

    if out is not None:
        output_dir(out, "calibrate --out")
    if out is not None and out.exists() and any(out.iterdir()) and not force:
        raise UsageError(f"capsim calibrate: {out} exists and is not empty (use --force)")
    positive("cutoff", cutoff, "capsim calibrate")
    positive("discrepancy", discrepancy, "capsim calibrate", zero_ok=True)


def named_files(scenario: Any) -> str:
    """Read and check the files a scenario names; a line saying what they hold.

    The observation file (the scenario's own or the one it names) and the posterior, if
    any, are read the way a run reads them, so a bad one is refused before anything is
    written.

    Raises:
        ScenarioError: a file that cannot be used, naming it and the problem.
    """
    from capsim.experiments.pipelines.history import load_observations
    from capsim.models.posterior import posterior_draws

    draws = posterior_draws(scenario)
    obs = load_observations(scenario, drop_outside=True)
    parts = [f"{len(obs)} observations in the run" if obs else "no observations in the run"]
    if draws is not None:
        parts.append(f"posterior of {len(draws.posterior.weights):,} draws")
    return "; ".join(parts)


def run_arguments(*, replications: Any, seed: Any, workers: Any, executor: Any,
                  overrides: Any = (), targets: Any = None, max_replications: Any = None,
                  replications_none_ok: bool = False) -> None:
    """Check a run's arguments as the command line's parser does, before anything is written.

    Raises:
        UsageError: naming the argument, what it must be and what it got.
    """
    from capsim.simcore.executors import EXECUTORS

    whole("replications", replications, 1, replications_none_ok)
    whole("seed", seed, 0, replications_none_ok)
    whole("workers", workers, 1, none_ok=True)
    whole("max_replications", max_replications, 1, none_ok=True)
    if executor not in EXECUTORS:
        raise UsageError(f"capsim.run: executor must be one of {', '.join(EXECUTORS)}, "
                         f"got {executor!r}")
    if isinstance(overrides, str | bytes) or not all(isinstance(o, str) for o in overrides):
        raise UsageError("capsim.run: overrides must be a list of 'key=value' strings, got "
                         f"{overrides!r}")
    if targets is not None:
        if not isinstance(targets, dict):
            raise UsageError(f"capsim.run: targets must be a dict KPI -> half-width, got "
                             f"{targets!r}")
        if any(isinstance(v, bool) or not isinstance(v, numbers.Real)
               for v in targets.values()):
            raise UsageError(f"capsim.run: targets' half-widths must be numbers, got {targets!r}")
        parse_targets([f"{k}={v}" for k, v in targets.items()])  # known KPIs, widths > 0
