"""Benchmark: the vectorized model against a naive one-process-per-customer reference.

Run from the repository root::

    python -m capsim.experiments.benchmark [--quick] [--replications N] [--workers W] [--json]
        [--baseline REV|none] [--rounds K] [--dask] [--dask-replications N]

It measures, for the default scenario:

1. Model timing. N replications (default 20; --quick: 4) on a local process pool of W
   workers (default 2) through `simcore.executors.make_executor("processes", W)`; the wall
   time covers only that loop, pool start-up included. Then a few replications (3; --quick:
   1) serially in this process give the seconds per replication on one core.
2. A naive reference (`tools.naive`): one SimPy process per enterprise customer, with the
   same demand rules as `models.demand` (the same population, tokens per unit of size,
   growth and weekday factors), each waking once a day and adding its demand to a shared
   per-day accumulator. It runs a shortened horizon (default 30 days; --quick: 5) and is
   extrapolated linearly to the full horizon. Its daily totals must equal the vectorized
   totals within 1e-6 relative, or the script exits 1.
3. Memory: peak RSS of each pool worker (measured inside the worker) and of this process.
4. speedup_vs_naive = naive extrapolated s/replication / model s/replication (one core).
5. Side by side with the code at git revision REV (default 55ac4af, the code before the
   speed work; ``none`` skips it): the revision's tree is extracted with ``git archive`` and
   each tree times N replications of its own default scenario on a fork pool of W workers
   in a child process of its own (``experiments/tools/_bench_child.py``), alternating, K rounds
   (default 3; --quick: 1). The ratio of replications per minute is the median of the
   rounds' ratios; each child also reports its workers' peak RSS.

The last line (without --json) is machine-readable::

    speedup_vs_naive=X replications_per_minute=Y peak_rss_mb=Z [speedup_vs_baseline=R]

6. With --dask: the same N replications (--dask-replications, default 40; --quick: 4) on a
   Dask LocalCluster of 1 and of 2 workers (each warmed up first), K rounds (as
   --rounds), the median of the rounds' ratios of wall times, and a check that the KPIs
   of every run are identical. The cluster costs about 0.15 s a batch whatever its size
   (scheduling, the scheduler and nannies sharing the 2 cores): with replications of
   0.15 s, 20 of them measure that as much as the scale-out.

Progress goes to stderr. Exit codes: 0 ok, 1 naive and vectorized totals disagree (or the
Dask runs differ), 2 bad arguments (including a revision git cannot find).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from capsim.experiments.pipelines.checks import DEFAULT_SEED, int_at_least
from capsim.experiments.tools.naive import RTOL, run_naive
from capsim.models import scenario as scenario_mod
from capsim.models.capacity import CapacityModel
from capsim.simcore.executors import make_executor
from capsim.simcore.simulation import run_replication


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def replication_with_rss(model_cls: type, scenario: Any, seed: int,
                         replication: int) -> tuple[int, dict[str, float], float, int]:
    """Run one replication; return (replication, KPIs, worker peak RSS in MB, worker pid).

    Top-level so that it pickles. Only the KPIs travel back, not the daily series, so the
    peak RSS is the worker's own and measured where the replication ran.
    """
    result = run_replication(model_cls, scenario, seed, replication)
    return result.replication, dict(result.kpis), _peak_rss_mb(), os.getpid()


# ---------------------------------------------------------------------------------------
# 1. the model
# ---------------------------------------------------------------------------------------

def time_pool(scenario: Any, seed: int, replications: int, workers: int) -> dict[str, Any]:
    """Wall time of `replications` replications on a pool of `workers` (start-up included)."""
    args = [(CapacityModel, scenario, seed, i) for i in range(replications)]
    ex = make_executor("processes", workers)
    rss_by_pid: dict[int, float] = {}
    done = 0
    try:
        t0 = time.perf_counter()
        for rep, _kpis, rss, pid in ex.imap_unordered(replication_with_rss, args):
            rss_by_pid[pid] = max(rss, rss_by_pid.get(pid, 0.0))
            done += 1
            _log(f"  pool: replication {rep} done ({done}/{replications})")
        wall = time.perf_counter() - t0
    finally:
        ex.close()
    return {
        "executor": ex.name,
        "wall_s": wall,
        "replications_per_minute": replications / (wall / 60.0),
        "worker_peak_rss_mb": sorted(rss_by_pid.values(), reverse=True),
    }


def time_serial(scenario: Any, seed: int, replications: int) -> dict[str, Any]:
    """Seconds per replication on one core, in this process, set up as a pool worker is."""
    from capsim.simcore import tuning

    tuning.become_worker()  # the benchmark owns its process: time it as capsim's workers run
    times = []
    for i in range(replications):
        t0 = time.perf_counter()
        run_replication(CapacityModel, scenario, seed, i)
        times.append(time.perf_counter() - t0)
        _log(f"  serial: replication {i} took {times[-1]:.3f} s")
    return {"s_per_rep": sum(times) / len(times), "times_s": times}


# ---------------------------------------------------------------------------------------
# 3. side by side with an earlier revision
# ---------------------------------------------------------------------------------------

DEFAULT_BASELINE = "55ac4af"
CHILD = Path(__file__).with_name("_bench_child.py")


class BaselineError(Exception):
    """The baseline revision cannot be extracted (no git, no checkout, unknown revision)."""


def extract_revision(rev: str, dest: Path) -> str:
    """Write the tree of git revision `rev` of this checkout into `dest`; returns its hash."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["git", "-C", str(here), *args], capture_output=True,
                                  timeout=120)
        except FileNotFoundError as e:
            raise BaselineError("git is not installed") from e

    top = git("rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise BaselineError(f"{here} is not in a git checkout (an installed capsim cannot "
                            "extract earlier code; run from a clone or use --baseline none)")
    full = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if full.returncode != 0:
        raise BaselineError(f"git does not know the revision {rev!r}")
    commit = full.stdout.decode().strip()
    # From the top of the checkout: below it, git archive would write that folder only.
    archive = subprocess.run(["git", "-C", top.stdout.decode().strip(), "archive",
                              "--format=tar", commit], capture_output=True, timeout=120)
    if archive.returncode != 0:
        raise BaselineError(f"git archive {rev} failed: {archive.stderr.decode().strip()}")
    import io
    import tarfile

    # Extraction filters came in Python 3.11.4 (Debian 12 ships 3.11.2); the archive is
    # this repository's own history either way.
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return commit


def _child(root: str, seed: int, replications: int, workers: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(CHILD), root, str(seed), str(replications),
                           str(workers)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child for {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def side_by_side(rev: str, seed: int, replications: int, workers: int,
                 rounds: int) -> dict[str, Any]:
    """This code and revision `rev`, each on its own default scenario, alternating."""
    with tempfile.TemporaryDirectory(prefix="capsim-baseline-") as tmp:
        commit = extract_revision(rev, Path(tmp))
        this, base, ratios = [], [], []
        for k in range(rounds):
            # Alternate which goes first, so that a drift in machine load hits both alike.
            order = [("this", "-"), ("base", tmp)] if k % 2 == 0 else [("base", tmp),
                                                                       ("this", "-")]
            got = {}
            for name, root in order:
                _log(f"  round {k + 1}/{rounds}: {'this code' if name == 'this' else rev} ...")
                got[name] = _child(root, seed, replications, workers)
            this.append(got["this"])
            base.append(got["base"])
            ratios.append(got["this"]["replications_per_minute"]
                          / got["base"]["replications_per_minute"])

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"replications_per_minute": [r["replications_per_minute"] for r in runs],
                "median_replications_per_minute": statistics.median(
                    r["replications_per_minute"] for r in runs),
                "horizon_days": runs[0]["horizon_days"],
                "max_worker_peak_rss_mb": max(max(r["worker_peak_rss_mb"]) for r in runs)}

    return {"revision": rev, "commit": commit, "rounds": rounds, "replications": replications,
            "workers": workers, "this": summary(this), "baseline": summary(base),
            "ratios": ratios, "speedup": statistics.median(ratios)}


# ---------------------------------------------------------------------------------------
# 4. scale-out on Dask
# ---------------------------------------------------------------------------------------

def dask_scaling(scenario: Any, seed: int, replications: int, rounds: int = 1
                 ) -> dict[str, Any]:
    """The same replications on a Dask LocalCluster of 1 and of 2 workers, `rounds` times.

    Each round starts a cluster of 1 worker, then one of 2, each warmed up with one
    replication per worker (not timed) and then timing `replications` replications; the
    ratio is the median of the rounds' (a noisy machine moves single timings by 10-20%).
    The KPIs of every run must be identical.
    """
    out: dict[str, Any] = {"replications": replications, "rounds": rounds}
    walls: dict[int, list[float]] = {1: [], 2: []}
    runs = []
    for k in range(rounds):
        for workers in (1, 2):
            ex = make_executor("dask", workers)
            try:
                warm = [(CapacityModel, scenario, seed, replications + i)
                        for i in range(workers)]
                list(ex.imap_unordered(replication_with_rss, warm))
                args = [(CapacityModel, scenario, seed, i) for i in range(replications)]
                t0 = time.perf_counter()
                got = {rep: kp for rep, kp, _rss, _pid in
                       ex.imap_unordered(replication_with_rss, args)}
                walls[workers].append(time.perf_counter() - t0)
            finally:
                ex.close()
            runs.append(got)
            _log(f"  dask round {k + 1}/{rounds}, {workers} worker(s): "
                 f"{walls[workers][-1]:.2f} s")
    first = runs[0]
    out["identical"] = all(
        run.keys() == first.keys()
        and all(run[r].keys() == first[r].keys()
                and all(np.array_equal(run[r][n], first[r][n], equal_nan=True)
                        for n in first[r]) for r in first)
        for run in runs[1:])
    out["ratios"] = [a / b for a, b in zip(walls[1], walls[2], strict=True)]
    out["wall_s_1"], out["wall_s_2"] = statistics.median(walls[1]), statistics.median(walls[2])
    out["speedup_2_vs_1"] = statistics.median(out["ratios"])
    return out


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (argparse exits 2 on bad input)."""
    p = argparse.ArgumentParser(
        prog="python -m capsim.experiments.benchmark",
        description="Time the capsim model against a naive one-process-per-customer reference.")
    p.add_argument("--quick", action="store_true",
                   help="small run: 4 pool replications, 1 serial, 5 naive days")
    p.add_argument("--replications", type=int_at_least(1, "--replications"), default=None,
                   help="replications on the pool (default 20; --quick: 4)")
    p.add_argument("--workers", type=int_at_least(1, "--workers"), default=2,
                   help="pool workers (default 2)")
    p.add_argument("--naive-days", type=int_at_least(1, "--naive-days"), default=None,
                   help="days the naive reference simulates (default 30; --quick: 5)")
    p.add_argument("--seed", type=int_at_least(0, "--seed"), default=DEFAULT_SEED,
                   help=f"root seed (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the report")
    p.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="REV",
                   help="git revision to time side by side with this code (default "
                        f"{DEFAULT_BASELINE}, the code before the speed work; 'none' skips it)")
    p.add_argument("--dask", action="store_true",
                   help="also time replications on a Dask LocalCluster of 1 and 2 workers"
                        " and check that both give identical KPIs")
    p.add_argument("--dask-replications", type=int_at_least(1, "--dask-replications"),
                   default=None,
                   help="replications of each Dask timing (default 40; --quick: 4): a batch"
                        " long enough that the cluster's fixed costs (about 0.15 s a batch)"
                        " do not hide the scale-out")
    p.add_argument("--rounds", type=int_at_least(1, "--rounds"), default=None,
                   help="alternating rounds of the side-by-side timing (default 3; --quick: 1)")
    a = p.parse_args(argv)
    if a.seed < 0:
        p.error(f"--seed must be >= 0, got {a.seed}")
    if a.replications is None:
        a.replications = 4 if a.quick else 20
    if a.naive_days is None:
        a.naive_days = 5 if a.quick else 30
    a.serial = 1 if a.quick else 3
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    if a.dask_replications is None:
        a.dask_replications = 4 if a.quick else 40
    return a


def report_lines(figures: dict[str, Any], a: argparse.Namespace) -> list[str]:
    """The benchmark's report for people, one line per measurement."""
    naive, side, dask = figures["naive"], figures["side_by_side"], figures["dask"]
    cores, speedup = figures["cores"], figures["speedup_vs_naive"]
    worker_peak = figures["memory"]["max_worker_peak_rss_mb"]
    pool_rss = figures["memory"]["worker_peak_rss_mb"]
    main_rss_model = figures["memory"]["main_peak_rss_mb_model_only"]
    main_rss_after_naive = figures["memory"]["main_peak_rss_mb_after_naive"]
    ok = naive["totals_agree"] and (dask is None or dask["identical"])
    m = figures["model"]
    lines = [
        f"capsim benchmark: scenario {figures['scenario']}, seed {a.seed},"
        f" {naive['horizon_days']}-day horizon, {cores} CPU core(s) on this machine"
        f"{' (quick)' if a.quick else ''}",
        f"model, one core        : {m['s_per_rep_one_core']:.3f} s per replication"
        f" (mean of {a.serial} serial replication(s) in-process)",
        f"model, pool            : {a.replications} replications on {a.workers} worker(s)"
        f" ({m['pool_executor']}) in {m['pool_wall_s_incl_startup']:.2f} s wall,"
        f" pool start-up included -> {m['replications_per_minute']:.1f} replications/minute",
        f"naive reference        : {naive['customers']:,} customer processes"
        f" x {naive['days']} days, measured {naive['measured_s']:.2f} s"
        f" (set-up {naive['setup_s']:.2f} s,"
        f" {naive['us_per_customer_day']:.2f} us per customer-day)",
        f"naive, EXTRAPOLATED    : {naive['extrapolated_s_per_rep']:,.0f} s per replication"
        f" (set-up + run x {naive['horizon_days']}/{naive['days']} days; linear extrapolation,"
        f" not measured; demand aggregation only)",
        f"naive check            : daily totals vs vectorized over {naive['days']} days,"
        f" max relative difference {naive['max_rel_diff']:.2e}"
        f" -> {'OK' if ok else 'MISMATCH'} (tolerance {RTOL:g})",
        f"speedup vs naive       : {speedup:,.0f}x (naive extrapolated s/rep / model s/rep,"
        f" both one core; the model also runs fleet, supply pools, money and hourly service)",
        f"memory, peak RSS       : max worker {worker_peak:.0f} MB"
        f" (workers: {', '.join(f'{x:.0f}' for x in pool_rss)} MB);"
        f" main process {main_rss_model:.0f} MB before the naive run,"
        f" {main_rss_after_naive:.0f} MB after it",
    ]
    if side is not None:
        t, b = side["this"], side["baseline"]
        lines += [
            f"side by side           : this code vs {side['revision']}"
            f" ({side['commit'][:10]}), each on its own default scenario, {side['rounds']}"
            f" alternating round(s) of {side['replications']} replications on"
            f" {side['workers']} worker(s) (fork pool, one warm-up replication per worker)",
            f"  this code            : {t['median_replications_per_minute']:.1f}"
            f" replications/minute (median; {t['horizon_days']}-day horizon),"
            f" max worker peak RSS {t['max_worker_peak_rss_mb']:.0f} MB",
            f"  {side['revision']:<21}: {b['median_replications_per_minute']:.1f}"
            f" replications/minute (median; {b['horizon_days']}-day horizon),"
            f" max worker peak RSS {b['max_worker_peak_rss_mb']:.0f} MB",
            f"  speedup              : {side['speedup']:.2f}x replications per minute"
            f" (median of the rounds: {', '.join(f'{r:.2f}' for r in side['ratios'])})",
        ]
    if dask is not None:
        lines.append(
            f"dask scale-out         : {dask['replications']} replications on a LocalCluster,"
            f" 1 worker {dask['wall_s_1']:.2f} s, 2 workers {dask['wall_s_2']:.2f} s"
            f" (medians) -> {dask['speedup_2_vs_1']:.2f}x (median of the rounds: "
            f"{', '.join(f'{r:.2f}' for r in dask['ratios'])}); KPIs"
            f" {'identical' if dask['identical'] else 'DIFFER'}")
    return lines


def _measure(a: argparse.Namespace, scenario: Any) -> tuple[dict, dict, dict, float, float]:
    """The pool, serial and naive timings, and this process's peak RSS before and after."""
    _log(f"[1/3] {a.replications} replications on {a.workers} worker(s) ...")
    pool = time_pool(scenario, a.seed, a.replications, a.workers)
    _log(f"[2/3] {a.serial} replication(s) serially in this process ...")
    serial = time_serial(scenario, a.seed, a.serial)
    rss_model = _peak_rss_mb()
    _log(f"[3/3] naive reference: one SimPy process per customer, {a.naive_days} days ...")
    naive = run_naive(scenario, a.seed, a.naive_days)
    return pool, serial, naive, rss_model, _peak_rss_mb()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    a = parse_args(argv)
    scenario, _ = scenario_mod.load()
    cores = os.cpu_count() or 1

    side = None
    if a.baseline.lower() != "none":
        _log(f"[0/3] side by side with {a.baseline}: {a.rounds} round(s) of {a.replications}"
             f" replications on {a.workers} worker(s) each ...")
        try:
            side = side_by_side(a.baseline, a.seed, a.replications, a.workers, a.rounds)
        except BaselineError as e:
            _log(f"error: --baseline {a.baseline}: {e}")
            return 2
    dask = None
    if a.dask:
        _log(f"[0/3] Dask LocalCluster, 1 then 2 workers, {a.rounds} round(s) of "
             f"{a.dask_replications} replications ...")
        dask = dask_scaling(scenario, a.seed, a.dask_replications, a.rounds)
    pool, serial, naive, main_rss_model, main_rss_after_naive = _measure(a, scenario)

    speedup = naive["extrapolated_s_per_rep"] / serial["s_per_rep"]
    worker_peak = max(pool["worker_peak_rss_mb"]) if pool["worker_peak_rss_mb"] else float("nan")
    figures = {
        "scenario": scenario.scenario.name,
        "seed": a.seed,
        "quick": a.quick,
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "simpy": simpy.__version__ if hasattr(simpy, "__version__") else None,
        "horizon_days": naive["horizon_days"],
        "model": {
            "serial_replications": a.serial,
            "serial_times_s": serial["times_s"],
            "s_per_rep_one_core": serial["s_per_rep"],
            "pool_replications": a.replications,
            "pool_workers": a.workers,
            "pool_executor": pool["executor"],
            "pool_wall_s_incl_startup": pool["wall_s"],
            "replications_per_minute": pool["replications_per_minute"],
        },
        "naive": naive,
        "memory": {
            "worker_peak_rss_mb": pool["worker_peak_rss_mb"],
            "max_worker_peak_rss_mb": worker_peak,
            "main_peak_rss_mb_model_only": main_rss_model,
            "main_peak_rss_mb_after_naive": main_rss_after_naive,
        },
        "speedup_vs_naive": speedup,
        "replications_per_minute": pool["replications_per_minute"],
        "peak_rss_mb": worker_peak,
        "side_by_side": side,
        "dask": dask,
    }

    if a.json:
        print(json.dumps(figures, indent=2, default=float))
    else:
        for line in report_lines(figures, a):
            print(line)
    if dask is not None and not dask["identical"]:
        _log("error: the Dask runs with 1 and 2 workers gave different KPIs")
        return 1
    if not naive["totals_agree"]:
        _log(f"error: naive and vectorized daily totals disagree "
             f"(max relative difference {naive['max_rel_diff']:.3e} > {RTOL:g})")
        return 1
    if not a.json:
        tail = f" speedup_vs_baseline={side['speedup']:.2f}" if side is not None else ""
        print(f"speedup_vs_naive={speedup:.0f} "
              f"replications_per_minute={pool['replications_per_minute']:.1f} "
              f"peak_rss_mb={worker_peak:.0f}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
