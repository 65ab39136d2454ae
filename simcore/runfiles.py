"""The names in a run directory, its atomic writes, and the error for an unusable one.

Shared by the store (`simcore.store`), its parts (`simcore.parts`) and the atomic
replacement of its files (`simcore.replace`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_NAME = re.compile(r"^(ts|kpis|ev)-\d{6}\.parquet$")
"""A part file: one table of one replication."""
TEMP_NAME = re.compile(r"^\..+\.tmp$")
"""capsim's temporary files: `.<name>.<random>.tmp`, renamed into place when whole."""
MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"
STAGE_PREFIX = ".capsim-new-"
"""A run directory being made: a hidden sibling, renamed into place once it holds its
scenario and manifest (a kill before then leaves no run directory at all)."""


class StoreError(Exception):
    """A run directory that cannot be used as asked (exists, not ours, ...)."""


def umask_mode(bits: int = 0o666) -> int:
    """`bits` under the process's umask: the mode a plain open() or mkdir() would give."""
    mask = os.umask(0)
    os.umask(mask)
    return bits & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give finished files the mode a plain open() would.
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_table(path: Path, table: pa.Table, **options) -> None:
    """Write a Parquet table atomically (`options` go to `pyarrow.parquet.write_table`)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, **options)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
