"""replicate(): run a model many times and stream each finished replication to a store.

Replication i always uses the stream tree (seed, i), so the results are the same whether
they run serially, on a local pool or on a Dask cluster, and in whatever order they end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
from capsim.simcore.executors import Executor, SerialExecutor
from capsim.simcore.simulation import RunResult, run_replication
from capsim.simcore.store import RunStore

EVENTS_SCHEMA = pa.schema([("replication", pa.int32()), ("hour", pa.float64()),
                           ("date", pa.date32()), ("kind", pa.string()), ("detail", pa.string())])


def result_tables(result: RunResult, dates: np.ndarray
                  ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The (timeseries, kpis, events) Arrow tables of one replication.

    (timeseries, kpis, events) Arrow tables of one replication: the first two wide, one
    column per metric; events one row per logged event, dated on the daily grid.
    """
    n = len(dates)
    cols: dict[str, Any] = {
        "replication": pa.array(np.full(n, result.replication, dtype=np.int32)),
        "date": pa.array(dates.astype("datetime64[D]")),
    }
    for name, arr in result.timeseries.items():
        arr = np.asarray(arr)
        if arr.shape != (n,):
            raise ValueError(f"series {name!r} has shape {arr.shape}, expected ({n},)")
        cols[name] = pa.array(arr)
    ts = pa.table(cols)
    kp = pa.table({"replication": pa.array([result.replication], type=pa.int32()),
                   **{k: pa.array([float(v)], type=pa.float64()) for k, v in result.kpis.items()}})
    hours = np.array([e[0] for e in result.events], float)
    day0 = np.datetime64(dates[0], "D") if n else np.datetime64("1970-01-01", "D")
    ev = pa.table({
        "replication": pa.array(np.full(hours.size, result.replication, np.int32)),
        "hour": pa.array(hours),
        "date": pa.array(day0 + np.floor(hours / 24).astype("timedelta64[D]")),
        "kind": pa.array([e[1] for e in result.events], pa.string()),
        "detail": pa.array([e[2] for e in result.events], pa.string()),
    }, schema=EVENTS_SCHEMA)
    return ts, kp, ev


def _progress(total: int, initial: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="rep", desc="replications", file=sys.stderr,
                dynamic_ncols=True)


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

    Returns:
        The number of replications run by this call.
    """
    if replications < 1:
        raise ValueError(f"replications(={replications}) must be >= 1.")
    executor = executor or SerialExecutor()
    done = set(skip)
    todo = [(model_cls, scenario, seed, i) for i in range(replications) if i not in done]
    bar = _progress(replications, replications - len(todo), progress)
    ran = 0
    try:
        for result in executor.imap_unordered(run_replication, todo):
            if check is not None:
                check(result)
            if store is not None:
                store.append(result.replication, *result_tables(result, dates))
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
