"""Rows of results kept on disk as they arrive, so a long design can stop and resume.

Rows (dicts of scalars) are buffered and written as numbered Parquet chunks under a
folder, atomically, every `every` rows or `seconds` seconds and on `flush`. A run killed
midway loses at most the unflushed rows; `read` gives every stored row back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from capsim.simcore.store import atomic_write_table


class ResultLog:
    """Append-only rows in `folder/<prefix>-NNNNNN.parquet` chunks."""

    def __init__(self, folder: Path, prefix: str = "rows", every: int = 64,
                 seconds: float = 10.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.every, self.seconds = prefix, every, seconds
        self._buf: list[dict[str, Any]] = []
        self._last = time.monotonic()
        self._next = 1 + max((int(p.stem.rsplit("-", 1)[1]) for p in self._chunks()), default=-1)

    def _chunks(self) -> list[Path]:
        return sorted(self.folder.glob(f"{self.prefix}-*.parquet"))

    def append(self, row: dict[str, Any]) -> None:
        """Add one row; written out with the next flush."""
        self._buf.append(row)
        if len(self._buf) >= self.every or time.monotonic() - self._last > self.seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one new chunk."""
        if self._buf:
            path = self.folder / f"{self.prefix}-{self._next:06d}.parquet"
            atomic_write_table(path, pa.Table.from_pylist(self._buf))
            self._next += 1
            self._buf = []
        self._last = time.monotonic()

    def read(self) -> pd.DataFrame:
        """Every stored row (flushed chunks and the buffer)."""
        frames = [pq.read_table(p).to_pandas() for p in self._chunks()]
        if self._buf:
            frames.append(pd.DataFrame(self._buf))
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
