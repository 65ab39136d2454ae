"""Score a run directory's history against the public record (summary.json "history").

The observation file is the scenario's `observations` key (a path, or the name of a file
shipped in capsim.models.observations), else the file shipped under the scenario's name;
a scenario with neither has no history section.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from capsim.models import history, observations
from capsim.models.capacity import series_names
from capsim.models.observations import Observation
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


def simulated_values(store: RunStore, obs: list[Observation]) -> dict[str, np.ndarray]:
    """Per observation, the simulated value of each replication of a run directory."""
    cols = history.needed_series(obs)
    ts = store.read_timeseries(["replication", "date", *cols])
    ts = ts.sort_values(["replication", "date"])
    reps = ts["replication"].nunique()
    dates = np.asarray(ts["date"].iloc[: len(ts) // reps]).astype("datetime64[D]")

    def series(name: str) -> np.ndarray:
        return ts[name].to_numpy(float).reshape(reps, -1)

    return {o.name: history.simulate(o, series, dates) for o in obs}


def score_run(store: RunStore, scenario: Scenario, fitted: set[str] | None = None
              ) -> dict | None:
    """The run's history section, or None when no observation falls inside the run."""
    obs = load_observations(scenario, drop_outside=True)
    if not obs:
        return None
    return history.score(obs, simulated_values(store, obs), fitted)
