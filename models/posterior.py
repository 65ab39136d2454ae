"""Drawing a scenario's uncertain inputs from a calibration's posterior.

A `Posterior` is a table of input values and weights (a calibration's posterior.parquet),
one column per uncertain input named as `capsim.models.inputs` names them
(``demand.growth_start``, ``demand.growth_by_period[1].rate``,
``supply.generations.trainium2.quarterly_output[4]``). Each replication picks one row with
its own named stream ("posterior") and runs the scenario with those inputs pinned
(`capsim.models.inputs.Builder`), so common random numbers and worker independence hold.

A scenario's ``[scenario] posterior`` is a path (a calibration directory or its
posterior.parquet) or the name of a posterior shipped with capsim: NAME is the file
``NAME.posterior.parquet`` in `capsim.models.scenarios`, with a description of what it
was fitted to beside it (``NAME.posterior.json``, written by
``python -m capsim.experiments.tools.ship_posterior``). An empty value means the priors.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from capsim.models import validation
from capsim.models.inputs import Builder, uncertain_inputs
from capsim.models.scenario import Scenario, ScenarioError

WEIGHT = "weight"
"""The posterior table's weight column; every other column is an input."""


@dataclass
class Posterior:
    """Weighted draws of a scenario's inputs (rows), from a calibration."""

    names: list[str]
    values: np.ndarray   # (draws x inputs)
    weights: np.ndarray  # (draws,), sum 1

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One row, chosen with probability proportional to its weight (one uniform)."""
        cum = np.cumsum(self.weights)
        i = int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"),
                    len(cum) - 1))
        return dict(zip(self.names, self.values[i].tolist(), strict=True))


SHIPPED_PACKAGE = "capsim.models.scenarios"
SHIPPED_SUFFIX = ".posterior.parquet"
SHIPPED_INFO_SUFFIX = ".posterior.json"


def shipped_dir() -> Path:
    """The folder of the shipped posteriors (beside the embedded scenarios)."""
    return Path(str(resources.files(SHIPPED_PACKAGE)))


def is_shipped_name(where: str | Path) -> bool:
    """True for a bare name (no folder, no suffix): a posterior shipped with capsim."""
    text = str(where)
    return bool(text) and os.sep not in text and "/" not in text and "." not in text


def posterior_path(where: str | Path) -> Path:
    """posterior.parquet itself, inside a calibration directory, or shipped under a name."""
    if is_shipped_name(where) and not Path(where).exists():
        return shipped_dir() / f"{where}{SHIPPED_SUFFIX}"
    p = Path(where)
    return p / "posterior.parquet" if p.is_dir() else p


def names_a_value(data: dict, name: str) -> bool:
    """True when an input name (``a.b[2].c``, ``a.b[4]``) leads to a value of `data`.

    A part switched off on the way (None, e.g. no market) counts: its inputs are fixed.
    """
    node: Any = data
    for part in name.replace("]", "").split("."):
        key, *index = part.split("[")
        if node is None:
            return True
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        for i in index:
            if isinstance(node, dict):  # an uncertain list ({values, low, high} or a value)
                return True
            if not isinstance(node, list) or int(i) >= len(node):
                return False
            node = node[int(i)]
    return True


def _prior_json(i: Any) -> str:
    dump = i.prior.model_dump(mode="json") if hasattr(i.prior, "model_dump") else repr(i.prior)
    return json.dumps([i.name, dump, i.unit], sort_keys=True)


def input_priors(scenario: Scenario) -> dict[str, str]:
    """Per uncertain input, a digest of its prior (distribution and unit)."""
    return {i.name: hashlib.sha256(_prior_json(i).encode()).hexdigest()[:16]
            for i in uncertain_inputs(scenario)}


def drawn_from(path: Path) -> dict[str, str]:
    """The per-input prior digests a posterior was drawn from, where its files record them.

    A shipped posterior's .posterior.json and a calibration's summary.json do; {} else.
    """
    for info in (path.with_name(path.name.removesuffix(SHIPPED_SUFFIX) + SHIPPED_INFO_SUFFIX),
                 path.with_name("summary.json")):
        if info != path and info.is_file() and info.stat().st_size < (8 << 20):
            try:
                got = json.loads(info.read_text()).get("input_priors")
            except (ValueError, OSError, AttributeError):
                continue
            if isinstance(got, dict):
                return {str(k): str(v) for k, v in got.items()}
    return {}


def priors_digest(scenario: Scenario) -> str:
    """SHA-256 of the scenario's uncertain inputs: names, distributions and units.

    A posterior was drawn from these priors; when they change it no longer applies.
    """
    rows = [_prior_json(i) for i in uncertain_inputs(scenario)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def describe(scenario: Scenario) -> dict[str, Any]:
    """What a run's uncertain inputs are drawn from, for its manifest.

    ``{"draws": "priors"}`` without a posterior; else the posterior's path, the SHA-256 of
    its file and, for a shipped posterior, what it was fitted to (its .posterior.json).
    """
    where = scenario.scenario.posterior
    if not where:
        return {"draws": "priors"}
    path = posterior_path(where)
    out: dict[str, Any] = {"draws": "joint posterior", "posterior": str(where),
                           "path": str(path),
                           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    info = path.with_name(path.name.removesuffix(SHIPPED_SUFFIX) + SHIPPED_INFO_SUFFIX)
    if path.name.endswith(SHIPPED_SUFFIX) and info.is_file():
        meta = json.loads(info.read_text())
        out["fitted"] = {k: meta.get(k) for k in ("made", "data_as_of", "observations_fitted",
                                                    "design_points", "accepted", "ess")}
    return out


def read_posterior(where: str | Path, scenario: Scenario) -> Posterior:
    """Read a posterior table and check it against the scenario's uncertain inputs.

    Raises:
        ScenarioError: a missing or unreadable file, no weight column, unknown inputs, or
            values outside an input's prior support.
    """
    import pandas as pd

    path = posterior_path(where)
    label = f"scenario.posterior {path}"
    try:
        # A regular file of bounded size, looked at before pandas reads it (a FIFO or a
        # device would block or never end).
        with validation.open_regular(path, "a posterior is a calibration's Parquet table") as fh:
            size = os.fstat(fh.fileno()).st_size
        if size > validation.MAX_POSTERIOR_BYTES:
            raise ScenarioError(label, [f"larger than {validation.MAX_POSTERIOR_BYTES >> 20} MiB; "
                                        "a posterior is a calibration's table of draws"])
        df = pd.read_parquet(path)
    except ScenarioError:
        raise
    except ValueError as exc:  # not a regular file
        raise ScenarioError(label, [str(exc)]) from None
    except FileNotFoundError:
        raise ScenarioError(label, ["file not found (give a calibration directory or its "
                                    "posterior.parquet)"]) from None
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise ScenarioError(label, [f"cannot read as Parquet: {exc}"]) from None
    problems = []
    if WEIGHT not in df.columns:
        problems.append(f"no {WEIGHT!r} column")
    inputs = {i.name: i for i in uncertain_inputs(scenario)}
    data = scenario.model_dump(by_alias=True)
    # An input whose prior the scenario changed (an override) is not drawn from the
    # posterior: the scenario's own distribution wins.
    was, now = drawn_from(path), input_priors(scenario)
    names = []
    for n in (c for c in df.columns if c != WEIGHT):
        if n in inputs and n in was and was[n] != now[n]:
            continue
        if n not in inputs:
            # An input the scenario now fixes (an override, a switched-off part): the
            # scenario's value wins. A column naming nothing in it is a foreign table.
            if not names_a_value(data, n):
                problems.append(f"column {n!r} is not an uncertain input of scenario "
                                f"{scenario.name!r} (nor a value it fixes)")
            continue
        names.append(n)
        lo, hi = inputs[n].bounds
        x = df[n].to_numpy(float)
        if not np.all(np.isfinite(x)) or x.min() < lo - 1e-9 * abs(lo) or \
                x.max() > hi + 1e-9 * abs(hi):
            problems.append(f"column {n!r}: values outside its prior's support [{lo:g}, {hi:g}]")
    if not len(df):
        problems.append("no rows")
    if problems:
        raise ScenarioError(label, problems)
    w = df[WEIGHT].to_numpy(float)
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ScenarioError(label, [f"{WEIGHT!r}: weights must be >= 0 with a positive sum"])
    return Posterior(names, df[names].to_numpy(float), w / w.sum())


class PosteriorDraws:
    """Per replication, the scenario with its inputs drawn from a posterior."""

    def __init__(self, scenario: Scenario, posterior: Posterior) -> None:
        self.posterior = posterior
        self._builder = Builder(scenario)

    def scenario(self, rng: np.random.Generator) -> Scenario:
        """The scenario with one posterior row's inputs (chosen with `rng`)."""
        return self._builder.pin(self.posterior.draw(rng), "posterior draw")


def posterior_draws(scenario: Scenario) -> PosteriorDraws | None:
    """Draws from the scenario's `posterior` (None when it names none)."""
    where = scenario.scenario.posterior
    if not where:
        return None
    return PosteriorDraws(scenario, read_posterior(where, scenario))
