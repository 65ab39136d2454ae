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
from capsim.simcore.layout import PART_NAME, TEMP_NAME, StoreError

MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"


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


class RunStore:
    """A run directory opened for writing or reading."""

    FINALIZE_BATCH = 32
    """Replications per row group of timeseries.parquet."""
    FLUSH_SECONDS = 5.0
    """How often kpis.parquet is refreshed while a run is going (it survives a SIGKILL)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.parts = self.path / PARTS
        # KPI rows as plain dicts: a few hundred bytes each, where an Arrow table per
        # replication costs ~12 kB (measured: +14 MB over 1,200 replications).
        self._kpis: dict[int, dict] | None = None
        self._flushed = 0.0
        self._lock_fd: int | None = None

    def lock(self) -> RunStore:
        """Take the directory for this process, until it exits.

        Take the directory for this process (until it exits): a second run or resume
        of the same directory is refused instead of racing on its files. `unlock`
        removes the lock file, so a finished run keeps none.

        Raises:
            StoreError: another process holds the directory.
        """
        if self._lock_fd is not None:
            return self
        lock = self.path / LOCK
        for _ in range(100):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise StoreError(f"{self.path}: in use by another capsim process (a run or "
                                 "resume of this directory is still going)") from None
            # The holder before us may have removed the file between our open and flock:
            # the lock counts only while the name still points to the file we locked.
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return self
            os.close(fd)
        raise StoreError(f"{self.path}: cannot take the lock {lock}")

    def unlock(self) -> None:
        """Give the directory back and remove the lock file (also done at exit)."""
        if self._lock_fd is not None:
            # Remove the name while still holding the lock, then release it.
            try:
                (self.path / LOCK).unlink()
            except OSError:
                pass
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

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
        aside = None
        if path.is_symlink():
            raise StoreError(f"{path}: is a symbolic link (to {os.readlink(path)}); capsim "
                             "does not follow links for a run directory: give the directory "
                             "itself")
        if path.exists():
            if not path.is_dir():
                raise StoreError(f"{path}: exists and is not a directory")
            entries = list(path.iterdir())
            if entries and not force:
                raise StoreError(f"{path}: run directory exists; use --force to replace it "
                                 "or --resume to complete it")
            if entries and not is_run_dir(path):
                raise StoreError(f"{path}: exists and is not a capsim run directory; "
                                 "refusing to write into it")
            if entries:
                old = cls(path).lock()  # never replace a run that another process is writing
                try:
                    aside = replace.move_aside(path)
                except BaseException:
                    old.unlock()
                    raise
                old.unlock_keep()
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
            for p in created:
                try:
                    p.rmdir()
                except OSError:
                    break
            if aside is not None:
                replace.restore(aside, path)
            raise StoreError(f"{path}: cannot create the run directory there: "
                             f"{exc.strerror or exc}") from None
        if aside is not None:
            replace.discard(aside)
        return store

    def unlock_keep(self) -> None:
        """Release the lock without removing the file (it moves with a replaced run)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

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
    def _part(self, kind: str, rep: int) -> Path:
        return self.parts / f"{kind}-{rep:06d}.parquet"

    def append(self, replication: int, timeseries: pa.Table, kpis: pa.Table,
               events: pa.Table | None = None) -> None:
        """Store one finished replication. The kpis part is written last: it marks it done."""
        self.parts.mkdir(exist_ok=True)
        atomic_write_table(self._part("ts", replication), timeseries)
        if events is not None:
            atomic_write_table(self._part("ev", replication), events)
        atomic_write_table(self._part("kpis", replication), kpis)
        if self._kpis is None:  # first append after open: pick up earlier replications
            self._kpis = self._read_kpi_rows()
        self._kpis[replication] = kpis.to_pylist()[0]
        if time.monotonic() - self._flushed > self.FLUSH_SECONDS:
            self.flush_kpis()

    def flush_kpis(self) -> None:
        """Rewrite kpis.parquet from the replications appended so far (atomic)."""
        if self._kpis:
            atomic_write_table(self.path / "kpis.parquet", self._kpi_table(self._kpis))
        self._flushed = time.monotonic()

    def _read_kpi_rows(self) -> dict[int, dict]:
        return {r: pq.read_table(self._part("kpis", r)).to_pylist()[0] for r in self.done()}

    def _kpi_table(self, rows: dict[int, dict]) -> pa.Table:
        # The parts' schema (types and field metadata) is kept in the joined table.
        first = self._part("kpis", min(rows))
        schema = pq.read_schema(first) if first.exists() else None
        if schema is not None and set(schema.names) == set(rows[min(rows)]):
            return pa.Table.from_pylist([rows[r] for r in sorted(rows)], schema=schema)
        table = pa.Table.from_pylist([rows[r] for r in sorted(rows)])
        return table.set_column(0, "replication", table.column("replication").cast(pa.int32()))

    def done(self) -> list[int]:
        """Replications whose parts are complete, sorted."""
        reps = []
        for p in self.parts.glob("kpis-*.parquet"):
            rep = int(p.stem.split("-")[1])
            if self._part("ts", rep).exists():
                reps.append(rep)
        return sorted(reps)

    def finalize(self, status: str, keep_parts: bool | None = None) -> int:
        """Build timeseries.parquet and kpis.parquet from the parts, in replication order.

        Streams one part at a time, so memory does not grow with the replication count.
        Parts are kept while the run is not complete, so that it can be resumed.
        """
        reps = self.done()
        if reps:
            rows = self._kpis if self._kpis is not None and len(self._kpis) == len(reps) \
                else self._read_kpi_rows()
            atomic_write_table(self.path / "kpis.parquet", self._kpi_table(rows))
            target = self.path / "timeseries.parquet"
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".timeseries.", suffix=".tmp")
            os.close(fd)
            try:
                writer = None
                # Batches of parts make row groups of a useful size while memory stays
                # bounded; Arrow's pool is asked to hand freed memory back after each.
                for i in range(0, len(reps), self.FINALIZE_BATCH):
                    t = pa.concat_tables([pq.read_table(self._part("ts", r))
                                          for r in reps[i:i + self.FINALIZE_BATCH]])
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, t.schema)
                    writer.write_table(t.cast(writer.schema))
                    del t
                    pa.default_memory_pool().release_unused()
                assert writer is not None  # reps is not empty
                writer.close()
                os.chmod(tmp, _umask_mode())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            events = [self._part("ev", r) for r in reps if self._part("ev", r).exists()]
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
        if self.parts.is_symlink() or not self.parts.is_dir():
            return
        for f in self.parts.iterdir():
            if (PART_NAME.match(f.name) or TEMP_NAME.match(f.name)) and not f.is_symlink():
                f.unlink(missing_ok=True)
        try:
            self.parts.rmdir()
        except OSError:  # something else is in it: leave it
            pass

    # -- reading ------------------------------------------------------------------
    def read_kpis(self):
        """Kpis table as a pandas DataFrame (from the parts while a run is open)."""
        import pandas as pd

        reps = self.done()
        if reps:
            return pd.concat([pq.read_table(self._part("kpis", r)).to_pandas() for r in reps],
                             ignore_index=True)
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
