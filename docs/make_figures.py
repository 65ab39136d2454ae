"""The figures README and the docs quote, made by running capsim: they cannot go stale.

    python docs/make_figures.py            # run, write docs/figures, fill pages
    python docs/make_figures.py --fill     # only fill the pages from the files

Each figure set (`FIGURES`) is one run of a scenario with its overrides; the script writes
`docs/figures/<name>.json` with the values the pages quote, the digest of the resolved
scenario and the model digest it was made with, and copies the run's plots the pages show
into `docs/figures/`. Pages quote a value with a marker, `<!-- fig:NAME.KEY -->` ...
`<!-- /fig -->`, whose inside the script rewrites. `tests/test_docs.py` fails when a
quoted value differs from its file, or the file was made with another scenario or model.

The model digest is the SHA-256 of the results pinned in `tests/golden.json` (every KPI,
series and event of a few replications), so it changes exactly when the model's numbers do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES_DIR = ROOT / "docs" / "figures"
GOLDEN = ROOT / "tests" / "golden.json"
PAGES = ("README.md", "docs")
MARKER = re.compile(r"<!-- fig:([\w-]+)\.([\w-]+) -->(.*?)<!-- /fig -->", re.S)
SEED = 2026
FIGURES = {
    "baseline": {"scenario": None, "overrides": [], "replications": 100,
                 "plots": ["fan_chart.png", "shortfall_probability.png", "chips_by_state.png"]},
    "demand150": {"scenario": None, "overrides": ["demand.growth_multiplier=1.5"],
                  "replications": 100, "plots": []},
}


def model_digest() -> str:
    """The digest of the model's pinned results (the "runs" of tests/golden.json)."""
    runs = json.loads(GOLDEN.read_text())["runs"]
    return hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()[:16]


def scenario_digest(scenario: str | None, overrides: list[str]) -> str:
    """The digest of the resolved scenario text and of the posterior file it names."""
    from capsim.models.posterior import describe
    from capsim.models.scenario import sha256, to_toml

    import capsim

    sc = capsim.load(scenario, overrides)
    return sha256(to_toml(sc) + describe(sc).get("sha256", ""))[:16]


def _values(run, compare=None) -> dict[str, str]:
    from capsim.experiments.cli.tables import headline_table, short_value
    from capsim.experiments.pipelines.answer import short_answer
    from capsim.experiments.pipelines.figures import short_threshold

    s = run.summary
    k = s["kpis"]
    answer = short_answer(s, short_threshold(run.scenario))
    out = {"answer": answer,
           "output": "```\n" + textwrap.fill(answer, 100) + "\n\n" + headline_table(s)
                     + "\n```",
           "replications": str(s["replications"])}
    for name, d in {**k, **s.get("milestones", {})}.items():
        out[name] = short_value(d.get("mean"), d.get("unit", ""))
        if d.get("p50") is not None:
            out[f"{name}_p50"] = short_value(d.get("p50"), d.get("unit", ""))
    # Peak-hour load over serving capacity on the evaluation's first day (the
    # announcement in the default): the strain no observation measures.
    import numpy as np
    import pandas as pd

    start = pd.Timestamp(run.scenario.scenario.evaluation_start or run.scenario.scenario.start)
    ser = run.series("peak_utilization")
    day = ser[pd.to_datetime(ser["date"]) == start]["peak_utilization"].to_numpy()
    if day.size:
        out["peak_load_at_start_p50"] = f"{np.median(day):.0%}"
        out["peak_load_at_start_over_90pct"] = f"{np.mean(day >= 0.9):.0%}"
    hist = s.get("history")
    if hist:
        from capsim.models.history import headline

        out["history"] = headline(hist)
    return out


def make(names: list[str], workers: int | None) -> None:
    """Run each figure set and write its JSON and plots."""
    import capsim

    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="capsim-docs-") as tmp:
        runs = {}
        for name in names:
            f = FIGURES[name]
            run = capsim.run(f["scenario"], replications=f["replications"], seed=SEED,
                             overrides=f["overrides"], out=Path(tmp) / name, progress=False,
                             **({"workers": workers} if workers else {}))
            runs[name] = run
            values = _values(run)
            if name != "baseline" and "baseline" in runs:
                cmp = capsim.compare(runs["baseline"], run)
                table = cmp.table().replace(f"{tmp}/", "runs/")
                values["compare"] = "```\n" + table + "\n```"
            data = {"name": name, "scenario": run.summary.get("scenario"),
                    "overrides": f["overrides"], "seed": SEED,
                    "replications": f["replications"],
                    "scenario_digest": scenario_digest(f["scenario"], f["overrides"]),
                    "model_digest": model_digest(), "capsim_version": capsim.__version__,
                    "values": values}
            (FIGURES_DIR / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
            for plot in f["plots"]:
                shutil.copyfile(run.path / "plots" / plot, FIGURES_DIR / plot)


def page_files() -> list[Path]:
    """README.md and every Markdown page of docs/."""
    out = []
    for p in PAGES:
        path = ROOT / p
        out += sorted(path.rglob("*.md")) if path.is_dir() else [path]
    return out


def load_figures() -> dict[str, dict]:
    """Every figure file, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(FIGURES_DIR.glob("*.json"))}


def fill(text: str, figures: dict[str, dict]) -> str:
    """The page with each marker's inside replaced by its figure's value."""

    def sub(m: re.Match) -> str:
        name, key = m.group(1), m.group(2)
        value = figures[name]["values"][key]
        sep = "\n" if "\n" in value else ""
        return f"<!-- fig:{name}.{key} -->{sep}{value}{sep}<!-- /fig -->"

    return MARKER.sub(sub, text)


def fill_pages() -> list[Path]:
    """Fill every page's markers from the figure files; the pages that changed."""
    figures = load_figures()
    changed = []
    for path in page_files():
        text = path.read_text()
        new = fill(text, figures)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Make the figures (or with --fill only fill the pages); the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fill", action="store_true", help="only fill the pages' markers")
    p.add_argument("--only", action="append", choices=sorted(FIGURES), default=None,
                   help="figure sets to remake (default: all)")
    p.add_argument("--workers", type=int, default=None, help="worker processes")
    a = p.parse_args(argv)
    if not a.fill:
        make(a.only or list(FIGURES), a.workers)
    for path in fill_pages():
        print(f"filled {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
