"""A run directory opened for reading (`Run`), and the outputs drawn from a finished one.

`capsim.api` re-exports `Run`; the pipelines read their own runs through it too (the plan's
fresh-seed checks), so they need not import the API.
"""

from __future__ import annotations

import difflib
import html
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from capsim.experiments.pipelines import checks, outputs
from capsim.experiments.pipelines.checks import UsageError
from capsim.experiments.pipelines.figure_index import plot_files
from capsim.models.scenario import Scenario
from capsim.models.scenario import load as _load
from capsim.simcore.store import RunStore, StoreError, is_run_dir


@dataclass
class Run:
    """A run directory opened for reading: tables as pandas, the summary as a dict.

    Tables are read when first asked for and then kept.
    """

    path: Path
    temporary: bool = field(default=False, repr=False, compare=False)
    """A run in a directory capsim made for it: removed on leaving a `with` block (and at
    exit of the process), unless the run was made with `keep=True`."""

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not is_run_dir(self.path):
            raise StoreError(f"{self.path}: not a capsim run directory (no readable manifest.json)")

    def __repr__(self) -> str:
        m = self.manifest
        return (f"Run({str(self.path)!r}, scenario={m.get('scenario')!r}, seed={m.get('seed')}, "
                f"replications={m.get('replications_done')}, status={m.get('status')!r})")

    def _repr_html_(self) -> str:
        from capsim.experiments.pipelines.answer import headline_names, short_value

        m, e = self.manifest, html.escape
        rows = [f"<tr><th>{k}</th><td>{e(str(v))}</td></tr>" for k, v in (
            ("run", self.path), ("scenario", m.get("scenario")), ("seed", m.get("seed")),
            ("replications", m.get("replications_done")), ("status", m.get("status")))]
        if (self.path / "summary.json").exists():
            s = self.summary
            have = {**s.get("kpis", {}), **s.get("milestones", {})}
            for name in headline_names(s)[:6]:
                d, u = have[name], have[name].get("unit", "")
                lo, hi = d.get("ci95") or (None, None)
                rows.append(f"<tr><th>{e(name)}</th><td>{short_value(d.get('mean'), u)} "
                            f"(95% CI {short_value(lo, u)} to {short_value(hi, u)})</td></tr>")
        return "<table>" + "".join(rows) + "</table>"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.temporary:
            self.remove()

    def remove(self) -> None:
        """Delete the run directory (for a temporary run; a kept run stays unless asked)."""
        shutil.rmtree(self.path, ignore_errors=True)

    @property
    def manifest(self) -> dict[str, Any]:
        """manifest.json: versions, seed, replications done, status."""
        return json.loads((self.path / "manifest.json").read_text())

    @property
    def status(self) -> str:
        """"complete" or "partial"."""
        return str(self.manifest.get("status"))

    @property
    def seed(self) -> int:
        """The run's root seed."""
        return int(self.manifest["seed"])

    @cached_property
    def summary(self) -> dict[str, Any]:
        """summary.json: KPI estimates with 95% intervals.

        Raises:
            StoreError: summary.json is missing or damaged (naming it).
        """
        s = _read(self.path / "summary.json", lambda p: json.loads(p.read_bytes()))
        if not isinstance(s, dict):
            raise StoreError(f"{self.path / 'summary.json'}: damaged (not a JSON object); "
                             f"capsim run --resume {self.path} writes it again")
        return s

    @cached_property
    def kpis(self) -> pd.DataFrame:
        """One row per replication, indexed by replication.

        Raises:
            StoreError: a complete run whose table lacks replications its manifest promises.
        """
        kp = _read(self.path / "kpis.parquet", pd.read_parquet)
        kp = kp.set_index("replication").sort_index()
        m = self.manifest
        n = m.get("replications")
        if m.get("status") == "complete" and isinstance(n, int) and list(kp.index) != list(
                range(n)):
            raise StoreError(f"{self.path}: run is marked complete, but kpis.parquet holds "
                             f"{len(kp)} of the {n} replications its manifest promises; "
                             f"finish it with: capsim run --resume {self.path}")
        return kp

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """One row per (replication, date): daily series (dates as datetime64)."""
        return _dates(_read(self.path / "timeseries.parquet",
                            lambda p: RunStore(self.path).read_timeseries()))

    def series(self, *columns: str) -> pd.DataFrame:
        """Only some columns of the daily series (with replication and date): cheaper.

        Raises:
            UsageError: a column the run does not have (with the nearest names).
        """
        import pyarrow.parquet as pq

        cols = ["replication", "date", *[c for c in columns if c not in ("replication", "date")]]
        have = pq.read_schema(self.path / "timeseries.parquet").names
        unknown = [c for c in cols if c not in have]
        if unknown:
            close = difflib.get_close_matches(unknown[0], have, n=3)
            raise checks.UsageError(
                f"{self.path}: no series {', '.join(map(repr, unknown))}"
                + (f"; did you mean {', '.join(close)}?" if close else "")
                + " (capsim kpis lists them)")
        return _dates(RunStore(self.path).read_timeseries(cols))

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event log: power-ons, tranches, orders, surges (dates as datetime64)."""
        return _dates(RunStore(self.path).read_events())

    @cached_property
    def scenario(self) -> Scenario:
        """The fully resolved scenario that ran."""
        return _load(self.path / "scenario.toml")[0]

    @property
    def plots(self) -> list[Path]:
        """The plot files of the run, sorted by name."""
        return sorted(p for p in (self.path / "plots").glob("*.*") if p.suffix in (".png", ".svg"))

    def kpi(self, name: str) -> dict[str, Any]:
        """One KPI's estimate from the summary (mean, ci95, p05, p50, p95, unit).

        Raises:
            UsageError: a KPI the run's summary does not have (with the nearest names).
        """
        s = self.summary
        have = []
        for section in ("kpis", "milestones"):
            if name in s.get(section, {}):
                return dict(s[section][name])
            have += list(s.get(section, {}))
        close = difflib.get_close_matches(str(name), have, n=3)
        raise checks.UsageError(f"no KPI {name!r} in {self.path}/summary.json"
                                + (f"; did you mean {', '.join(close)}?" if close else "")
                                + " (capsim kpis lists them)")

    def report(self, out: str | os.PathLike[str] | None = None,
               sensitivity: str | os.PathLike[str] | None = None) -> Path:
        """Write the self-contained HTML report (default DIR/report.html).

        `sensitivity`: a sweep directory (or its sensitivity_<kpi>.json) whose three
        strongest drivers the report's answer names.
        """
        return report(self.path, out=out, sensitivity=sensitivity)

    def plot(self, fmt: str = "png", dpi: int = 150,
             out: str | os.PathLike[str] | None = None) -> list[Path]:
        """Redraw the run's plots into `out` (default DIR/plots/) as png or svg files."""
        return plot(self.path, fmt=fmt, dpi=dpi, out=out)


def _read(path: Path, how):
    """`how(path)`, a missing or damaged file told as a StoreError naming it.

    Permission and disk errors stay OSErrors (the machine's state, exit 74).
    """
    try:
        return how(path)
    except FileNotFoundError:
        raise StoreError(f"{path}: missing (is the run finished? capsim run --resume "
                         f"{path.parent} finishes it)") from None
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise StoreError(f"{path}: damaged ({str(exc).strip()[:200]})") from None
    except Exception as exc:  # noqa: BLE001  (Arrow and json raise many kinds on garbage)
        raise StoreError(f"{path}: damaged ({type(exc).__name__}: "
                         f"{str(exc).strip()[:200]})") from None


def _dates(df: pd.DataFrame) -> pd.DataFrame:
    """The table with its `date` column as datetime64 (Parquet's date32 reads as objects)."""
    if "date" in df:
        df["date"] = pd.to_datetime(df["date"])
    return df


def opened(path: Path, summary: dict[str, Any]) -> Run:
    """The run at `path`, its summary the one just computed (not read back from JSON)."""
    r = Run(path)
    r.__dict__["summary"] = summary  # the cached_property's slot
    return r


def plot(run_dir: str | os.PathLike[str], *, fmt: str = "png", dpi: int = 150,
         out: str | os.PathLike[str] | None = None) -> list[Path]:
    """Redraw the plots of a complete run into `out` (default DIR/plots/); the files.

    Raises:
        UsageError: `run_dir` is not a complete run.
    """
    from capsim.experiments.pipelines import runs

    checks.whole("dpi", dpi, 30, command="capsim plot")
    if fmt not in ("png", "svg"):
        raise UsageError(f"capsim plot: fmt must be 'png' or 'svg', got {fmt!r}")
    path = Path(run_dir)
    store = checks.run_dir(path, "plot")
    target = path / "plots" if out is None else outputs.output_dir(out, "plot --out")
    target.mkdir(parents=True, exist_ok=True)
    made = runs.write_plots(store, target, fmt, dpi)
    if target.resolve() == (path / "plots").resolve():
        listed = set(store.manifest().get("plots") or [])
        store.update_manifest(plots=sorted(listed | set(plot_files(made))))
    return made


def report(run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None,
           sensitivity: str | os.PathLike[str] | None = None) -> Path:
    """Write the self-contained HTML report of a complete run (default DIR/report.html).

    `sensitivity`: a sweep directory (or its sensitivity_<kpi>.json) whose three
    strongest drivers the report's answer names.

    Raises:
        UsageError: `run_dir` is not a complete run.
    """
    from capsim.experiments.pipelines import report as _report

    checks.run_dir(Path(run_dir), "report")
    if out is not None:
        outputs.output_file(out, "report --out")
    return _report.write(Path(run_dir), None if out is None else Path(out),
                         None if sensitivity is None else Path(sensitivity))
