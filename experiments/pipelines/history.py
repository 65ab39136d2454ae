"""Score a run directory's history against the public record (summary.json "history").

The observation file is the scenario's `observations` key (a path, or the name of a file
shipped in capsim.models.observations), else the file shipped under the scenario's name;
a scenario with neither has no history section.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from capsim.models import history, observations
from capsim.models.capacity import series_names
from capsim.models.observations import Observation
from capsim.models.posterior import posterior_path
from capsim.models.scenario import Scenario
from capsim.simcore.store import RunStore


def observation_source(scenario: Scenario, path: str | Path | None = None
                       ) -> tuple[str, str] | None:
    """(label, text) of the observations for `scenario`: `path`, its key, or the shipped file."""
    if path is not None:
        return observations.read(path)
    key = scenario.scenario.observations
    if key:
        shipped = observations.embedded(key)
        return shipped if shipped is not None else observations.read(key)
    return observations.embedded(scenario.name)


def load_observations(scenario: Scenario, path: str | Path | None = None,
                      drop_outside: bool = False) -> list[Observation] | None:
    """The scenario's observations, checked against its series and dates (None if it has none).

    With `drop_outside`, observations dated outside the run are left out, not refused.

    Raises:
        observations.ObservationError: naming the file, the entry and the problem.
    """
    src = observation_source(scenario, path)
    if src is None:
        return None
    label, text = src
    meta = scenario.scenario
    return observations.parse(label, text, series_names(scenario), meta.start, meta.end,
                              drop_outside)


READ_REPLICATIONS = 256
"""Replications read at a time when scoring a run's history (memory: these x days)."""


def simulated_values(store: RunStore, obs: list[Observation]) -> dict[str, np.ndarray]:
    """Per observation, the simulated value of each replication of a run directory.

    The needed series are read a block of replications at a time (row groups of the
    others are skipped), so memory does not grow with the number of replications.
    """
    import pyarrow.parquet as pq

    cols = history.needed_series(obs)
    path = store.path / "timeseries.parquet"
    reps = sorted(int(r) for r in store.read_kpis()["replication"].unique())
    f = pq.ParquetFile(path)
    spans = _replication_spans(f)
    got: dict[str, list[np.ndarray]] = {o.name: [] for o in obs}
    dates: np.ndarray | None = None
    for lo in range(0, len(reps), READ_REPLICATIONS):
        keep = reps[lo:lo + READ_REPLICATIONS]
        groups = [i for i, (a, b) in enumerate(spans) if b >= keep[0] and a <= keep[-1]]
        t = f.read_row_groups(groups, columns=["replication", "date", *cols])
        rep = t["replication"].to_numpy()
        rows = np.flatnonzero(np.isin(rep, keep))
        rep, day = rep[rows], t["date"].to_numpy()[rows]
        days = rep.size // len(keep)
        if np.unique(rep).size != len(keep) or days * len(keep) != rep.size:
            raise ValueError(f"{path}: replications {keep[0]}..{keep[-1]} do not each have "
                             f"the same days as the KPI table says")
        order = rows[np.lexsort((day, rep))]
        if dates is None:
            dates = t["date"].to_numpy()[order][:days].astype("datetime64[D]")
        block = {c: t[c].to_numpy().astype(float)[order].reshape(len(keep), days)
                 for c in cols}
        for o in obs:
            # A copy: the value is a column of the block's arrays, which would stay alive.
            got[o.name].append(np.array(history.simulate(o, block.__getitem__, dates)))
    return {name: np.concatenate(v) if v else np.zeros(0) for name, v in got.items()}


def _replication_spans(f) -> list[tuple[float, float]]:
    """(lowest, highest) replication of each row group (unbounded where not recorded)."""
    col = f.schema_arrow.get_field_index("replication")
    out = []
    for i in range(f.metadata.num_row_groups):
        st = f.metadata.row_group(i).column(col).statistics
        has = st is not None and st.has_min_max
        out.append((st.min, st.max) if has else (-np.inf, np.inf))
    return out


def fitted_names(scenario: Scenario) -> set[str] | None:
    """The observations the scenario's posterior was fitted to, where its calibration says.

    A calibration directory's summary.json lists them ("fitted"); None when the scenario
    runs its priors or the list cannot be read.
    """
    post = scenario.scenario.posterior
    if not post:
        return None
    try:
        data = json.loads((posterior_path(post).parent / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    names = data.get("fitted") if isinstance(data, dict) else None
    return {str(n) for n in names} if isinstance(names, list) else None


def predictive(scenario: Scenario) -> str:
    """What the run's replications are a forecast from: the posterior or the priors."""
    if scenario.scenario.posterior:
        return "posterior predictive: inputs drawn from the calibration's retained draws"
    return "prior predictive: inputs drawn from the scenario's distributions"


def score_run(store: RunStore, scenario: Scenario, fitted: set[str] | None = None
              ) -> dict | None:
    """The run's history section, or None when no observation falls inside the run.

    `fitted` (default: what the scenario's posterior was fitted to, when known) marks the
    observations in-sample; the others are held out.
    """
    obs = load_observations(scenario, drop_outside=True)
    if not obs:
        return None
    if fitted is None:
        fitted = fitted_names(scenario)
    out = history.score(obs, simulated_values(store, obs), fitted)
    out["predictive"] = predictive(scenario)
    return out
