"""Value of information by preposterior analysis, from draws of the states. Domain-free.

`loss` is an (S x A) array: the loss of each of A actions in each of S equally likely
states (draws from a prior or a posterior, the same draws for every action: common random
numbers). Deciding now takes the action with the smallest mean loss. With perfect
information the best action of each state is taken (`evpi`). With an observation whose
simulated value in each state is `signal` (noise included), the states are grouped by the
signal's value (`preposterior`: groups of about equal size, in order of the signal), the
action is re-chosen within each group, and the expected value of sample information is
the mean loss now minus the mean loss of the group-wise choices.

Grouping estimates E[loss | signal] by the group's mean: few states per group make the
choice fit the draws' noise (an upward bias), many states per group blur the signal (a
downward bias); the default, about sqrt(S) groups, balances the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st


def evpi(loss: np.ndarray) -> float:
    """Expected value of perfect information: min_a E[L] - E[min_a L]."""
    loss = np.asarray(loss, float)
    return float(loss.mean(axis=0).min() - loss.min(axis=1).mean())


@dataclass(frozen=True)
class Preposterior:
    """What an observation is worth, and what it would change."""

    evsi: float
    evsi_se: float            # standard error over states of the per-state gain
    action_now: int
    groups: int
    actions: np.ndarray       # the action chosen in each group, in the signal's order
    edges: np.ndarray         # the signal values that separate the groups
    switch_share: float       # share of states in groups whose action differs from now
    choice: np.ndarray        # per state, the action its group takes


def preposterior(loss: np.ndarray, signal: np.ndarray, groups: int | None = None
                 ) -> Preposterior:
    """EVSI of observing `signal` (one value per state) before choosing an action."""
    loss = np.asarray(loss, float)
    signal = np.asarray(signal, float)
    s = len(loss)
    if signal.shape != (s,) or s < 4:
        raise ValueError("preposterior: one signal value per state, at least 4 states")
    k = int(groups or max(2, round(np.sqrt(s))))
    k = min(k, s)
    order = np.argsort(signal, kind="stable")
    parts = np.array_split(order, k)
    now = int(np.argmin(loss.mean(axis=0)))
    chosen = np.empty(s, int)
    actions = np.empty(k, int)
    for g, idx in enumerate(parts):
        actions[g] = int(np.argmin(loss[idx].mean(axis=0)))
        chosen[idx] = actions[g]
    gain = loss[:, now] - loss[np.arange(s), chosen]
    edges = np.array([signal[p[-1]] for p in parts[:-1]])
    return Preposterior(float(gain.mean()), float(gain.std(ddof=1) / np.sqrt(s)), now, k,
                        actions, edges, float(np.mean(chosen != now)), chosen)


def noisy(values: np.ndarray, error_share: float, rng: np.random.Generator) -> np.ndarray:
    """Measured values: each value times (1 + error_share x a standard normal draw)."""
    v = np.asarray(values, float)
    return v * (1.0 + error_share * rng.standard_normal(v.shape))


# ------------------------------------------------------------------ a closed-form check
def _psi(u: float) -> float:
    """The unit normal loss integral: E[max(0, Z - u)] = phi(u) - u (1 - Phi(u))."""
    return float(st.norm.pdf(u) - u * st.norm.sf(u))


def linear_loss_values(mu: float, sigma: float, breakeven: float, slope: float,
                       noise_sd: float = 0.0) -> tuple[float, float]:
    """(EVPI, EVSI) of the two-action problem with a normal prior and linear loss.

    State theta ~ N(mu, sigma^2); action 0 loses nothing, action 1 loses
    slope x (breakeven - theta). An observation theta + N(0, noise_sd^2) moves the
    posterior mean with standard deviation sigma^2 / sqrt(sigma^2 + noise_sd^2); the value
    of information is slope x s x psi(|mu - breakeven| / s) with s that spread (s = sigma
    for perfect information). Raiffa and Schlaifer (1961), Applied Statistical Decision
    Theory, ch. 5.
    """
    s_pre = sigma**2 / np.sqrt(sigma**2 + noise_sd**2)
    d = abs(mu - breakeven)
    return (slope * sigma * _psi(d / sigma), slope * s_pre * _psi(d / s_pre))
