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

With ``--replica DIR`` it checks instead the serving model's replica with continuous
batching (`simcore.batching`, as the default scenario's Trainium2 replica at its medians)
against the request-level simulation `simcore.batchsim` at several loads, and writes the
table (load, model and simulated p99 TTFT and end-to-end latency, share turned away) as
DIR/latency_crosscheck.csv and .md, with a digest of the model's source. With
``--splitwise CSV`` (the SplitwiseSim performance model, data/perf_model.csv of
github.com/Mutinifni/splitwise-sim) it also writes DIR/latency_curve.md: the measured time
per output token against batch size beside the model's curve shape fitted to it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from capsim.experiments.pipelines.checks import int_at_least
from capsim.simcore import batching, stats
from capsim.simcore.batchsim import simulate
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


REPLICA_LOADS = (0.3, 0.5, 0.7, 0.85, 0.95)
MODEL_SOURCES = ("simcore/batching.py", "models/serving.py")


def default_replica() -> batching.Replica:
    """The default scenario's Trainium2 replica, every uncertain input at its median."""
    from capsim.models import serving
    from capsim.models.scenario import load

    sc = load()[0]
    b = sc.supply.generations["trainium2"].batching
    svc = sc.service
    assert b is not None
    curve = serving.BatchCurve(b.batch.base, b.rated_batch.base, b.stream_tokens_per_s.base,
                               b.batch_half.base, b.prefill_tokens_per_s.base)
    spec = serving.ReplicaSpec((curve,), svc.tokens_per_request.base, svc.output_share.base,
                               svc.service_scv.base, svc.queue_limit_s.base,
                               svc.slo_ttft_s.base, svc.slo_tpot_s.base)
    return spec.replicas()[0]


def crosscheck(replica: batching.Replica, loads=REPLICA_LOADS, requests: int = 200_000,
               seed: int = 7) -> list[dict]:
    """Closed form against the request-level simulation at each load (one row each)."""
    table = replica.table(1.0, 1.0, np.asarray(loads, float))
    rows = []
    for k, rho in enumerate(loads):
        sim = simulate(replica, rho * replica.full_rate, requests, seed + k)
        rows.append({
            "load": rho,
            "model_ttft_p99_s": float(batching.quantile(table.ttft_cdf[k], 0.99)[0]),
            "sim_ttft_p99_s": float(np.quantile(sim.ttft, 0.99)),
            "model_e2e_p99_s": float(batching.quantile(table.e2e_cdf[k], 0.99)[0]),
            "sim_e2e_p99_s": float(np.quantile(sim.e2e, 0.99)),
            "model_tpot_ms": float(table.tpot_mean[k] * 1e3),
            "sim_tpot_ms": float(np.mean(sim.tpot) * 1e3),
            "model_rejected": float(table.rejected[k]), "sim_rejected": sim.rejected})
    return rows


def model_digest() -> str:
    """SHA-256 (first 16 hex digits) of the model's source files."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for name in MODEL_SOURCES:
        h.update((root / name).read_bytes())
    return h.hexdigest()[:16]


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def write_crosscheck(out: Path, rows: list[dict], replica: batching.Replica,
                     requests: int) -> None:
    """The cross-check table as CSV and Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "latency_crosscheck.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    body = [[f"{r['load']:.2f}", f"{r['model_ttft_p99_s']:.2f}", f"{r['sim_ttft_p99_s']:.2f}",
             f"{r['model_ttft_p99_s'] / r['sim_ttft_p99_s'] - 1:+.1%}",
             f"{r['model_e2e_p99_s']:.1f}", f"{r['sim_e2e_p99_s']:.1f}",
             f"{r['model_tpot_ms']:.1f}", f"{r['sim_tpot_ms']:.1f}",
             f"{r['model_rejected']:.4f}", f"{r['sim_rejected']:.4f}"] for r in rows]
    text = (f"Replica: batch {replica.max_batch}, {replica.tpot1_s * 1e3:.0f} ms per token "
            f"alone, batch_half {replica.batch_half:g}, prefill {replica.prefill_s:.2f} s, "
            f"{replica.out_tokens:g} output tokens, scv {replica.scv:g}, waiting room "
            f"{replica.waiting_room} requests; {requests} simulated requests per load. "
            f"Model digest {model_digest()}.\n\n")
    text += _markdown(["load", "model p99 TTFT (s)", "simulated p99 TTFT (s)", "difference",
                       "model p99 e2e (s)", "simulated p99 e2e (s)", "model TPOT (ms)",
                       "simulated TPOT (ms)", "model turned away", "simulated turned away"],
                      body)
    (out / "latency_crosscheck.md").write_text(text)


def write_curve(out: Path, splitwise_csv: Path) -> None:
    """Measured time per output token by batch (SplitwiseSim) beside the fitted line."""
    import pandas as pd

    d = pd.read_csv(splitwise_csv)
    d = d[(d.prompt_size == 512) & (d.token_size == 128)]
    med = d.groupby(["model", "hardware", "tensor_parallel", "batch_size"])["token_time"] \
        .median().reset_index()
    rows = []
    for (model, hw, tp), g in med.groupby(["model", "hardware", "tensor_parallel"]):
        if hw.endswith("pcap") or tp < 4:  # TP 2 rows at batch 64 are not a decode step
            continue
        g = g[g.batch_size <= 64].sort_values("batch_size")
        h = batching.fit_batch_half(g.batch_size.to_numpy(), g.token_time.to_numpy())
        t1 = float(g.token_time.iloc[0])
        line = batching.tpot_of_batch(1.0, h, g.batch_size.to_numpy())
        fit = line * np.mean(g.token_time.to_numpy() / line)
        for b, t, m in zip(g.batch_size, g.token_time, fit, strict=True):
            rows.append([model, hw, str(tp), str(b), f"{t:.1f}", f"{t / t1:.2f}",
                         f"{m:.1f}", f"{h:.0f}"])
    text = ("SplitwiseSim performance model (github.com/Mutinifni/splitwise-sim, "
            "data/perf_model.csv; prompt 512 tokens, 128 output tokens, median of repeats): "
            "measured ms per output token by batch size, and the model's line "
            "tpot(1) (h + b) / (h + 1) fitted to it (h by least squares).\n\n")
    text += _markdown(["model", "hardware", "TP", "batch", "measured ms/token",
                       "vs batch 1", "fitted ms/token", "fitted h"], rows)
    (out / "latency_curve.md").write_text(text)


def replica_main(out: Path, requests: int, splitwise: Path | None) -> int:
    """Write the replica cross-check (and the curve-shape table) to `out`."""
    replica = default_replica()
    rows = crosscheck(replica, requests=requests)
    write_crosscheck(out, rows, replica, requests)
    if splitwise is not None:
        write_curve(out, splitwise)
    print((out / "latency_crosscheck.md").read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table (Markdown)."""
    p = argparse.ArgumentParser(prog="python -m capsim.experiments.validate_latency",
                                description=DESCRIPTION)
    p.add_argument("--customers", type=int_at_least(1000, "--customers"), default=40000,
                   help="customers per Ciw simulation (default 40000)")
    p.add_argument("--seeds", type=int_at_least(2, "--seeds"), default=5,
                   help="independent Ciw simulations per case (default 5)")
    p.add_argument("--workers", "-w", type=int_at_least(1, "--workers"), default=1)
    p.add_argument("--replica", type=Path, default=None, metavar="DIR",
                   help="check the batching replica against a request-level simulation "
                   "and write the tables to DIR")
    p.add_argument("--requests", type=int_at_least(10000, "--requests"), default=200000,
                   help="simulated requests per load with --replica (default 200000)")
    p.add_argument("--splitwise", type=Path, default=None, metavar="CSV",
                   help="with --replica: SplitwiseSim's perf_model.csv for the curve table")
    a = p.parse_args(argv)
    if a.replica is not None:
        return replica_main(a.replica, a.requests, a.splitwise)
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
