"""Compact results: timeseries.parquet is a third of a float64, Snappy write of it.

The default run's file is checked against a float64, Snappy write of the same table
(what capsim wrote before: every series float64, counts int64, the Parquet writer's
defaults), and the columns kept at full precision must be exact. The values come from
the same replications run in memory (the simulation computes in float64), so float64
columns must be bit-exact and float32 columns the float64 values rounded once.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from capsim.models import kpis as registry
from capsim.models.capacity import CapacityModel
from capsim.models.scenario import load
from capsim.simcore.clock import Clock
from capsim.simcore.columns import Column
from capsim.simcore.montecarlo import result_tables
from capsim.simcore.simulation import run_replication

SEED, N = 7, 2


def _as_before(table: str, name: str) -> Column | None:
    """The column types of the old writer: float64 for every quantity."""
    c = registry.describe(table, name)
    return None if c is None else Column("float64" if c.dtype == "float32" else c.dtype,
                                         c.metadata)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    import capsim

    out = tmp_path_factory.mktemp("compact") / "run"
    capsim.run(None, replications=N, seed=SEED, executor="serial", out=out, progress=False)
    return out


def test_timeseries_is_a_third_of_float64_snappy_and_full_precision_columns_are_exact(
        default_run):
    sc = load(default_run / "scenario.toml")[0]
    dates = Clock.between(sc.scenario.start, sc.scenario.end).dates()
    before = pa.concat_tables([
        result_tables(run_replication(CapacityModel, sc, SEED, i), dates, _as_before)[0]
        for i in range(N)])
    sink = io.BytesIO()
    pq.write_table(before, sink)  # the old writer: float64, Snappy, dictionaries
    old_size = sink.tell()
    new_size = (default_run / "timeseries.parquet").stat().st_size
    print(f"timeseries.parquet: {new_size / N:,.0f} bytes per replication, was "
          f"{old_size / N:,.0f} ({new_size / old_size:.3f})")
    assert new_size <= old_size / 3
    now = pq.read_table(default_run / "timeseries.parquet")
    assert now.column_names == before.column_names and now.num_rows == before.num_rows
    assert pq.ParquetFile(default_run / "timeseries.parquet").metadata.row_group(0) \
        .column(2).compression == "ZSTD"
    kept, rounded = 0, 0
    for name in before.column_names:
        old, new = before.column(name), now.column(name)
        if new.type == pa.float32():
            rounded += 1
            # Rounded once from the float64 value: exactly what numpy's float32 cast gives.
            assert np.array_equal(new.to_numpy(), old.to_numpy().astype(np.float32),
                                  equal_nan=True), name
        else:
            kept += 1
            assert new.type == old.type, name
            assert new.equals(old), f"{name} must be exact"  # bit for bit
    # Dollars and running totals stay float64; daily values other than dollars go float32.
    for f in now.schema:
        m = registry.lookup(f.name, "series") if f.name not in ("replication", "date") \
            else None
        if m is not None and m.dtype == "float64":
            want = pa.float64() if m.unit == "USD" or m.kind == "running_total" \
                else pa.float32()
            assert f.type == want, f.name
    assert kept >= 20 and rounded >= 40


def test_a_series_beyond_float32_is_an_overflow_not_an_infinity():
    from capsim.simcore.montecarlo import _column

    spec = Column("float32", {})
    _, arr = _column("x", np.array([1.0, 3e38]), spec)
    assert arr.type == pa.float32()
    with pytest.raises(FloatingPointError, match="series x reaches 1e\\+39"):
        _column("x", np.array([1.0, 1e39]), spec)


def test_fewer_series_keep_what_the_outputs_read_and_survive_a_resume(tmp_path, capsys):
    import json

    from capsim.experiments.cli import main
    from capsim.simcore import plots

    short = ["-n", "2", "--seed", "3", "--set", "scenario.end=2026-12-01", "--no-progress",
             "--executor", "serial"]
    full, few = tmp_path / "full", tmp_path / "few"
    assert main(["run", "--out", str(full), *short]) == 0
    real = plots.fan_chart

    def stop(*a, **k):
        raise KeyboardInterrupt

    plots.fan_chart = stop  # stopped while plotting: the resume joins the tables again
    try:
        assert main(["run", "--out", str(few), "--series", "demand_lost_tps", *short]) == 130
    finally:
        plots.fan_chart = real
    assert main(["run", "--resume", str(few), "--no-progress"]) == 0
    kept = pq.read_schema(few / "timeseries.parquet").names
    every = pq.read_schema(full / "timeseries.parquet").names
    assert "demand_lost_tps" in kept and "demand_tps" in kept and "h100e" not in kept
    assert set(kept) < set(every) and "chips_installed__trainium2" in kept
    assert json.loads((few / "manifest.json").read_text())["series"][-1] == "demand_lost_tps"
    a, b = pq.read_table(full / "timeseries.parquet"), pq.read_table(few / "timeseries.parquet")
    assert a.select(kept).equals(b)  # the same values, fewer columns
    assert (few / "timeseries.parquet").stat().st_size < \
        0.8 * (full / "timeseries.parquet").stat().st_size
    assert sorted(p.name for p in (few / "plots").iterdir()) == \
        sorted(p.name for p in (full / "plots").iterdir())
    assert main(["report", str(few)]) == 0 and main(["compare", str(full), str(few)]) == 0
    assert main(["run", "-n", "1", "--series", "no_such_series", "--out",
                 str(tmp_path / "x")]) == 2
    assert "no series 'no_such_series'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
