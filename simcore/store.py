"""The run directory: atomic writes, one part per finished replication, resume.

Layout (the contract other tools read):

    DIR/manifest.json       status "partial" (until every replication is in) | "complete"
    DIR/scenario.toml       written by the caller through `write_text`
    DIR/timeseries.parquet  one row per (replication, date), wide: one column per metric
    DIR/kpis.parquet        one row per replication
    DIR/events.parquet      one row per logged event: replication, hour, date, kind, detail
    DIR/summary.json        written by the caller through `write_json`
    DIR/parts/              one Parquet file per finished replication while the run is open

Every file is written to a temporary name in the same directory and renamed into place,
so a reader (or a crash) never sees half a file. A run killed midway keeps its parts;
`finalize` rebuilds the tables from them, streaming, so memory stays flat.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from capsim.simcore.parts import (  # noqa: F401  (DamagedPart: the store's error too)
    DamagedPart,
    Parts,
    join_timeseries,
    read_part,
    remove_temporaries,
)
from capsim.simcore.runfiles import (  # noqa: F401  (the store's names, imported from here)
    LOCK,
    MANIFEST,
    PART_NAME,
    PARTS,
    STAGE_PREFIX,
    TEMP_NAME,
    StoreError,
    atomic_write_bytes,
    atomic_write_table,
    compact_options,
    umask_mode,
)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean_json(o: Any) -> Any:
    # JSON has no NaN/inf: write them as null so every JSON reader accepts the file.
    if isinstance(o, float | np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, dict):
        return {k: _clean_json(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean_json(v) for v in o]
    return o


def dumps(obj: Any) -> str:
    """JSON text with NaN/inf as null and numpy scalars as numbers."""
    return json.dumps(_clean_json(obj), indent=2, default=_json_default, allow_nan=False) + "\n"


def is_run_dir(path: Path) -> bool:
    """True when `path` holds a manifest written by this store (not a link to one)."""
    try:
        if (Path(path) / MANIFEST).is_symlink():
            return False
        m = json.loads((Path(path) / MANIFEST).read_text())
        return isinstance(m, dict) and {"capsim_version", "status"} <= set(m)
    except (OSError, ValueError):
        return False


class _DirLock:
    """An exclusive lock on a run directory: a flock on DIR/.lock, one process at a time."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.fd: int | None = None

    def take(self) -> None:
        """Lock the directory for this process, unless it holds the lock already.

        Raises:
            StoreError: another process holds the directory.
        """
        if self.fd is not None:
            return
        lock = self.run / LOCK
        for _ in range(100):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise StoreError(f"{self.run}: in use by another capsim process (a run or "
                                 "resume of this directory is still going)") from None
            # The holder before us may have removed the file between our open and flock:
            # the lock counts only while the name still points to the file we locked.
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)
        raise StoreError(f"{self.run}: cannot take the lock {lock}")

    def release(self, remove: bool = True) -> None:
        """Release the lock; with `remove`, remove the lock file first."""
        if self.fd is None:
            return
        if remove:
            # Remove the name while still holding the lock, then release it.
            try:
                (self.run / LOCK).unlink()
            except OSError:
                pass
        os.close(self.fd)  # closing the descriptor releases the flock
        self.fd = None


def _make_room(path: Path, force: bool, own_plot=None) -> Path | None:
    """Check that a run may be created at `path`; move a run it replaces aside.

    Returns:
        Where the replaced run now is (see `simcore.replace`), or None.

    Raises:
        StoreError: `path` is a link, not a directory, or a directory that is not
            empty and may not be replaced.
    """
    from capsim.simcore import replace

    if path.is_symlink():
        raise StoreError(f"{path}: is a symbolic link (to {os.readlink(path)}); capsim "
                         "does not follow links for a run directory: give the directory "
                         "itself")
    if not path.exists():
        return None
    if not path.is_dir():
        raise StoreError(f"{path}: exists and is not a directory")
    entries = list(path.iterdir())
    if entries and not force:
        raise StoreError(f"{path}: run directory exists; use --force to replace it "
                         "or --resume to complete it")
    if entries and not is_run_dir(path):
        raise StoreError(f"{path}: exists and is not a capsim run directory; "
                         "refusing to write into it")
    if not entries:
        return None
    old = _DirLock(path)
    old.take()  # never replace a run that another process is writing
    try:
        aside = replace.move_aside(path, own_plot)
    except BaseException:
        old.release()
        raise
    old.release(remove=False)  # the lock file moved aside with the run
    return aside


def _undo_create(path: Path, created: list[Path], aside: Path | None) -> None:
    """Leave things as they were before a failed create: folders made, a run moved aside."""
    from capsim.simcore import replace

    for p in reversed(sorted(created, key=lambda q: len(q.parts))):
        try:
            p.rmdir()
        except OSError:
            break
    if aside is not None:
        replace.restore(aside, path)


class RunStore:
    """A run directory opened for writing or reading."""

    FINALIZE_BATCH = 32
    """Replications per row group of timeseries.parquet."""
    FLUSH_SECONDS = 5.0
    """How often kpis.parquet is refreshed while a run is going (it survives a SIGKILL)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.parts = self.path / PARTS
        self._lock = _DirLock(self.path)
        self._parts = Parts(self.parts)
        # KPI rows as plain dicts: a few hundred bytes each, where an Arrow table per
        # replication costs ~12 kB (measured: +14 MB over 1,200 replications).
        self._kpis: dict[int, dict] | None = None
        self._flushed = 0.0
        self._series: list[str] | None = None

    def lock(self) -> RunStore:
        """Take the directory for this process, until it exits.

        A second run or resume of the same directory is refused instead of racing on
        its files. `unlock` removes the lock file, so a finished run keeps none.

        Raises:
            StoreError: another process holds the directory.
        """
        self._lock.take()
        return self

    def unlock(self) -> None:
        """Give the directory back and remove the lock file (also done at exit)."""
        self._lock.release()

    def unlock_keep(self) -> None:
        """Release the lock without removing the file (it moves with a replaced run)."""
        self._lock.release(remove=False)

    def __del__(self) -> None:
        self.unlock()

    def prepare_timeseries(self, table: pa.Table) -> pa.Table:
        """A batch of the daily series as it is joined: the columns the run keeps.

        The manifest's `series` (None: every column) lists names to keep; a name keeps
        its per-group columns too (`name__<group>`), and `replication` and `date` stay.
        """
        keep = self._series
        if keep is None:
            return table
        want = set(keep) | {"replication", "date"}
        return table.select([c for c in table.column_names
                             if c in want or c.partition("__")[0] in want])

    # -- creation -----------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, manifest: Mapping[str, Any], force: bool = False,
               files: Mapping[str, str] | None = None, own_plot=None) -> RunStore:
        """Create a new run directory holding `files` (name -> text) and its manifest.

        The directory is made as a hidden sibling and renamed into place once it holds
        `files` and the manifest, so a run directory exists whole or not at all: a kill
        at any moment leaves either nothing at `path` or a run `--resume` can finish.
        An existing directory is refused unless `force` is set; with `force`, only a
        previous capsim run holding nothing but files capsim writes is replaced (see
        `simcore.replace`): never a symlink, never a directory with files of the user's;
        `own_plot(name)` says which plots capsim writes when the manifest lists none.
        """
        from capsim.simcore import replace

        path = Path(path)
        aside = _make_room(path, force, own_plot)
        created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        stage: Path | None = None
        staged: RunStore | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{path.name}-",
                                          dir=path.parent))
            os.chmod(stage, umask_mode(0o777))
            staged = cls(stage).lock()
            for name, text in (files or {}).items():
                staged.write_text(name, text)
            # "partial" from the first moment: a run killed with SIGKILL runs no handler,
            # and its manifest must still tell readers that it is incomplete.
            staged.write_manifest({**manifest, "status": "partial", "replications_done": 0})
            os.rename(stage, path)  # path is absent or an empty directory
        except BaseException as exc:  # not creatable or not writable: leave things as they were
            if staged is not None:
                staged.unlock()
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            _undo_create(path, created, aside)
            if not isinstance(exc, OSError):
                raise
            raise StoreError(f"{path}: cannot create the run directory there: "
                             f"{exc.strerror or exc}") from None
        store = cls(path)
        store._lock.fd, staged._lock.fd = staged._lock.fd, None  # the lock moved with it
        if aside is not None:
            replace.discard(aside)
        return store

    @classmethod
    def open(cls, path: Path, lock: bool = False) -> RunStore:
        """Open an existing run directory (for resume, with `lock`, or reading).

        Opening never writes: a run on a read-only file system can be read.
        """
        path = Path(path)
        if not is_run_dir(path):
            raise StoreError(f"{path}: not a capsim run directory (no readable manifest.json)")
        return cls(path).lock() if lock else cls(path)

    # -- small files --------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict."""
        return json.loads((self.path / MANIFEST).read_text())

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Replace the manifest atomically."""
        atomic_write_bytes(self.path / MANIFEST, dumps(dict(manifest)).encode())

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        """Merge changes into the manifest."""
        m = {**self.manifest(), **changes}
        self.write_manifest(m)
        return m

    def write_text(self, name: str, text: str) -> None:
        """Write a text file in the run directory atomically."""
        atomic_write_bytes(self.path / name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> None:
        """Write a JSON file in the run directory atomically."""
        self.write_text(name, dumps(obj))

    # -- replications -------------------------------------------------------------
    def append(self, replication: int, timeseries: pa.Table, kpis: pa.Table,
               events: pa.Table | None = None) -> None:
        """Store one finished replication. The kpis part is written last: it marks it done."""
        self._parts.write(replication, timeseries, kpis, events)
        if self._kpis is None:  # first append after open: pick up earlier replications
            self._kpis = self._parts.kpi_rows()
        self._kpis[replication] = kpis.to_pylist()[0]
        if time.monotonic() - self._flushed > self.FLUSH_SECONDS:
            self.flush_kpis()

    def flush_kpis(self) -> None:
        """Rewrite kpis.parquet from the replications appended so far (atomic)."""
        if self._kpis:
            atomic_write_table(self.path / "kpis.parquet", self._parts.kpi_table(self._kpis))
        self._flushed = time.monotonic()

    def done(self) -> list[int]:
        """Replications whose parts are complete, sorted."""
        return self._parts.done()

    def finalize(self, status: str, keep_parts: bool | None = None) -> int:
        """Build timeseries.parquet and kpis.parquet from the parts, in replication order.

        Streams one part at a time, so memory does not grow with the replication count.
        Parts are kept while the run is not complete, so that it can be resumed.
        """
        reps = self.done()
        series = self.manifest().get("series")
        self._series = [str(s) for s in series] if isinstance(series, list) else None
        if reps:
            rows = self._kpis if self._kpis is not None and set(self._kpis) == set(reps) \
                else self._parts.kpi_rows()
            join_timeseries([(r, self._parts.file("ts", r)) for r in reps],
                            self.path / "timeseries.parquet", self.FINALIZE_BATCH,
                            self.prepare_timeseries, compact_options)
            events = [(r, self._parts.file("ev", r)) for r in reps]
            events = [(r, p) for r, p in events if p.exists()]
            if events:  # small: a few hundred rows a replication
                ev = pa.concat_tables([read_part(p, r) for r, p in events])
                atomic_write_table(self.path / "events.parquet", ev,
                                   **compact_options(ev))
            kp = self._parts.kpi_table(rows)
            atomic_write_table(self.path / "kpis.parquet", kp, **compact_options(kp))
        self.update_manifest(status=status, replications_done=len(reps))
        if keep_parts is None:
            keep_parts = status != "complete"
        if not keep_parts:
            self.drop_parts()
        return len(reps)

    def complete(self, **changes: Any) -> None:
        """Mark the run complete, then drop its parts: the last step of a run.

        Called only once the tables, the summary and the plots are written, so a run
        that says "complete" has them all; until then `--resume` can finish it.
        """
        self.update_manifest(status="complete", **changes)
        self.drop_parts()

    def drop_parts(self) -> None:
        """Delete the part files (only files named like parts) and the then empty parts/."""
        self._parts.drop()

    def discard(self, replication: int) -> None:
        """Delete one replication's parts (a damaged one), so that it runs again."""
        self._parts.discard(replication)
        if self._kpis is not None:
            self._kpis.pop(replication, None)

    def tidy(self) -> list[str]:
        """Before a resume: delete temporary files a kill left, and damaged parts.

        Returns the lines printed on stderr (one per damaged replication, naming its file).
        """
        remove_temporaries(self.path)
        remove_temporaries(self.parts)
        lines = self._parts.discard_damaged()
        self._kpis = None
        return lines

    def tables_problem(self, replications: int) -> str | None:
        """What keeps the tables from holding replications 0..replications-1, or None.

        kpis.parquet must hold each once, and timeseries.parquet each with the same
        number of rows (read by row group: memory stays flat).
        """
        want = list(range(replications))
        for name in ("kpis.parquet", "timeseries.parquet"):
            p = self.path / name
            try:
                counts = _replication_counts(p)
            except FileNotFoundError:
                return f"{p} is missing"
            except Exception as exc:  # noqa: BLE001  (Arrow raises many kinds on garbage)
                return f"{p} is unreadable ({str(exc).strip()[:200]})"
            have = sorted(counts)
            if have != want:
                lost = sorted(set(want) - set(have))
                extra = sorted(set(have) - set(want))
                what = (f"lacks {len(lost)} (first {lost[0]})" if lost else
                        f"has {len(extra)} more (first {extra[0]})")
                return (f"{p} holds {len(have)} of the {replications} replications the "
                        f"manifest promises: it {what}")
            if name == "kpis.parquet" and set(counts.values()) != {1}:
                return f"{p} holds a replication twice"
            if len(set(counts.values())) > 1:
                return f"{p} holds replications of different lengths (some are cut short)"
        return None

    # -- reading ------------------------------------------------------------------
    def read_kpis(self):
        """Kpis table as a pandas DataFrame (from the parts while a run is open)."""
        import pandas as pd

        reps = self.done()
        if reps:
            return pd.concat([pq.read_table(self._parts.file("kpis", r)).to_pandas()
                              for r in reps], ignore_index=True)
        return pd.read_parquet(self.path / "kpis.parquet")

    def read_events(self):
        """Events table as a pandas DataFrame (empty when the run logged none)."""
        import pandas as pd

        path = self.path / "events.parquet"
        return pd.read_parquet(path) if path.exists() else pd.DataFrame(
            columns=["replication", "hour", "date", "kind", "detail", "subject", "amount",
                     "unit"])

    def read_timeseries(self, columns: list[str] | None = None):
        """Timeseries table as a pandas DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.path / "timeseries.parquet", columns=columns)


def _replication_counts(path: Path) -> dict[int, int]:
    """Rows per replication of a table, read one row group at a time."""
    import pyarrow.compute as pc

    counts: dict[int, int] = {}
    f = pq.ParquetFile(path)
    for i in range(f.num_row_groups):
        col = f.read_row_group(i, columns=["replication"]).column(0)
        for item in pc.value_counts(col).to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    return counts
