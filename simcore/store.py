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
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from capsim.simcore.runfiles import (  # noqa: F401  (the store's names, imported from here)
    LOCK,
    MANIFEST,
    PART_NAME,
    PARTS,
    TEMP_NAME,
    StoreError,
)


def _umask_mode() -> int:
    # mkstemp creates 0600 files; give finished files the mode a plain open() would.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_table(path: Path, table: pa.Table) -> None:
    """Write a Parquet table atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


class _Parts:
    """DIR/parts/: one Parquet file per table (ts, kpis, ev) of each finished replication."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, kind: str, rep: int) -> Path:
        """The part holding table `kind` of replication `rep`."""
        return self.path / f"{kind}-{rep:06d}.parquet"

    def write(self, rep: int, timeseries: pa.Table, kpis: pa.Table,
              events: pa.Table | None) -> None:
        """Write one replication's parts, the kpis part last: it marks the replication done."""
        self.path.mkdir(exist_ok=True)
        atomic_write_table(self.file("ts", rep), timeseries)
        if events is not None:
            atomic_write_table(self.file("ev", rep), events)
        atomic_write_table(self.file("kpis", rep), kpis)

    def done(self) -> list[int]:
        """Replications whose parts are complete, sorted."""
        reps = []
        for p in self.path.glob("kpis-*.parquet"):
            rep = int(p.stem.split("-")[1])
            if self.file("ts", rep).exists():
                reps.append(rep)
        return sorted(reps)

    def kpi_rows(self) -> dict[int, dict]:
        """The KPI row of every done replication, by replication."""
        return {r: pq.read_table(self.file("kpis", r)).to_pylist()[0] for r in self.done()}

    def kpi_table(self, rows: dict[int, dict]) -> pa.Table:
        """KPI rows as one table in replication order."""
        # The parts' schema (types and field metadata) is kept in the joined table.
        first = self.file("kpis", min(rows))
        schema = pq.read_schema(first) if first.exists() else None
        if schema is not None and set(schema.names) == set(rows[min(rows)]):
            return pa.Table.from_pylist([rows[r] for r in sorted(rows)], schema=schema)
        table = pa.Table.from_pylist([rows[r] for r in sorted(rows)])
        return table.set_column(0, "replication", table.column("replication").cast(pa.int32()))

    def drop(self) -> None:
        """Delete the part files (only files named like parts) and the then empty folder."""
        if self.path.is_symlink() or not self.path.is_dir():
            return
        for f in self.path.iterdir():
            if (PART_NAME.match(f.name) or TEMP_NAME.match(f.name)) and not f.is_symlink():
                f.unlink(missing_ok=True)
        try:
            self.path.rmdir()
        except OSError:  # something else is in it: leave it
            pass


def _join_timeseries(parts: list[Path], target: Path, batch: int) -> None:
    """Write the tables in `parts`, in order, as one Parquet file `target` (atomically).

    Reads `batch` parts at a time, so memory does not grow with the number of parts.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        writer = None
        # Batches of parts make row groups of a useful size while memory stays
        # bounded; Arrow's pool is asked to hand freed memory back after each.
        for i in range(0, len(parts), batch):
            t = pa.concat_tables([pq.read_table(p) for p in parts[i:i + batch]])
            if writer is None:
                writer = pq.ParquetWriter(tmp, t.schema)
            writer.write_table(t.cast(writer.schema))
            del t
            pa.default_memory_pool().release_unused()
        assert writer is not None  # parts is not empty
        writer.close()
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_room(path: Path, force: bool) -> Path | None:
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
        aside = replace.move_aside(path)
    except BaseException:
        old.release()
        raise
    old.release(remove=False)  # the lock file moved aside with the run
    return aside


def _undo_create(path: Path, created: list[Path], aside: Path | None) -> None:
    """Leave things as they were before a failed create: folders made, a run moved aside."""
    from capsim.simcore import replace

    for p in created:
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
        self._parts = _Parts(self.parts)
        # KPI rows as plain dicts: a few hundred bytes each, where an Arrow table per
        # replication costs ~12 kB (measured: +14 MB over 1,200 replications).
        self._kpis: dict[int, dict] | None = None
        self._flushed = 0.0

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

    # -- creation -----------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, manifest: Mapping[str, Any], force: bool = False) -> RunStore:
        """Create a new run directory.

        An existing directory is refused unless `force` is set; with `force`, only a
        previous capsim run holding nothing but files capsim writes is replaced (see
        `simcore.replace`): never a symlink, never a directory with files of the user's.
        """
        from capsim.simcore import replace

        path = Path(path)
        aside = _make_room(path, force)
        created = [p for p in (path, *path.parents) if not p.exists()]  # the leaf first
        store = cls(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            store.lock()
            # "partial" from the first moment: a run killed with SIGKILL runs no handler,
            # and its manifest must still tell readers that it is incomplete.
            store.write_manifest({**manifest, "status": "partial", "replications_done": 0})
        except OSError as exc:  # not creatable or not writable: leave things as they were
            store.unlock()
            _undo_create(path, created, aside)
            raise StoreError(f"{path}: cannot create the run directory there: "
                             f"{exc.strerror or exc}") from None
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
        if reps:
            rows = self._kpis if self._kpis is not None and len(self._kpis) == len(reps) \
                else self._parts.kpi_rows()
            atomic_write_table(self.path / "kpis.parquet", self._parts.kpi_table(rows))
            _join_timeseries([self._parts.file("ts", r) for r in reps],
                             self.path / "timeseries.parquet", self.FINALIZE_BATCH)
            events = [self._parts.file("ev", r) for r in reps]
            events = [p for p in events if p.exists()]
            if events:  # small: a few hundred rows a replication
                atomic_write_table(self.path / "events.parquet",
                                   pa.concat_tables([pq.read_table(p) for p in events]))
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
