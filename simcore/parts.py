"""DIR/parts/: one Parquet file per table (ts, kpis, ev) of each finished replication.

A part is believed only when it reads whole and holds its own replication: every table
has a `replication` column, and every row of `ts-000007.parquet` must say 7. Parts are
written with page checksums, so bytes changed inside a page are found when it is read,
and a truncated file has no Parquet footer. `Parts.done` lists only the replications
whose parts pass the quick check (footer, replication column, the one KPI row); the join
(`join_timeseries`) reads every page and raises `DamagedPart` naming the file, so that
the caller runs that replication again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from capsim.simcore.runfiles import (
    PART_NAME,
    TEMP_NAME,
    StoreError,
    atomic_write_table,
    umask_mode,
)

KINDS = ("ts", "kpis", "ev")
PART_OPTIONS: Mapping[str, Any] = {"write_page_checksum": True}
"""How parts are written: with page checksums (read back with verification)."""


class DamagedPart(StoreError):
    """A part file that is unreadable or holds another replication than its name says."""

    def __init__(self, path: Path, replication: int, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.replication, self.problem = path, replication, problem


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def part_problem(path: Path, rep: int, kind: str, full: bool = False) -> str | None:
    """What is wrong with part `path` of replication `rep`, or None when it is whole.

    `full` reads every page (checking the checksums); otherwise the footer and the
    replication column are read (and the whole of a kpis part: one row).
    """
    try:
        f = pq.ParquetFile(path, page_checksum_verification=True)
        if "replication" not in f.schema_arrow.names:
            return "is not a part of a capsim run (no replication column)"
        whole = full or kind == "kpis"
        table = f.read() if whole else f.read(columns=["replication"])
    except Exception as exc:  # noqa: BLE001  (Arrow raises many kinds on garbage)
        return f"unreadable ({_first_line(exc)})"
    if kind == "kpis" and table.num_rows != 1:
        return f"holds {table.num_rows} KPI rows, not one"
    if kind == "ts" and table.num_rows == 0:
        return "holds no rows"
    if table.num_rows:
        lo, hi = (v.as_py() for v in pc.min_max(table.column("replication")).values())
        if (lo, hi) != (rep, rep):
            other = lo if lo != rep else hi
            return f"holds replication {other}, not {rep} (a part moved or swapped)"
    return None


class Parts:
    """The parts folder of a run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Parts written or checked by this process, with the (inode, size, mtime) they had:
        # each is checked once, not at every listing.
        self._good: dict[tuple[str, int], tuple[int, int, int]] = {}

    def file(self, kind: str, rep: int) -> Path:
        """The part holding table `kind` of replication `rep`."""
        return self.path / f"{kind}-{rep:06d}.parquet"

    def _usable(self) -> bool:
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            raise StoreError(f"{self.path}: is not a directory (a run keeps its finished "
                             "replications there); move it away to resume the run")
        return self.path.is_dir()

    def write(self, rep: int, timeseries: pa.Table, kpis: pa.Table,
              events: pa.Table | None) -> None:
        """Write one replication's parts, the kpis part last: it marks the replication done."""
        if not self._usable():
            self.path.mkdir()
        written = [("ts", timeseries), ("ev", events), ("kpis", kpis)]
        for kind, table in written:
            if table is not None:
                atomic_write_table(self.file(kind, rep), table, **PART_OPTIONS)
                self._remember(kind, rep)

    def _stamp(self, kind: str, rep: int) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.file(kind, rep))
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _remember(self, kind: str, rep: int) -> None:
        stamp = self._stamp(kind, rep)
        if stamp is not None:
            self._good[(kind, rep)] = stamp

    def listed(self) -> list[int]:
        """Replications with a kpis part and a ts part (not checked), sorted."""
        if not self._usable():
            return []
        reps = []
        for p in self.path.iterdir():
            if PART_NAME.match(p.name) and p.name.startswith("kpis-"):
                rep = int(p.stem.split("-")[1])
                if self.file("ts", rep).is_file():
                    reps.append(rep)
        return sorted(reps)

    def problem(self, rep: int) -> str | None:
        """What is wrong with replication `rep`'s parts (naming the file), or None."""
        for kind in KINDS:
            stamp = self._stamp(kind, rep)
            if stamp is None:
                continue  # no events part: a run that logs none
            if self._good.get((kind, rep)) == stamp:
                continue
            bad = part_problem(self.file(kind, rep), rep, kind)
            if bad is not None:
                return f"{self.file(kind, rep)}: {bad}"
            self._good[(kind, rep)] = stamp
        return None

    def done(self) -> list[int]:
        """Replications whose parts are complete and hold their replication, sorted."""
        return [r for r in self.listed() if self.problem(r) is None]

    def damaged(self) -> dict[int, str]:
        """Replications whose parts are there but damaged: replication -> the problem."""
        return {r: bad for r in self.listed() if (bad := self.problem(r)) is not None}

    def discard(self, rep: int) -> None:
        """Delete the parts of replication `rep` (so that it runs again)."""
        for kind in KINDS:
            self.file(kind, rep).unlink(missing_ok=True)
            self._good.pop((kind, rep), None)

    def discard_damaged(self) -> list[str]:
        """Delete the parts of every damaged replication; one line each on stderr."""
        lines = []
        for rep, bad in self.damaged().items():
            self.discard(rep)
            lines.append(f"capsim: {bad}; replication {rep} runs again")
            print(lines[-1], file=sys.stderr)
        return lines

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


def remove_temporaries(folder: Path) -> None:
    """Delete capsim's temporary files (`.<name>.<random>.tmp`) left in `folder` by a kill."""
    if folder.is_symlink() or not folder.is_dir():
        return
    for f in folder.iterdir():
        if TEMP_NAME.match(f.name) and not f.is_symlink() and f.is_file():
            f.unlink(missing_ok=True)


def read_part(path: Path, rep: int) -> pa.Table:
    """The whole table of part `path` of replication `rep`, every page checked.

    Raises:
        DamagedPart: unreadable, or holding another replication.
    """
    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except Exception as exc:  # noqa: BLE001  (Arrow raises many kinds on garbage)
        raise DamagedPart(path, rep, f"unreadable ({_first_line(exc)})") from None
    bad = None if "replication" in table.column_names else "has no replication column"
    if bad is None and table.num_rows:
        lo, hi = (v.as_py() for v in pc.min_max(table.column("replication")).values())
        if (lo, hi) != (rep, rep):
            bad = f"holds replication {lo if lo != rep else hi}, not {rep}"
    if bad is not None:
        raise DamagedPart(path, rep, bad)
    return table


def join_timeseries(parts: list[tuple[int, Path]], target: Path, batch: int,
                    prepare=None, options=None) -> None:
    """Write the tables in `parts` ((replication, file), in order) as one file `target`.

    Reads `batch` parts at a time, so memory does not grow with the number of parts;
    `prepare(table)` may change a batch before it is written (keep fewer columns);
    `options(first batch)` gives the Parquet writer's options. Every page of every part is
    read and checked.

    Raises:
        DamagedPart: a part is unreadable, holds another replication, or has another
            number of rows or other columns than the first (nothing is written).
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer = None
        first: pa.Table | None = None
        first_rows = 0
        # Batches of parts make row groups of a useful size while memory stays
        # bounded; Arrow's pool is asked to hand freed memory back after each.
        for i in range(0, len(parts), batch):
            tables = []
            for rep, p in parts[i:i + batch]:
                t = read_part(p, rep)
                if first is None:
                    first, first_rows = t.slice(0, 0), t.num_rows
                elif t.num_rows != first_rows or t.schema.names != first.schema.names:
                    raise DamagedPart(p, rep, f"has {t.num_rows} rows and "
                                      f"{t.num_columns} columns where the first part has "
                                      f"{first_rows} and {first.num_columns}")
                tables.append(t)
            t = pa.concat_tables(tables)
            del tables
            if prepare is not None:
                t = prepare(t)
            if writer is None:
                writer = pq.ParquetWriter(tmp, t.schema, **(options(t) if options else {}))
            writer.write_table(t.cast(writer.schema))
            del t
            pa.default_memory_pool().release_unused()
        assert writer is not None  # parts is not empty
        writer.close()
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
