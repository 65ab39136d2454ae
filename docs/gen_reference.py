"""Write the docs' generated reference pages: scenario keys and the KPI and series registry.

    python docs/gen_reference.py           # rewrite docs/reference/{scenario-keys,kpis}.md
    python docs/gen_reference.py --check   # exit 1 if a page differs from what it would write

The pages read the same rows as `capsim keys` and `capsim kpis`
(`capsim.experiments.pipelines.listing`), so the docs and the command line cannot disagree;
`tests/test_docs.py` checks that the committed pages are current.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from capsim.experiments.pipelines.listing import scenario_keys
from capsim.models import kpis as registry
from capsim.models.scenario import DEFAULT_SCENARIO, load

REFERENCE = Path(__file__).resolve().parent / "reference"

_KPI_INTRO = """\
Every column below is also described in the Parquet files themselves: each Arrow field
carries `unit`, `description` and `kind` metadata (read them with
`pyarrow.parquet.read_schema(path).field(name).metadata`). This page is generated from the
registry in `models/kpis.py` by `docs/gen_reference.py`, and a test checks that
the files match it; `capsim kpis [PATTERN]` prints the same. Types: `double` is float64,
`int64` a count; `date` is Arrow `date32`
(pandas reads it as Python dates: `pd.to_datetime(df["date"])` makes it datetime64);
`replication` is int32. Kinds: `daily` a value of that day, `running_total` cumulative
from the start, `window` a statistic and `window_total` a sum over the evaluation window
(`[scenario] evaluation_start` to `evaluation_end`; default the whole run, the default
scenario from 2026-04-01), `run_total` over the whole run, `at_date` on the date in its
name, `end` on the last day."""

_GROUPS = """Per generation *g* of an enabled cloud, per enabled cloud *c* and per pool (the double
underscore separates a metric from its group; `chips_<state>__<g>` for the five chip
states, `compute_tps__<g or c>`, `pool_stock__<pool>`, `energized_mw__<c>`,
`occupied_mw__<c>`, `spend_daily_usd__<c>`):"""

_EVENTS = """`events.parquet`, one row per event: `replication` (int32), `hour` (double, hours since
the start), `date` (date32), `kind` (`power_on`, `tranche`, `order`, `hold`, `surge.random`,
`surge.launch`), `detail` (the event in words) and its facts as fields: `subject` (a
campus, a generation, a tranche, a surge's target), `amount` (double, NaN when none) and
`unit` (of `amount`: `MW facility`, `USD`, `chips`, ...)."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def keys_page() -> str:
    """The default scenario's keys, one row each: value or distribution, unit, source."""
    rows = scenario_keys(load(DEFAULT_SCENARIO)[0])
    out = ["# Scenario keys", "",
           f"Every key of the default scenario (`{DEFAULT_SCENARIO}`), spelled as `--set` and "
           "`sensitivity --param` take it (list entries as `[i]`), with its value or "
           "distribution, unit and source. This page is generated from the scenario schema "
           "by `docs/gen_reference.py`; `capsim keys [SCENARIO] [PATTERN]` prints the same "
           "for any scenario. The sources are listed in full in [Sources](../sources.md).", "",
           "| key | value or distribution | unit | source |", "|---|---|---|---|"]
    out += [f"| `{r.key}` | {_cell(r.value)} | {_cell(r.unit)} | {_cell(r.source)} |"
            for r in rows]
    return "\n".join(out) + "\n"


def kpis_page() -> str:
    """The registry's KPIs and series, the tables the run directory's files are checked by."""
    parts = ["# KPIs and series", "", _KPI_INTRO, "",
             "`kpis.parquet`, one row per replication:", "", registry.markdown("kpis"), "",
             "Per enabled cloud (summary.json groups them under `by_cloud`):", "",
             registry.markdown("cloud"), "",
             "`timeseries.parquet`, one row per (replication, date). A daily value is "
             "stored as `float` (32-bit: 7 significant digits, a relative error below "
             "6e-8); dollars stay `double` (a day's dollars add up to the KPI totals to the "
             "cent; a run-rate in USD per year is a rate, stored as `float`), and so do "
             "running totals (cumulative MW and counts since the start: "
             "their differences are exact); counts are `int64`; "
             "dates are `date32`. The simulation computes in 64 bits throughout, and "
             "every KPI is a `double`. The file is written with zstd.", "",
             registry.markdown("series"), "", _GROUPS, "", registry.markdown("group"), "",
             _EVENTS]
    return "\n".join(parts) + "\n"


PAGES = {"scenario-keys.md": keys_page, "kpis.md": kpis_page}


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the generated pages; the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare, do not write")
    a = p.parse_args(argv)
    stale = []
    for name, make in PAGES.items():
        path, text = REFERENCE / name, make()
        if a.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    for name in stale:
        print(f"docs/reference/{name} is out of date: run python docs/gen_reference.py",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
