"""The command line's messages go through the `capsim` logger: --quiet and --verbose."""

from __future__ import annotations

import logging

import pytest
from capsim.experiments.cli import main
from capsim.experiments.pipelines.kpi_text import HEADLINE_KPIS

ARGS = ["-n", "2", "--workers", "1", "--set", "scenario.end=2026-08-01", "--force"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("log")


def _run(capsys, out, *flags):
    assert main([*flags, "run", *ARGS, "--out", str(out)]) == 0
    return capsys.readouterr()


def test_a_plain_run_logs_its_start_and_prints_notes_then_the_answer(runs, capsys):
    got = _run(capsys, runs / "plain")
    assert "capsim: aws-anthropic-2026: 2 replications, seed 2026" in got.err
    assert "run directory:" in got.out and "capsim report" in got.out
    # The notes come first; the answer and its table are the last lines.
    assert got.out.index("run directory:") < got.out.index("On average") < got.out.index("KPI ")
    assert "capsim: 2 replications in" not in got.err  # debug only with --verbose


def test_quiet_shows_only_the_answer_and_its_table(runs, capsys):
    got = _run(capsys, runs / "quiet", "--quiet")
    assert got.err == ""
    assert got.out.startswith("On average")
    assert "run directory:" not in got.out and "history (90% band)" not in got.out
    last = got.out.rstrip().splitlines()[-1].split()[0]
    assert last in HEADLINE_KPIS and last != "unmet_demand_share"  # the table's last row
    # After the command as well as before it.
    assert main(["run", *ARGS, "--out", str(runs / "quiet"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_verbose_adds_debug_lines_of_settings_and_timings(runs, capsys):
    got = _run(capsys, runs / "verbose", "--verbose")
    assert "capsim: aws-anthropic-2026: 2 replications" in got.err
    assert "executor processes with 1 worker(s), overrides: scenario.end=2026-08-01" in got.err
    assert "capsim: 2 replications in " in got.err and " plots in " in got.err


def test_warnings_show_under_quiet_and_the_logger_is_left_as_found(capsys, monkeypatch):
    from capsim.experiments.cli import commands

    def noisy(a):
        commands.log.info("capsim: a note")
        commands.log.warning("capsim: warning: a warning")
        commands.log.debug("capsim: a detail")
        return 0

    monkeypatch.setitem(commands.COMMANDS, "kpis", noisy)
    log = logging.getLogger("capsim")
    before = (log.level, log.propagate, list(log.handlers))
    assert main(["-q", "kpis"]) == 0
    assert capsys.readouterr().err == "capsim: warning: a warning\n"
    assert main(["kpis"]) == 0
    assert capsys.readouterr().err == "capsim: a note\ncapsim: warning: a warning\n"
    assert main(["kpis", "--verbose"]) == 0
    assert capsys.readouterr().err.endswith("a warning\ncapsim: a detail\n")
    assert (log.level, log.propagate, list(log.handlers)) == before
    # --quiet and --verbose together are refused as a usage mistake (exit 2).
    assert main(["-q", "-v", "kpis"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
