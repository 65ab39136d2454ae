"""Grouped, converging global sensitivity. Domain-free.

Inputs are named coordinates of [0, 1]^d, each in one named group (SALib's `groups`):
an index then belongs to a group of inputs, not to one input.

- `morris_groups`: Morris screening of the groups (mu*, normalised by the largest).
- `converge_sobol`: Sobol' first and total order indices of the groups from Saltelli's
  scheme, at N, 2N, 4N, ... base samples until the 95% interval half-width of every total
  order index is at most `target` or the next step would pass the budget. The scrambled
  Sobol' sequence of 2N points starts with the N points of the smaller design (same
  seed), so each step runs only the new points.
- `delta_indices`: Borgonovo's moment-independent delta of each input (SALib), a cross
  check that does not rest on variance (and holds for dependent inputs).
- `grouped_test_function` and its exact indices, to check the machinery.

`evaluate(x)` maps an (n x d) array of points to {output name: n values}; each output
gets its own indices.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Evaluate = Callable[[np.ndarray], dict[str, np.ndarray]]


def problem(names: list[str], groups: list[str] | None = None) -> dict:
    """SALib's problem on [0, 1]^d, with groups when given (one group name per input)."""
    p: dict = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    if groups is not None:
        if len(groups) != len(names):
            raise ValueError("problem: one group per input")
        p["groups"] = list(groups)
    return p


def group_names(groups: list[str]) -> list[str]:
    """The distinct groups in first-seen order (the order of SALib's grouped results)."""
    return list(dict.fromkeys(groups))


def saltelli_points(names: list[str], groups: list[str], n: int, seed: int) -> np.ndarray:
    """Saltelli's design for grouped first and total order indices: n x (g + 2) points."""
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(problem(names, groups), n, calc_second_order=False,
                               scramble=True, seed=seed)


def sobol_groups(names: list[str], groups: list[str], y: np.ndarray, seed: int,
                 resamples: int = 300) -> dict[str, np.ndarray]:
    """Grouped S1, ST with 95% bootstrap half-widths (S1_conf, ST_conf), groups first-seen."""
    from SALib.analyze import sobol as sobol_analyze

    y = np.asarray(y, float)
    k = len(group_names(groups))
    if not np.isfinite(y).all():
        raise ValueError("sobol_groups: every output must be finite")
    if np.ptp(y) == 0:
        z = np.zeros(k)
        return {"S1": z, "S1_conf": z, "ST": z, "ST_conf": z}
    r = sobol_analyze.analyze(problem(names, groups), y, calc_second_order=False,
                              num_resamples=resamples, conf_level=0.95, seed=seed)
    return {key: np.asarray(r[key], float) for key in ("S1", "S1_conf", "ST", "ST_conf")}


@dataclass
class Step:
    """The indices at one base sample size N."""

    n: int
    points: int
    indices: dict[str, dict[str, np.ndarray]]   # output -> S1, S1_conf, ST, ST_conf

    def widest(self, outputs: list[str]) -> float:
        """The largest total order half-width among `outputs`."""
        return max(float(np.max(self.indices[o]["ST_conf"], initial=0.0)) for o in outputs)


@dataclass
class Convergence:
    """Every step of `converge_sobol`, and whether the target was reached."""

    groups: list[str]
    target: float
    converged: bool
    stop_reason: str
    steps: list[Step] = field(default_factory=list)
    x: np.ndarray | None = None
    y: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def final(self) -> Step:
        """The last (largest) step."""
        return self.steps[-1]


def converge_sobol(names: list[str], groups: list[str], evaluate: Evaluate, outputs: list[str],
                   seed: int, n0: int = 32, max_points: int = 20000, target: float = 0.05,
                   resamples: int = 300) -> Convergence:
    """Double N from `n0` until every `outputs` ST half-width <= target, within `max_points`.

    Every output `evaluate` returns is analysed at each step (e.g. per-year series); only
    `outputs` decide convergence. `n0` is rounded up to a power of two.
    """
    n = 1 << max(1, int(np.ceil(np.log2(max(2, n0)))))
    k = len(group_names(groups))
    per_base = k + 2
    conv = Convergence(group_names(groups), target, False, "")
    x_all = np.zeros((0, len(names)))
    y_all: dict[str, np.ndarray] = {}
    while True:
        if n * per_base > max_points:
            conv.stop_reason = (f"budget: the next step needs {n * per_base} points, more "
                                f"than the {max_points} allowed")
            if not conv.steps:
                raise ValueError(f"converge_sobol: max_points (={max_points}) is below the "
                                 f"first step's {n * per_base} points")
            break
        x = saltelli_points(names, groups, n, seed)
        new = x[len(x_all):]
        if len(x_all):
            assert np.allclose(x[:len(x_all)], x_all), "Sobol' prefix changed"
        got = evaluate(new)
        y_all = {o: np.concatenate([y_all.get(o, np.zeros(0)), np.asarray(v, float)])
                 for o, v in got.items()}
        x_all = x
        step = Step(n, len(x), {o: sobol_groups(names, groups, v, seed, resamples)
                                for o, v in y_all.items()})
        conv.steps.append(step)
        if step.widest(outputs) <= target:
            conv.converged = True
            conv.stop_reason = (f"converged: every total order half-width <= {target:g} "
                                f"at N = {n}")
            break
        n *= 2
    conv.x, conv.y = x_all, y_all
    return conv


def morris_groups(names: list[str], groups: list[str], evaluate: Evaluate, trajectories: int,
                  seed: int, levels: int = 4) -> dict[str, dict[str, np.ndarray]]:
    """Per output: mu_star, mu_star_conf and mu_star_rel (mu* / largest mu*) of each group."""
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    p = problem(names, groups)
    x = morris_sample.sample(p, trajectories, num_levels=levels, seed=seed)
    out = {}
    for o, y in evaluate(x).items():
        y = np.asarray(y, float)
        if np.ptp(y) == 0:
            z = np.zeros(len(group_names(groups)))
            out[o] = {"mu_star": z, "mu_star_conf": z, "mu_star_rel": z}
            continue
        r = morris_analyze.analyze(p, x, y, num_levels=levels, seed=seed)
        mu = np.asarray(r["mu_star"], float)
        out[o] = {"mu_star": mu, "mu_star_conf": np.asarray(r["mu_star_conf"], float),
                  "mu_star_rel": mu / mu.max() if mu.max() > 0 else mu}
    return out


def screened(screen: dict[str, dict[str, np.ndarray]], groups: list[str],
             keep_share: float = 0.05) -> list[str]:
    """Groups whose mu* reaches `keep_share` of the largest for some output (order kept)."""
    names = group_names(groups)
    keep = np.zeros(len(names), bool)
    for r in screen.values():
        keep |= r["mu_star_rel"] >= keep_share
    return [g for g, k in zip(names, keep, strict=True) if k]


def delta_indices(names: list[str], x: np.ndarray, y: np.ndarray, seed: int,
                  resamples: int = 50) -> dict[str, np.ndarray]:
    """Borgonovo's delta per input with its 95% half-width (SALib), from any sample."""
    from SALib.analyze import delta

    y = np.asarray(y, float)
    if np.ptp(y) == 0:
        z = np.zeros(len(names))
        return {"delta": z, "delta_conf": z}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        r = delta.analyze(problem(names), np.asarray(x, float), y, num_resamples=resamples,
                          seed=seed, print_to_console=False)
    return {"delta": np.asarray(r["delta_raw"], float),
            "delta_conf": np.asarray(r["delta_raw_conf"], float)}


def grouped_test_function(x: np.ndarray) -> np.ndarray:
    """The sum 2 z1 + z2 + 3 z3 z4 + z5 with z = x - 1/2 on [0, 1]^5 (`grouped_test_indices`)."""
    z = np.asarray(x, float) - 0.5
    return 2 * z[:, 0] + z[:, 1] + 3 * z[:, 2] * z[:, 3] + z[:, 4]


GROUPED_TEST_GROUPS = ["A", "A", "B", "C", "C"]
"""The groups of `grouped_test_function`'s inputs."""


def grouped_test_indices() -> tuple[np.ndarray, np.ndarray]:
    """Exact grouped (first, total) indices of `grouped_test_function` for groups A, B, C.

    Var z = 1/12: V_A = (4 + 1)/12, the product's variance 9/144 is an interaction of B and
    C, V_z5 = 1/12; total 27/48.
    """
    v = 27 / 48
    first = np.array([20 / 48, 0.0, 4 / 48]) / v
    total = np.array([20 / 48, 3 / 48, 7 / 48]) / v
    return first, total
