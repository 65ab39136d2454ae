"""Finishing a "complete" run whose summary or plots were lost (deleted, or a disk problem).

Since "complete" is written last, a run capsim finished has them all; this covers files
removed afterwards. The tables are kept by a complete run (its parts are not), so the
summary and plots are rebuilt from them; no replication runs again.
"""

from __future__ import annotations

from capsim.experiments.pipelines.figure_index import plot_files
from capsim.simcore.store import RunStore


def missing_outputs(store: RunStore) -> list[str]:
    """Files a complete run should have and has not (tables first)."""
    m = store.manifest()
    from capsim.experiments.pipelines.checks import readable_json

    missing = [n for n in ("kpis.parquet", "timeseries.parquet")
               if not (store.path / n).is_file()]
    if not readable_json(store.path / "summary.json"):
        missing.append("summary.json")  # gone, or damaged: written again
    plots = store.path / "plots"
    listed = m.get("plots")
    if isinstance(listed, list):
        missing += [f"plots/{n}" for n in listed if not (plots / str(n)).is_file()]
    elif not plots.is_dir() or not any(plots.glob("*.png")):
        missing.append("plots/")
    return missing


def complete_outputs(store: RunStore) -> dict:
    """Rewrite summary.json and the plots of a complete run from its tables; its summary.

    Raises:
        FileNotFoundError: the tables themselves are gone (the run must be made again).
    """
    from capsim.experiments.pipelines import runs

    for n in ("kpis.parquet", "timeseries.parquet"):
        if not (store.path / n).is_file():
            raise FileNotFoundError(f"{store.path / n}: the run's table is gone and its parts "
                                    "were dropped when it completed; run it again")
    summary = runs.write_summary(store, status="complete")
    made = runs.write_plots(store)
    store.complete(plots=plot_files(made))
    return summary
