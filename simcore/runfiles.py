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


ZSTD_LEVEL = 6
"""zstd's level for a run's tables: 3% smaller than its default (3), still fast to write."""
SAMPLE_ROWS = 20_000
"""Rows of a table's first batch on which each float column's encoding is chosen."""


def _split_is_smaller(column: pa.ChunkedArray) -> bool:
    """Whether byte-stream split then zstd stores `column` in fewer bytes than plain zstd.

    Split wins for noisy values (their exponent bytes compress, their mantissas not);
    plain wins for values that repeat or change in steps (zstd finds the runs).
    """
    sizes = []
    for encoding in ("BYTE_STREAM_SPLIT", "PLAIN"):
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"x": column}), sink, compression="zstd", use_dictionary=False,
                       column_encoding={"x": encoding})
        sizes.append(sink.getvalue().size)
    return sizes[0] < sizes[1]


def compact_options(table: pa.Table) -> dict:
    """How a run's table is written (`table`, or its first batch): small, checked when read.

    zstd (level `ZSTD_LEVEL`); each floating-point column byte-stream split or plain,
    whichever stores its first rows in fewer bytes; integers and dates delta-encoded;
    only text columns dictionary-encoded; page checksums, so bytes damaged on disk are
    found when read.
    """
    head = table.slice(0, SAMPLE_ROWS)
    encoding = {}
    for f in table.schema:
        if pa.types.is_floating(f.type):
            smaller = _split_is_smaller(head.column(f.name))
            encoding[f.name] = "BYTE_STREAM_SPLIT" if smaller else "PLAIN"
        elif pa.types.is_integer(f.type) or pa.types.is_date32(f.type):
            encoding[f.name] = "DELTA_BINARY_PACKED"
    text = [n for n in table.column_names if n not in encoding]
    return {"compression": "zstd", "compression_level": ZSTD_LEVEL,
            "use_dictionary": text or False,
            "column_encoding": encoding or None, "write_page_checksum": True}


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
