"""The defaults, errors and checks shared by the API, the CLI, the questions and the tools.

`capsim.api` and the `capsim` command call the same checks with the same defaults, so a
notebook and the shell refuse the same inputs with the same messages.
"""

from __future__ import annotations

import argparse
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


class UsageError(Exception):
    """A caller's mistake (a bad value, option or directory): `capsim` exits 2."""


def default_workers() -> int:
    """Parallel workers when none are given: every core."""
    return os.cpu_count() or 1


def int_at_least(minimum: int, name: str = "value") -> Callable[[str], int]:
    """An argparse type: a whole number >= `minimum`; argparse turns errors into exit 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, got {value}")
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


def with_posterior(overrides: Sequence[str], posterior: str | os.PathLike[str] | None
                   ) -> list[str]:
    """The overrides that draw a run's uncertain inputs from a calibration's posterior."""
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
    if not finished and not store.done() and not (path / "kpis.parquet").exists():
        raise UsageError(f"{where}: run has no finished replication yet")
    return store


def plot_file(path: Path, option: str = "capsim compare: --plot") -> None:
    """Refuse a plot file name that is neither .png nor .svg."""
    if path.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{option} {path}: the file name must end in .png or .svg")


def check_calibration(out: Path | None, force: bool, cutoff: float, discrepancy: float
                      ) -> None:
    """Refuse a calibration into a non-empty directory (without `force`) or bad settings."""
    if out is not None and out.exists() and any(out.iterdir()) and not force:
        raise UsageError(f"capsim calibrate: {out} exists and is not empty (use --force)")
    if not cutoff > 0 or not discrepancy >= 0:
        raise UsageError("capsim calibrate: --cutoff must be > 0 and --discrepancy >= 0")


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


def _whole(name: str, value: Any, minimum: int, none_ok: bool = False) -> None:
    """Refuse a value that is not a whole number >= `minimum` (bool, float, text)."""
    if value is None and none_ok:
        return
    # NumPy's integers count (numbers.Integral); True and 1.0 do not.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UsageError(f"capsim.run: {name} must be a whole number >= {minimum}"
                         f"{' or None' if none_ok else ''}, got {value!r}")


def run_arguments(*, replications: Any, seed: Any, workers: Any, executor: Any,
                  overrides: Any = (), targets: Any = None, max_replications: Any = None,
                  replications_none_ok: bool = False) -> None:
    """Check a run's arguments as the command line's parser does, before anything is written.

    Raises:
        UsageError: naming the argument, what it must be and what it got.
    """
    from capsim.simcore.executors import EXECUTORS

    _whole("replications", replications, 1, replications_none_ok)
    _whole("seed", seed, 0, replications_none_ok)
    _whole("workers", workers, 1, none_ok=True)
    _whole("max_replications", max_replications, 1, none_ok=True)
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
