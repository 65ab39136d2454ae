"""The report's history: a readable table and a figure of every observation, by kind."""

from __future__ import annotations

import datetime as dt

import numpy as np
from capsim.experiments.pipelines import history_plots, history_report
from capsim.models import history, observations
from capsim.simcore import plots


def _history(fitted=None):
    rng = np.random.default_rng(5)
    obs = [observations.Observation("rr", dt.date(2026, 4, 1), 3.1e10, 2.9e10, 3.5e10,
                                    "USD per year", "press", ("run_rate_reported_usd",)),
           observations.Observation("chips", dt.date(2025, 3, 31), 150500, 108000, 331500,
                                    "chips", "Epoch", ("a",), kind="input-echo"),
           observations.Observation("gw", dt.date(2026, 12, 31), 950, 800, 1300,
                                    "MW facility", "plan", ("b",), kind="plan")]
    sims = {"rr": rng.normal(2.0e10, 2e9, 200), "chips": rng.normal(160000, 9000, 200),
            "gw": rng.normal(1000, 50, 200)}
    return history.score(obs, sims, fitted)


def test_the_table_formats_values_and_says_kind_use_and_inside():
    h = _history(fitted={"chips", "gw"})
    out = history_report.history_rows({"history": h})
    rows = {r["name"]: r for r in out["rows"]}
    assert rows["rr"]["observed"] == "$31B" and rows["rr"]["range"] == "$29B - $35B"
    assert rows["rr"]["inside"] == "NO" and rows["rr"]["use"] == "held out"
    assert rows["rr"]["in_range"] == "0%" and rows["chips"]["in_range"] == "100%"
    assert rows["chips"]["kind"] == "input-echo" and rows["chips"]["use"] == "fitted"
    assert rows["gw"]["band"].endswith(")") and rows["gw"]["inside"] == "yes"
    assert [k for k, _ in out["columns"]][:3] == ["name", "kind", "use"]
    assert "independent: 0 of 1 inside; input-echo: 1 of 1 inside; plan: 1 of 1 inside" \
        in out["sentence"]
    assert "0% of replications pass through their observed ranges" in out["sentence"]


def test_the_figure_draws_every_observation_with_a_finding_in_its_title(tmp_path):
    h = _history(fitted={"chips"})
    seen = {}

    def grab(fig, path):
        ax = fig.axes[0]
        seen["labels"] = [t.get_text() for t in ax.get_yticklabels()]
        seen["title"] = fig._suptitle.get_text()

    plots.before_save.append(grab)
    try:
        path = history_plots.history_figure(tmp_path / "history.png", h)
    finally:
        plots.before_save.remove(grab)
    assert path is not None and path.exists()
    assert seen["labels"] == ["rr (independent, held out)", "chips (input-echo, fitted)",
                              "gw (plan, held out)"]
    assert seen["title"].replace("\n", " ").startswith(
        "Independent observations: 0 of 1 inside the run's 90% band")
    assert history_plots.history_figure(tmp_path / "none.png", {"observations": []}) is None


def test_the_run_says_what_its_posterior_was_fitted_to(tmp_path):
    import json
    from types import SimpleNamespace

    from capsim.experiments.pipelines.history import fitted_names, predictive

    cal = tmp_path / "cal"
    cal.mkdir()
    (cal / "summary.json").write_text(json.dumps({"fitted": ["rr", "chips"]}))
    with_post = SimpleNamespace(scenario=SimpleNamespace(posterior=str(cal)))
    assert fitted_names(with_post) == {"rr", "chips"}
    assert predictive(with_post).startswith("posterior predictive")
    on_file = SimpleNamespace(scenario=SimpleNamespace(posterior=str(cal / "posterior.parquet")))
    assert fitted_names(on_file) == {"rr", "chips"}
    priors = SimpleNamespace(scenario=SimpleNamespace(posterior=None))
    assert fitted_names(priors) is None and predictive(priors).startswith("prior predictive")
    (cal / "summary.json").write_text("not json")
    assert fitted_names(with_post) is None
