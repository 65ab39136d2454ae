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

MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"
OWNED = ("manifest.json", "scenario.toml", "timeseries.parquet", "kpis.parquet",
         "events.parquet", "summary.json", "plots", "parts", "report.html", "sweep.parquet",
         # sensitivity designs and plans (experiments/sensitivity.py, experiments/plan.py)
         "design.parquet", "results.parquet", "sensitivity.json", "study.db", "candidates.parquet",
         "plan.toml", "plan.json", "schedule.csv", "check", "robustness.parquet",
         "robustness.json")


class StoreError(Exception):
    """A run directory that cannot be used as asked (exists, not ours, ...)."""


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
    """True when `path` holds a manifest written by this store."""
    try:
        return "capsim_version" in json.loads((Path(path) / MANIFEST).read_text())
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
        of the same directory is refused instead of racing on its files.

        Raises:
            StoreError: another process holds the directory.
        """
        if self._lock_fd is not None:
            return self
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(f"{self.path}: in use by another capsim process (a run or resume "
                             "of this directory is still going)") from None
        self._lock_fd = fd
        return self

    def unlock(self) -> None:
        """Give the directory back (also done when the process exits)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def __del__(self) -> None:
        self.unlock()

    # -- creation -----------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, manifest: Mapping[str, Any], force: bool = False) -> RunStore:
        """Create a new run directory.

        An existing directory is refused unless `force` is set; with `force`, only a
        previous capsim run is replaced, and only the files capsim writes are removed.
        """
        path = Path(path)
        store = None
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
            foreign = [e.name for e in entries
                       if e.name not in OWNED and not e.name.startswith(".")]
            if foreign:
                raise StoreError(f"{path}: holds files capsim did not write "
                                 f"({', '.join(sorted(foreign)[:3])}); refusing to replace it")
            store = cls(path).lock()  # never delete a run that another process is writing
            for e in entries:
                if e.name in OWNED:
                    shutil.rmtree(e) if e.is_dir() else e.unlink()
        path.mkdir(parents=True, exist_ok=True)
        store = (store or cls(path)).lock()
        store.parts.mkdir(exist_ok=True)
        # "partial" from the first moment: a run killed with SIGKILL runs no handler, and
        # its manifest must still tell readers that it is incomplete.
        store.write_manifest({**manifest, "status": "partial", "replications_done": 0})
        return store

    @classmethod
    def open(cls, path: Path, lock: bool = False) -> RunStore:
        """Open an existing run directory (for resume, with `lock`, or reading)."""
        path = Path(path)
        if not is_run_dir(path):
            raise StoreError(f"{path}: not a capsim run directory (no readable manifest.json)")
        store = cls(path).lock() if lock else cls(path)
        store.parts.mkdir(exist_ok=True)
        return store

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

    @staticmethod
    def _kpi_table(rows: dict[int, dict]) -> pa.Table:
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
            shutil.rmtree(self.parts, ignore_errors=True)
        return len(reps)

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
            columns=["replication", "hour", "date", "kind", "detail"])

    def read_timeseries(self, columns: list[str] | None = None):
        """Timeseries table as a pandas DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.path / "timeseries.parquet", columns=columns)
