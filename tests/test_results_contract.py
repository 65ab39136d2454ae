"""The run directory's contract: typed Parquet columns whose units match README's tables.

Reads the files with plain pyarrow and pandas, as another tool would.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from capsim.models import kpis as registry
from capsim.models.scenario import load

README = Path(__file__).resolve().parents[1] / "docs" / "reference" / "kpis.md"
TYPES = {"double": pa.float64(), "float": pa.float32(), "int64": pa.int64()}


def _readme_rows(table: str) -> dict[str, tuple[str, str]]:
    """{column (stem for per-group rows): (type, unit)} from README's tables of `table`.

    The KPI tables come before the line introducing timeseries.parquet, the series' after.
    """
    kpis, _, series = README.read_text().partition("`timeseries.parquet`, one row per")
    rows = {}
    for m in re.finditer(r"^\| `([a-z0-9_]+)(__<[^>]+>)?` \| (double|float|int64) \| ([^|]*) \|",
                         series if table == "series" else kpis, re.M):
        rows[m.group(1)] = (m.group(3), m.group(4).strip())
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import capsim

    out = tmp_path_factory.mktemp("contract") / "run"
    capsim.run(None, replications=2, seed=5, executor="serial", out=out, progress=False,
               overrides=["scenario.end=2027-04-01"])
    return out


def test_readme_tables_are_the_registry():
    text = README.read_text()
    for table in ("kpis", "cloud", "series", "group"):
        assert registry.markdown(table) in text, f"README's {table} table is out of date"


@pytest.mark.parametrize("name,table", [("timeseries", "series"), ("kpis", "kpis")])
def test_parquet_types_and_units_match_readme(run_dir, name, table):
    schema = pq.read_schema(run_dir / f"{name}.parquet")
    rows = _readme_rows(table)
    assert schema.field("replication").type == pa.int32()
    if table == "series":
        assert schema.field("date").type == pa.date32()
    seen = 0
    for f in schema:
        if f.name in ("replication", "date"):
            continue
        stem = f.name if f.name in rows else f.name.partition("__")[0]
        assert stem in rows, f"{f.name} is not in README's tables"
        dtype, unit = rows[stem]
        assert f.type == TYPES[dtype], f.name
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        assert meta.get("unit") == unit, f.name
        assert meta.get("description") and meta.get("kind"), f.name
        seen += 1
    assert seen >= 20
    # Plain pandas: counts load as int64, quantities as float64.
    df = pd.read_parquet(run_dir / f"{name}.parquet")
    for f in schema:
        if f.type == pa.int64():
            assert df[f.name].dtype == np.int64, f.name
        elif f.type == pa.float64():
            assert df[f.name].dtype == np.float64, f.name


def test_daily_and_total_names_add_up(run_dir):
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    kp = pd.read_parquet(run_dir / "kpis.parquet").set_index("replication")
    meta = load(run_dir / "scenario.toml")[0].scenario
    w0 = meta.evaluation_start or meta.start
    for rep, g in ts.groupby("replication"):
        # A total is the sum of its daily values over the evaluation window.
        g = g[g["date"] >= w0]
        assert kp.loc[rep, "spend_total_usd__aws"] == pytest.approx(
            g["spend_daily_usd__aws"].sum(), rel=1e-9)
        assert kp.loc[rep, "revenue_total_usd"] == pytest.approx(
            g["revenue_daily_usd"].sum(), rel=1e-9)
        assert np.all(np.diff(g["chips_retired"].to_numpy()) >= 0)  # a running total


def test_events_have_structured_fields(run_dir):
    ev = pq.read_table(run_dir / "events.parquet")
    assert ev.schema.field("date").type == pa.date32()
    assert ev.schema.field("amount").type == pa.float64()
    df = ev.to_pandas()
    assert {"power_on", "tranche"} <= set(df["kind"])
    power = df[df["kind"] == "power_on"]
    assert (power["unit"] == "MW facility").all() and (power["amount"] > 0).all()
    assert (power["subject"] != "").all()
    tranche = df[df["kind"] == "tranche"]
    assert (tranche["unit"] == "USD").all() and (tranche["amount"] >= 0).all()
    for f in ev.schema:
        assert f.metadata and b"description" in f.metadata, f.name
