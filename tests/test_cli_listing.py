"""`capsim keys`, `capsim kpis`, the one spelling of list entries, and the run's headline."""

from __future__ import annotations

import json

from capsim.experiments.cli import main
from capsim.experiments.cli.tables import WIDTH, headline_table, short_value
from capsim.experiments.pipelines.answer import HEADLINE_MAX, headline_names, short_answer
from capsim.experiments.pipelines.listing import metrics, scenario_keys
from capsim.models import kpis as registry

import capsim

# The default scenario has no list of uncertain entries (its growth is a process, not a
# list of periods), so a scenario that adds one shows how list entries are spelled.
PERIODS = """[scenario]
extends = "aws-anthropic-2026"
name = "periods"
[demand]
growth_by_period = [{ until = 2024-06-30, rate = RATE }, { until = 2024-12-31, rate = RATE }]
""".replace(
    "RATE",
    '{ dist = "triangular", low = 5, mode = 8, high = 12, unit = "x a year", source = "test" }',
)


def _periods(tmp_path):
    path = tmp_path / "periods.toml"
    path.write_text(PERIODS)
    return path


def test_keys_list_every_parameter_with_unit_and_source(capsys, tmp_path):
    assert main(["keys", "supply.pools.*.share"]) == 0
    out = capsys.readouterr().out
    assert "supply.pools.cowos.share = triangular(" in out and "source:" in out
    rows = scenario_keys(capsim.load())
    assert all(r.unit and r.source for r in rows if r.value.startswith("triangular("))
    keys = {r.key for r in scenario_keys(capsim.load(_periods(tmp_path)))}
    assert "demand.growth_by_period[1].rate" in keys


def test_a_listed_list_entry_is_settable_with_the_same_spelling(tmp_path):
    key = "demand.growth_by_period[1].rate"
    path = _periods(tmp_path)
    s = capsim.load(path, [f"{key}=5"])
    row = next(r for r in scenario_keys(s) if r.key == key)
    assert row.value == "5"
    inputs = {i.name for i in __import__("capsim.models.inputs", fromlist=["x"])
              .uncertain_inputs(capsim.load(path))}
    assert key in inputs  # sensitivity --param spells it the same


def test_a_bad_list_entry_is_a_user_error(capsys, tmp_path):
    assert main(["validate", str(_periods(tmp_path)), "--set",
                 "demand.growth_by_period[9].rate=5"]) == 2
    assert "has no entry 9" in capsys.readouterr().err


def test_keys_pattern_that_matches_nothing_exits_2(capsys):
    assert main(["keys", "no_such_key_anywhere"]) == 2


def test_kpis_lists_the_registry(capsys):
    assert main(["kpis"]) == 0
    out = capsys.readouterr().out
    for name in registry.KPIS:
        assert name in out
    assert len(metrics()) == sum(len(t) for t in (registry.KPIS, registry.CLOUD_KPIS,
                                                  registry.SERIES, registry.GROUP_SERIES))


def _summary() -> dict:
    def entry(mean, unit, **kw):
        return {"mean": mean, "ci95": [mean * 0.9, mean * 1.1], "p05": mean * 0.5,
                "p50": mean, "p95": mean * 1.5, "n": 10, "n_missing": 0, "unit": unit, **kw}

    kpis = {n: entry(0.5 if registry.KPIS[n].unit.startswith(("share", "prob")) else 2e9,
                     registry.KPIS[n].unit) for n in registry.kpi_names()}
    kpis["first_short_month"] = entry(2027.5, "decimal year")
    return {"replications": 10, "kpis": kpis, "milestones": {}}


def test_headline_table_fits_100_columns_and_reads_dates_and_probabilities():
    s = _summary()
    table = headline_table(s)
    lines = table.splitlines()
    assert max(map(len, lines)) <= WIDTH
    assert len(lines) - 2 == len(headline_names(s)) <= HEADLINE_MAX
    row = next(x for x in lines if x.startswith("first_short_month"))
    assert "2027-07" in row and "2027.5" not in row
    row = next(x for x in lines if x.startswith("p_shortfall_any"))
    assert "50%" in row and row.split()[-2] == "-"  # a probability: no percentiles


def test_unmet_demand_share_leads_when_the_registry_has_it():
    s = _summary()
    s["kpis"] = {"unmet_demand_share": {**s["kpis"]["unserved_fraction"]}, **s["kpis"]}
    assert headline_names(s)[0] == "unmet_demand_share"
    assert short_answer(s).startswith("On average 50% of demand goes unmet")
    # With the revenue it forgoes, beside it in the sentence and second in the table.
    s["kpis"]["forgone_revenue_total_usd"] = {"mean": 2.3e11, "ci95": [2e11, 2.6e11],
                                              "unit": "USD", "n": 4}
    assert headline_names(s)[:2] == ["unmet_demand_share", "forgone_revenue_total_usd"]
    assert "goes unmet (95% CI" in short_answer(s)
    assert ", forgoing $230.0B of revenue" in short_answer(s)


def test_short_answer_says_how_likely_when_and_how_much():
    text = short_answer(_summary(), 0.01)
    assert "50% of 10 replications" in text and "2027-" in text and "1.0%" in text
    assert short_value(2.5e6, "chip-months") == "2.5M"


def test_run_ends_with_the_answer_and_a_narrow_table(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "-n", "2", "-w", "1", "--executor", "serial", "--no-progress",
                 "--out", str(out), "--set", "scenario.end=2027-01-01"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert any(f"capsim report {out}" in x for x in lines)
    table_start = max(i for i, x in enumerate(lines) if x.startswith("KPI "))
    assert all(len(x) <= WIDTH for x in lines[table_start - 4:])
    assert lines[table_start - 1].endswith(".")  # the answer sentence right above the table
    assert json.loads((out / "summary.json").read_text())["replications"] == 2
