"""Replacing a run directory (`--force`) without ever deleting a file capsim did not write.

The old run is checked first, entry by entry, and nothing is touched unless every entry is
one capsim writes: the top-level files of the run-directory contract, parts named like
parts, plots the manifest lists (or, when it lists none, plots of the names capsim's
figures have: the caller says which), and
capsim's own temporary files. A symbolic link anywhere, a file of the user's, or a
directory where a file belongs refuses the replacement, naming the entry.

Then the whole directory is renamed aside in one step (a hidden sibling), the new run is
created in its place, and only then is the old one deleted. A crash at any moment leaves
either the old run whole at its path, or the new run there and the old one whole aside.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from capsim.simcore.runfiles import PART_NAME as PART
from capsim.simcore.runfiles import TEMP_NAME as TEMP
from capsim.simcore.runfiles import StoreError

TOP = {"manifest.json", "scenario.toml", "timeseries.parquet", "kpis.parquet", "events.parquet",
       "summary.json", "report.html", "sweep.parquet", ".lock",
       # sensitivity designs and plans (experiments/pipelines/sensitivity.py and plan.py)
       "design.parquet", "results.parquet", "sensitivity.json", "study.db",
       "candidates.parquet", "plan.toml", "plan.json", "schedule.csv", "robustness.parquet",
       "robustness.json", "sensitivity_groups.json", "selection.json",
       "value_of_information.json"}
"""Top-level files capsim writes in a run directory."""
ROW_LOG = re.compile(r"^(results|evals|rows)-\d{6}\.parquet$")
"""Rows of designs and plans in parts/ (`simcore.resultlog.ResultLog`)."""
DIRS = {"plots", "parts"}
NESTED = {"check"}
"""Folders of whole run directories (a plan's fresh-seed checks), checked the same way."""
ASIDE_PREFIX = ".capsim-replaced-"


class NotOurs(StoreError):
    """An entry of a run directory that capsim did not write; nothing was changed."""


def _is_file(p: Path) -> bool:
    return stat.S_ISREG(p.lstat().st_mode)


def _plots_written(path: Path) -> set[str] | None:
    try:
        m = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    plots = m.get("plots") if isinstance(m, dict) else None
    return {str(p) for p in plots} if isinstance(plots, list) else None


OwnPlot = Callable[[str], bool]
"""own_plot(file name) -> True when capsim writes plots of that name (see `foreign_entries`)."""


def foreign_entries(path: Path, own_plot: OwnPlot | None = None) -> list[str]:
    """Entries of run directory `path` that capsim did not write (relative paths).

    A plot counts as capsim's when the manifest lists it or, for a run whose manifest
    lists none (a partial run), when `own_plot` says capsim writes that name; without
    `own_plot` such a plot is the user's.
    """
    path = Path(path)
    bad: list[str] = []
    listed = _plots_written(path)
    for e in sorted(path.iterdir()):
        name = e.name
        if e.is_symlink():
            bad.append(f"{name} (a symbolic link)")
        elif name in DIRS:
            if not stat.S_ISDIR(e.lstat().st_mode):
                bad.append(f"{name} (not a directory)")
                continue
            for f in sorted(e.iterdir()):
                rel = f"{name}/{f.name}"
                if f.is_symlink():
                    bad.append(f"{rel} (a symbolic link)")
                elif not _is_file(f):
                    bad.append(rel)
                elif TEMP.match(f.name):
                    continue
                elif name == "parts" and not (PART.match(f.name) or ROW_LOG.match(f.name)):
                    bad.append(rel)
                elif name == "plots" and not (f.name in listed if listed is not None
                                              else own_plot is not None and own_plot(f.name)):
                    bad.append(rel)
        elif name in NESTED and stat.S_ISDIR(e.lstat().st_mode):
            for run in sorted(e.iterdir()):
                rel = f"{name}/{run.name}"
                if run.is_symlink() or not stat.S_ISDIR(run.lstat().st_mode):
                    bad.append(f"{rel} (not a run directory)")
                else:
                    bad += [f"{rel}/{b}" for b in foreign_entries(run, own_plot)]
        elif name in TOP or TEMP.match(name):
            if not _is_file(e):
                bad.append(f"{name} (not a regular file)")
        else:
            bad.append(name)
    return bad


def move_aside(path: Path, own_plot: OwnPlot | None = None) -> Path:
    """Check that run directory `path` holds only capsim's files, then rename it aside.

    Returns:
        The hidden sibling the old run now lives in (give it to `discard` or `restore`).

    Raises:
        NotOurs: naming up to three entries capsim did not write; nothing was changed.
    """
    path = Path(path)
    bad = foreign_entries(path, own_plot)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NotOurs(f"{path}: holds entries capsim did not write ({', '.join(bad[:3])}"
                      f"{more}); refusing to replace it (nothing was deleted)")
    aside = Path(tempfile.mkdtemp(prefix=f"{ASIDE_PREFIX}{path.name}-", dir=path.parent))
    os.rename(path, aside / "run")  # one atomic step: the old run is whole here or there
    return aside


def restore(aside: Path, path: Path) -> None:
    """Put an old run back where it was (when its replacement could not be created)."""
    os.rename(aside / "run", path)
    aside.rmdir()


def discard(aside: Path) -> None:
    """Delete an old run moved aside (it holds only capsim's files, checked before)."""
    try:
        shutil.rmtree(aside)
    except OSError as exc:
        logging.getLogger(__name__).warning("capsim: could not delete the replaced run in %s: "
                                            "%s", aside, exc.strerror or exc)
