"""Response-time quantiles (wait + service) of `simcore.latency` against Ciw.

Ciw (https://ciw.readthedocs.io), a queueing simulation library that shares no code with
capsim, simulates FIFO M/M/c and M/G/c queues (deterministic and lognormal service, mean
1) at each utilization and server count of the grid; each case runs `--seeds`
independent simulations of `--customers` customers (the first tenth discarded as warm-up;
customers arriving in the last stretch are left out so that slow ones are not lost),
whose p50 and p99 response times give a mean and a 95% interval. The table prints
capsim's value, Ciw's, the relative error and whether capsim is within 10% of Ciw or
inside Ciw's interval.

Run: python -m capsim.experiments.validate_latency [--customers N] [--seeds K]
"""

from __future__ import annotations

import argparse
import math
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from capsim.experiments.pipelines.checks import int_at_least
from capsim.simcore import stats
from capsim.simcore.latency import Service, response_quantiles
from capsim.simcore.queueing import ServiceDistribution

DESCRIPTION = "response-time p50/p99 of the latency model vs Ciw simulations (M/M/c, M/G/c)"
KINDS: tuple[tuple[ServiceDistribution, float], ...] = (
    ("exponential", 1.0), ("deterministic", 0.0), ("lognormal", 3.0))
SERVERS = (1, 8, 64)
RHOS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
LEVELS = (0.5, 0.99)


def ciw_quantiles(kind: str, scv: float, servers: int, rho: float, customers: int,
                  seed: int) -> np.ndarray:
    """p50 and p99 of the response time in one Ciw simulation (mean service time 1)."""
    import ciw

    if kind == "exponential":
        service = ciw.dists.Exponential(1.0)
    elif kind == "deterministic":
        service = ciw.dists.Deterministic(1.0)
    else:
        s2 = math.log1p(scv)
        service = ciw.dists.Lognormal(-s2 / 2, math.sqrt(s2))
    lam = rho * servers
    net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(lam)],
                             service_distributions=[service], number_of_servers=[servers])
    # Ciw draws from Python's and NumPy's global generators; each simulation runs in its
    # own worker call and seeds them first, so the table does not depend on the order.
    ciw.seed(seed)
    sim = ciw.Simulation(net)
    end = customers / lam
    sim.simulate_until_max_time(end + 1000.0)
    recs = sim.get_all_records()
    arrival = np.array([r.arrival_date for r in recs])
    response = np.array([r.waiting_time + r.service_time for r in recs])
    keep = (arrival > 0.1 * end) & (arrival <= end)
    return np.quantile(response[keep], LEVELS)


def capsim_quantiles(kind: ServiceDistribution, scv: float, servers: int, rho: float
                     ) -> np.ndarray:
    """p50 and p99 of the response time from `simcore.latency` (exact M/G/1 at c = 1)."""
    return np.array([float(v[0]) for v in
                     response_quantiles(servers, rho, LEVELS, Service(kind, scv))])


def _case(args: tuple) -> tuple:
    kind, scv, c, rho, customers, seeds, seed = args
    runs = np.array([ciw_quantiles(kind, scv, c, rho, customers, seed + i) for i in range(seeds)])
    return kind, scv, c, rho, capsim_quantiles(kind, scv, c, rho), runs


def table(customers: int, seeds: int, workers: int, seed: int = 2026,
          rhos: tuple[float, ...] = RHOS, servers: tuple[int, ...] = SERVERS,
          kinds: tuple[tuple[ServiceDistribution, float], ...] = KINDS) -> list[dict]:
    """One row per (service, c, rho, level): capsim, Ciw mean and interval, relative error."""
    cases = [(k, scv, c, rho, customers, seeds, seed + 1000 * i)
             for i, (k, scv, c, rho) in enumerate(
                 (k, scv, c, rho) for k, scv in kinds for c in servers for rho in rhos)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_case, cases))
    else:
        results = [_case(a) for a in cases]
    return [row for res in results for row in _rows(res)]


def _rows(result: tuple) -> list[dict]:
    kind, scv, c, rho, ours, runs = result
    rows = []
    for j, level in enumerate(LEVELS):
        m, lo, hi = stats.mean_ci(runs[:, j])
        rows.append({"service": kind if kind != "lognormal" else f"lognormal scv {scv:g}",
                     "c": c, "rho": rho, "level": level, "capsim": float(ours[j]),
                     "ciw": m, "ciw_lo": lo, "ciw_hi": hi,
                     "rel_error": float(ours[j] / m - 1.0)})
    return rows


def _print(r: dict) -> bool:
    inside = r["ciw_lo"] <= r["capsim"] <= r["ciw_hi"]
    ok = abs(r["rel_error"]) <= 0.10 or inside
    print(f"| {r['service']} | {r['c']} | {r['rho']:.2f} | p{r['level'] * 100:.0f} | "
          f"{r['capsim']:.3f} | {r['ciw']:.3f} [{r['ciw_lo']:.3f}, {r['ciw_hi']:.3f}] | "
          f"{r['rel_error']:+.1%} | {'yes' if ok else 'NO'} |", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table (Markdown)."""
    p = argparse.ArgumentParser(prog="python -m capsim.experiments.validate_latency",
                                description=DESCRIPTION)
    p.add_argument("--customers", type=int_at_least(1000, "--customers"), default=40000,
                   help="customers per Ciw simulation (default 40000)")
    p.add_argument("--seeds", type=int_at_least(2, "--seeds"), default=5,
                   help="independent Ciw simulations per case (default 5)")
    p.add_argument("--workers", "-w", type=int_at_least(1, "--workers"), default=1)
    a = p.parse_args(argv)
    print("| service | c | rho | quantile | capsim | Ciw [95% CI] | rel. error | ok |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    # Cases print as they finish (in grid order), the small server counts first.
    cases = [(k, scv, c, rho, a.customers, a.seeds, 2026 + 1000 * i)
             for i, (c, k, scv, rho) in enumerate(
                 (c, k, scv, rho) for c in SERVERS for k, scv in KINDS for rho in RHOS)]
    n = bad = 0
    with ProcessPoolExecutor(a.workers) as pool:
        for res in pool.map(_case, cases):
            for r in _rows(res):
                n += 1
                bad += not _print(r)
    print(f"\n{n - bad} of {n} quantiles within 10% of Ciw or inside its 95% interval "
          f"({a.seeds} simulations of {a.customers} customers each).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
