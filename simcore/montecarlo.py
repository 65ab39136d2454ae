"""replicate(): run a model many times and stream each finished replication to a store.

Replication i always uses the stream tree (seed, i), so the results are the same whether
they run serially, on a local pool or on a Dask cluster, and in whatever order they end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from capsim.simcore.columns import Column
from capsim.simcore.executors import Executor, SerialExecutor
from capsim.simcore.probes import Event
from capsim.simcore.progress import bar as progress_bar
from capsim.simcore.simulation import RunResult, run_replication
from capsim.simcore.store import RunStore

EVENTS_SCHEMA = pa.schema([
    ("replication", pa.int32()), ("hour", pa.float64()), ("date", pa.date32()),
    ("kind", pa.string()), ("detail", pa.string()), ("subject", pa.string()),
    ("amount", pa.float64()), ("unit", pa.string())])
_EVENT_DOCS = {"replication": ("index", "replication number"),
               "hour": ("hours", "simulation time of the event, hours since the start"),
               "date": ("date", "calendar day of the event"),
               "kind": ("", "what happened (power_on, order, tranche, surge.*, ...)"),
               "detail": ("", "the event in words"),
               "subject": ("", "what the event is about: a campus, a generation, a tranche"),
               "amount": ("see unit", "the event's quantity (NaN when it has none)"),
               "unit": ("", "unit of amount")}
EVENTS_SCHEMA = pa.schema([f.with_metadata({"unit": _EVENT_DOCS[f.name][0],
                                            "description": _EVENT_DOCS[f.name][1]})
                           for f in EVENTS_SCHEMA])


Describe = Callable[[str, str], "Column | None"]
"""describe(table, name) -> Column (table is "series" or "kpis"); None: float64, no metadata."""


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _column(name: str, values: np.ndarray, spec: Column | None) -> tuple[pa.Field, pa.Array]:
    if spec is not None and spec.dtype == "int64":
        arr = pa.array(np.rint(values).astype(np.int64))
    elif spec is not None and spec.dtype == "float32":
        v = np.asarray(values, np.float64)
        big = np.abs(v[np.isfinite(v)])
        if big.size and big.max() > FLOAT32_MAX:  # would be stored as infinity
            raise FloatingPointError(f"series {name} reaches {big.max():.3g}, beyond what "
                                     "its float32 column holds (overflow)")
        arr = pa.array(v.astype(np.float32))
    else:
        arr = pa.array(np.asarray(values, np.float64))
    meta = dict(spec.metadata) if spec is not None else None
    return pa.field(name, arr.type, metadata=meta), arr


def _table(keys: dict[str, pa.Array], values: Mapping[str, np.ndarray], table: str,
           describe: Describe | None) -> pa.Table:
    fields, arrays = [], []
    for name, arr in keys.items():
        spec = describe(table, name) if describe is not None else None
        fields.append(pa.field(name, arr.type,
                               metadata=dict(spec.metadata) if spec is not None else None))
        arrays.append(arr)
    for name, v in values.items():
        f, a = _column(name, v, describe(table, name) if describe is not None else None)
        fields.append(f)
        arrays.append(a)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def result_tables(result: RunResult, dates: np.ndarray, describe: Describe | None = None
                  ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The (timeseries, kpis, events) Arrow tables of one replication.

    (timeseries, kpis, events) Arrow tables of one replication: the first two wide, one
    column per metric, typed and documented by `describe` (float64 without it); events
    one row per logged event, dated on the daily grid.
    """
    n = len(dates)
    for name, arr in result.timeseries.items():
        if np.shape(arr) != (n,):
            raise ValueError(f"series {name!r} has shape {np.shape(arr)}, expected ({n},)")
    ts = _table({"replication": pa.array(np.full(n, result.replication, dtype=np.int32)),
                 "date": pa.array(dates.astype("datetime64[D]"), pa.date32())},
                result.timeseries, "series", describe)
    kp = _table({"replication": pa.array([result.replication], type=pa.int32())},
                {k: np.array([v]) for k, v in result.kpis.items()}, "kpis", describe)
    ev_rows = [Event(*e) for e in result.events]
    hours = np.array([e.hour for e in ev_rows], float)
    day0 = np.datetime64(dates[0], "D") if n else np.datetime64("1970-01-01", "D")
    ev = pa.table({
        "replication": pa.array(np.full(hours.size, result.replication, np.int32)),
        "hour": pa.array(hours),
        "date": pa.array(day0 + np.floor(hours / 24).astype("timedelta64[D]")),
        "kind": pa.array([e.kind for e in ev_rows], pa.string()),
        "detail": pa.array([e.detail for e in ev_rows], pa.string()),
        "subject": pa.array([e.subject for e in ev_rows], pa.string()),
        "amount": pa.array([e.amount for e in ev_rows], pa.float64()),
        "unit": pa.array([e.unit for e in ev_rows], pa.string()),
    }, schema=EVENTS_SCHEMA)
    return ts, kp, ev


def _progress(total: int, initial: int, enabled: bool | None):
    return progress_bar(total, "replications", initial=initial, enabled=enabled)


def replicate(
    model_cls: type,
    scenario: Any,
    *,
    replications: int,
    seed: int,
    dates: np.ndarray,
    store: RunStore | None = None,
    executor: Executor | None = None,
    skip: Iterable[int] = (),
    on_result: Callable[[RunResult], None] | None = None,
    progress: bool | None = None,
    check: Callable[[RunResult], None] | None = None,
    describe: Describe | None = None,
) -> int:
    """Run replications 0..replications-1 (except `skip`) and stream them to `store`.

    Args:
        model_cls: a top-level class following `simcore.simulation.Model`.
        scenario: the (picklable) scenario passed to `model_cls`.
        replications: total number of replications in the run.
        seed: root seed.
        dates: the daily grid that the model's series follow.
        store: where finished replications are appended (optional).
        executor: where they run (default: serial).
        skip: replications already done (resume).
        on_result: called with each finished RunResult in the calling process.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        check: called with each result before it is stored; an exception it raises stops
            the run and the result is not stored (so a resumed run meets it again).
        describe: types and field metadata of the result columns (see `Column`).

    Returns:
        The number of replications run by this call.
    """
    if replications < 1:
        raise ValueError(f"replications(={replications}) must be >= 1.")
    executor = executor or SerialExecutor()
    done = {i for i in skip if 0 <= i < replications}
    # The tasks are streamed (a generator, never a list of every replication), and what
    # every task shares goes to each worker once.
    todo = ((i,) for i in range(replications) if i not in done)
    bar = _progress(replications, len(done), progress)
    ran = 0
    try:
        for result in executor.imap_unordered(run_replication, todo,
                                              shared=(model_cls, scenario, seed)):
            if check is not None:
                check(result)
            if store is not None:
                store.append(result.replication, *result_tables(result, dates, describe))
                store.update_manifest(replications_done=len(done) + ran + 1)
            if on_result is not None:
                on_result(result)
            ran += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return ran
