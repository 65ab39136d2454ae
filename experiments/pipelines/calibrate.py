"""`capsim calibrate`: the scenario's uncertain inputs conditioned on the public record.

Method: history matching on a Latin-hypercube design over every uncertain input of the
scenario (its distributions are the priors), see `capsim.simcore.inference`. Only the
history window is simulated (the run ends the day after the last observation), one
replication per design point with its own seed. With `holdout_after`, observations after
that date are not used to fit; they are reported as out-of-sample checks.

The directory written:
- posterior.parquet: the retained input values (one column per input) and `weight`;
- fit.csv: per observation, observed value and range, simulated p05/p50/p95 under the
  prior (all design points) and the posterior (retained points), score, inside, fitted;
- design.parquet: every design point's simulated outputs, largest implausibility, retained;
- summary.json: method, design size, acceptance, effective sample size, cut-off, each
  input's prior and posterior 90% interval, holdout coverage, wall time;
- plots/observations.png, plots/parameters.png.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from capsim.experiments.pipelines.checks import DEFAULT_SEED
from capsim.experiments.pipelines.history import load_observations
from capsim.models import history
from capsim.models.capacity import CapacityModel
from capsim.models.inputs import Builder, Dated, at_vintage, uncertain_inputs
from capsim.models.observations import Observation
from capsim.models.posterior import WEIGHT, input_priors
from capsim.models.scenario import (
    Scenario,
    ScenarioError,
    load,
    sha256,
    to_toml,
    validate_dict,
)
from capsim.simcore import inference
from capsim.simcore.executors import make_executor
from capsim.simcore.simulation import run_replication
from capsim.simcore.store import atomic_write_bytes, dumps
from scipy.stats import ks_2samp

DEFAULT_POINTS = 1000
"""Design points of `capsim calibrate`."""
RETENTION = ("a design point (prior draw, one replication) is retained when every fitted "
             "observation lies within {cutoff:g} sd of its simulated value on the log scale "
             "(sd: the observation's 90% range / 3.29 and a model discrepancy of "
             "{discrepancy:g}, combined in quadrature); at least 20 points are kept (the "
             "cut-off is raised if fewer pass, see cutoff_used)")


@functools.lru_cache(maxsize=2)
def _context(text: str) -> tuple[Scenario, Builder, list]:
    sc = validate_dict("calibration scenario", tomllib.loads(text))
    b = Builder(sc)
    return sc, b, list(b.inputs.values())


def simulate_point(u: np.ndarray, index: int, text: str, obs: tuple[Observation, ...],
                   seed: int) -> tuple[np.ndarray, None]:
    """One design point: inputs at their prior quantiles u, one replication, the outputs."""
    sc, builder, inputs = _context(text)
    values = {i.name: float(i.prior.ppf(float(x))) for i, x in zip(inputs, u, strict=True)}
    res = run_replication(CapacityModel, builder.pin(values, "design point"), seed, index)
    dates = _dates(sc)
    out = np.array([history.simulate(o, lambda s: res.timeseries[s][None, :], dates)[0]
                    for o in obs])
    return out, None


@functools.lru_cache(maxsize=2)
def _dates_cached(start: dt.date, end: dt.date) -> np.ndarray:
    from capsim.simcore.clock import Clock

    return Clock.between(start, end).dates()


def _dates(sc: Scenario) -> np.ndarray:
    return _dates_cached(sc.scenario.start, sc.scenario.end)


def calibrate(scenario: str | Path | Scenario | None = None, *, out: Path,
              observations: str | Path | None = None, holdout_after: dt.date | None = None,
              points: int = DEFAULT_POINTS, seed: int = DEFAULT_SEED, workers: int = 1,
              cutoff: float = 3.0, overrides: tuple[str, ...] = (),
              progress: bool | None = None, reuse: Path | None = None,
              discrepancy: float = 0.1) -> dict:
    """Calibrate a scenario's uncertain inputs to its observations; write `out`; the summary.

    `reuse` names an earlier calibration directory of the same scenario, observations, seed
    and design size: its simulated design (design.parquet) is matched again instead of
    simulated (e.g. the same design with a holdout). `discrepancy` is the model-discrepancy
    sd on the log scale added to every observation's own.

    Raises:
        ScenarioError: a bad scenario or observation file, or nothing to fit.
    """
    t0 = time.time()
    if isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc = load(None if scenario is None else str(scenario), list(overrides))[0]
    obs, fitted = _observations(sc, observations, holdout_after)
    dated: dict[str, Dated] = {}
    if holdout_after is not None:  # an out-of-sample test: priors of that vintage only
        sc, dated = at_vintage(sc, holdout_after)
    hist, data = history_window(sc, max(o.date for o in obs))
    text = to_toml(hist)
    inputs = uncertain_inputs(hist)
    unit = inference.design(points, len(inputs), seed)
    targets = inference.Targets(
        observed=np.array([o.value for o in obs]), low=np.array([o.low for o in obs]),
        high=np.array([o.high for o in obs]),
        log=np.array([o.low > 0 for o in obs]),
        fitted=np.array([o in fitted for o in obs]), discrepancy=discrepancy)
    key = sha256(f"{text}\n{seed}\n{points}\n{[repr(o) for o in obs]}")
    if reuse is not None:
        outputs, done = _reused(Path(reuse), key, [o.name for o in obs], points)
        res = inference.match(unit, outputs, done, targets, cutoff=cutoff)
    else:
        executor = make_executor("processes" if workers > 1 else "serial", workers)
        try:
            res = inference.history_match(simulate_point, unit, targets, cutoff=cutoff,
                                          executor=executor, progress=progress,
                                          args=(text, tuple(obs), seed))
        finally:
            executor.close()
    out = Path(out)
    prior_x, fit, params, weights = _write_tables(out, res, obs, fitted, inputs, unit)
    summary = _summary(sc, res, fit, obs, fitted, params, weights, holdout_after,
                       points=points, seed=seed, cutoff=cutoff, discrepancy=discrepancy,
                       key=key, reuse=reuse, end=data["scenario"]["end"], workers=workers)
    summary["priors_as_of"] = holdout_after.isoformat() if holdout_after else None
    summary["vintages"] = {n: d.as_of.isoformat() for n, d in dated.items()}
    # The priors the posterior is drawn from, per input: a run that changes one of them
    # (an override) draws that input from its own prior, not from this posterior.
    summary["input_priors"] = input_priors(hist)
    summary["wall_seconds"] = round(time.time() - t0, 1)
    atomic_write_bytes(out / "summary.json", dumps(summary).encode())
    _plot_observations(out / "plots" / "observations.png", obs, res, fitted)
    _plot_parameters(out / "plots" / "parameters.png", inputs, prior_x[res.done],
                     prior_x[res.accepted], params)
    return summary


def history_window(sc: Scenario, last_observation: dt.date) -> tuple[Scenario, dict]:
    """The scenario run up to the day after the last observation, from its priors.

    A calibration starts from the priors: a posterior the scenario names is not used.
    Returns the scenario and its resolved data.
    """
    data = tomllib.loads(to_toml(sc))
    data["scenario"]["end"] = min(last_observation + dt.timedelta(days=1), sc.scenario.end)
    data["scenario"].pop("posterior", None)
    return validate_dict(f"{sc.name} (history window)", data), data


def _summary(sc: Scenario, res: inference.Result, fit: pd.DataFrame, obs: list[Observation],
             fitted: list[Observation], params: dict, weights: np.ndarray,
             holdout_after: dt.date | None, *, points: int, seed: int, cutoff: float,
             discrepancy: float, key: str, reuse: Path | None, end: dt.date,
             workers: int) -> dict:
    done, acc = res.done, res.accepted
    held = fit[~fit["fitted"]]
    return {
        "scenario": sc.name, "method": "history matching (implausibility cut-off) on a "
        "Latin-hypercube design of the priors, scipy.stats.qmc", "seed": seed,
        "status": "complete" if done.all() else "partial (interrupted)",
        "design_points": int(points), "simulated": int(done.sum()),
        "accepted": int(acc.sum()), "acceptance": res.acceptance,
        "ess": inference.effective_sample_size(weights),
        "cutoff": cutoff, "cutoff_used": res.cutoff_used, "discrepancy": discrepancy,
        "design_key": key, "reused_design": str(reuse) if reuse is not None else None,
        "retention": RETENTION.format(cutoff=cutoff, discrepancy=discrepancy),
        "history_end": end.isoformat(),
        "observations": [o.name for o in obs], "fitted": [o.name for o in fitted],
        "holdout_after": holdout_after.isoformat() if holdout_after else None,
        "holdout": {"inside": int(held["inside_posterior"].sum()), "total": int(len(held)),
                    "share_inside": float(held["inside_posterior"].mean()) if len(held) else None,
                    "observations": held[["name", "observed", "post_p05", "post_p50", "post_p95",
                                          "inside_posterior", "relative_error_median"]
                                         ].to_dict("records")},
        "fit": fit.to_dict("records"),
        "parameters": params,
        "workers": workers,
    }


def _observations(sc: Scenario, path: str | Path | None, holdout_after: dt.date | None
                  ) -> tuple[list[Observation], list[Observation]]:
    """The scenario's observations and those fitted (up to `holdout_after`), else an error."""
    obs = load_observations(sc, path)
    if not obs:
        raise ScenarioError(sc.name, ["no observations: give --observations FILE or set "
                                      "scenario.observations"])
    # Up to a holdout date: only what was public by then (published, not only dated).
    fitted = [o for o in obs if holdout_after is None or o.known_by(holdout_after)]
    if not fitted:
        raise ScenarioError(sc.name, [f"--holdout-after {holdout_after}: no observation is "
                                      "left to fit"])
    return obs, fitted


def _write_tables(out: Path, res: Any, obs: list[Observation], fitted: list[Observation],
                  inputs: list, unit: np.ndarray
                  ) -> tuple[np.ndarray, pd.DataFrame, dict, np.ndarray]:
    """Write design.parquet, posterior.parquet and fit.csv.

    Returns the design's input values, the fit table, each input's prior and posterior,
    and the posterior's weights.
    """
    design_df = pd.DataFrame(res.outputs, columns=[o.name for o in obs])
    design_df.insert(0, "simulated", res.done)
    design_df["max_implausibility"] = res.max_fitted
    design_df["retained"] = res.accepted
    (out).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "design.parquet", _parquet_bytes(design_df))
    (out / "plots").mkdir(parents=True, exist_ok=True)
    prior_x = np.column_stack([i.prior.ppf(unit[:, j]) for j, i in enumerate(inputs)])
    done, acc = res.done, res.accepted
    post = pd.DataFrame(prior_x[acc], columns=[i.name for i in inputs])
    post[WEIGHT] = 1.0
    atomic_write_bytes(out / "posterior.parquet", _parquet_bytes(post))
    fit = _fit_table(obs, fitted, res)
    atomic_write_bytes(out / "fit.csv", fit.to_csv(index=False).encode())
    return prior_x, fit, _parameters(inputs, prior_x[done], prior_x[acc]), post[WEIGHT].to_numpy()


def _reused(path: Path, key: str, names: list[str], points: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and done flags of an earlier calibration's design (same key), else an error."""
    import json

    try:
        earlier = json.loads((path / "summary.json").read_text())
        design_df = pd.read_parquet(path / "design.parquet")
    except (OSError, ValueError) as exc:
        raise ScenarioError(str(path), [f"--reuse: not a calibration directory ({exc})"]
                            ) from None
    if earlier.get("design_key") != key or len(design_df) != points:
        raise ScenarioError(str(path), ["--reuse: its design was made for another scenario, "
                                        "observation file, seed or number of points"])
    return design_df[names].to_numpy(float), design_df["simulated"].to_numpy(bool)


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    import io

    b = io.BytesIO()
    df.to_parquet(b, index=False)
    return b.getvalue()


def _fit_table(obs: list[Observation], fitted: list[Observation],
               res: inference.Result) -> pd.DataFrame:
    rows = []
    for k, o in enumerate(obs):
        pri = res.outputs[res.done, k]
        pos = res.outputs[res.accepted, k]
        q_pri = np.nanpercentile(pri, [5, 50, 95]) if np.isfinite(pri).any() else [np.nan] * 3
        q_pos = np.nanpercentile(pos, [5, 50, 95]) if np.isfinite(pos).any() else [np.nan] * 3
        rows.append({
            "name": o.name, "date": o.date.isoformat(), "unit": o.unit, "observed": o.value,
            "low": o.low, "high": o.high, "fitted": o in fitted,
            "prior_p05": q_pri[0], "prior_p50": q_pri[1], "prior_p95": q_pri[2],
            "post_p05": q_pos[0], "post_p50": q_pos[1], "post_p95": q_pos[2],
            "score": history.distance(o.value, o.low, o.high, pos),
            "inside_prior": bool(q_pri[0] <= o.value <= q_pri[2]),
            "inside_posterior": bool(q_pos[0] <= o.value <= q_pos[2]),
            "relative_error_median": float((q_pos[1] - o.value) / o.value) if o.value else None})
    return pd.DataFrame(rows)


def _parameters(inputs: list, prior: np.ndarray, post: np.ndarray) -> dict:
    out = {}
    for j, i in enumerate(inputs):
        a = np.percentile(prior[:, j], [5, 50, 95])
        b = np.percentile(post[:, j], [5, 50, 95]) if len(post) else [np.nan] * 3
        width = a[2] - a[0]
        ks = float(ks_2samp(prior[:, j], post[:, j]).statistic) if len(post) else float("nan")
        out[i.name] = {"unit": i.unit, "prior_p05": a[0], "prior_p50": a[1], "prior_p95": a[2],
                       "posterior_p05": b[0], "posterior_p50": b[1], "posterior_p95": b[2],
                       "shrinkage": float(1 - (b[2] - b[0]) / width) if width > 0 else 0.0,
                       "ks_distance": ks}
    return out


def _plot_observations(path: Path, obs: list[Observation], res: inference.Result,
                       fitted: list[Observation]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[int]] = {}
    for k, o in enumerate(obs):
        groups.setdefault(f"{'+'.join(_short(o.series))} ({o.aggregation})", []).append(k)
    n = len(groups)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.6 * n), squeeze=False)
    for ax, (title, ks) in zip(axes[:, 0], groups.items(), strict=True):
        off: Any
        if len(ks) > 1:
            dates = np.array([np.datetime64(obs[k].date, "D") for k in ks])
            off = np.timedelta64(6, "D")
        else:  # one point: a category, not a time axis
            dates, off = np.zeros(1), 0.08
            ax.set_xlim(-0.5, 0.5)
            ax.set_xticks([0], [obs[ks[0]].date.isoformat()])
        for sel, color, label, shift in ((res.done, "#bbbbbb", "prior 90%", -off),
                                         (res.accepted, "#1f77b4", "posterior 90%", off)):
            q = np.array([np.nanpercentile(res.outputs[sel, k], [5, 50, 95])
                          if np.isfinite(res.outputs[sel, k]).any() else [np.nan] * 3
                          for k in ks])
            ax.errorbar(dates + shift, q[:, 1], yerr=[q[:, 1] - q[:, 0], q[:, 2] - q[:, 1]],
                        fmt="s", ms=4, color=color, lw=2.5, capsize=0, label=label)
        val = np.array([obs[k].value for k in ks])
        lo = np.array([obs[k].low for k in ks])
        hi = np.array([obs[k].high for k in ks])
        fit = np.array([obs[k] in fitted for k in ks])
        for mask, face, label in ((fit, "black", "observed (fitted), 90% range"),
                                  (~fit, "white", "observed (held out), 90% range")):
            if mask.any():
                ax.errorbar(dates[mask], val[mask], yerr=[val[mask] - lo[mask],
                            hi[mask] - val[mask]], fmt="o", ms=6, color="black",
                            mfc=face, capsize=4, lw=1.2, label=label, zorder=5)
        if (lo > 0).all() and hi.max() / lo.min() > 20:
            ax.set_yscale("log")
        ax.set_title(f"{title}: {obs[ks[0]].unit}", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    seen: dict[str, Any] = {}
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    axes[0, 0].legend(list(seen.values()), list(seen), fontsize=8, loc="upper left")
    fig.suptitle("Observations against simulated 90% bands: prior (grey) and posterior (blue)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(series: tuple[str, ...]) -> list[str]:
    gens = {s.partition("__")[2] for s in series}
    if len(series) > 1 and len(gens) == 1 and all(s.startswith("chips_") for s in series):
        return [f"chips shipped {gens.pop()}"]
    return list(series)


def _plot_parameters(path: Path, inputs: list, prior: np.ndarray, post: np.ndarray,
                     params: dict, top: int = 12) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(range(len(inputs)),
                   key=lambda j: -np.nan_to_num(params[inputs[j].name]["ks_distance"]))[:top]
    cols = 3
    rows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.4 * rows), squeeze=False)
    for ax, j in zip(axes.flat, order, strict=False):
        bins = np.linspace(prior[:, j].min(), prior[:, j].max(), 21)
        ax.hist(prior[:, j], bins=bins, density=True, color="#bbbbbb", label="prior")
        ax.axvline(np.median(prior[:, j]), color="#777777", lw=1)
        if len(post):
            ax.hist(post[:, j], bins=bins, density=True, color="#1f77b4", alpha=0.7,
                    label="posterior")
            ax.axvline(np.median(post[:, j]), color="#1f77b4", lw=1.5)
        name = inputs[j].name
        ax.set_title(name if len(name) < 48 else "..." + name[-45:], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in axes.flat[len(order):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Prior (grey) and posterior (blue) of the {len(order)} inputs the record "
                 f"moves most (Kolmogorov-Smirnov distance; {len(inputs)} inputs in all)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
