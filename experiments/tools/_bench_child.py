"""Child process of the side-by-side benchmark: time one code tree's model on a pool.

Run as ``python _bench_child.py ROOT SEED REPLICATIONS WORKERS``. ROOT is a source tree to
import the model from ("-": the installed capsim). Trees that have a ``capsim/`` folder
import ``capsim.models``; older trees (before the single namespace) import ``models``.
Prints one JSON line: wall seconds of the timed replications, replications per minute and
the peak RSS of each worker. A warm-up replication per worker runs before the clock starts,
so that both trees are timed in the same state (imports done, caches filled).
"""

from __future__ import annotations

import importlib
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

root, seed, n, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if root != "-":
    sys.path.insert(0, root)
    os.chdir(root)
# Imported by name: the older layout's top-level packages are not this tree's modules.
prefix = "capsim." if root == "-" or (Path(root) / "capsim" / "__init__.py").exists() else ""
scenario_mod = importlib.import_module(prefix + "models.scenario")
CapacityModel = importlib.import_module(prefix + "models.capacity").CapacityModel
run_replication = importlib.import_module(prefix + "simcore.simulation").run_replication

SCENARIO = scenario_mod.load()[0]
# Trees with `simcore.tuning` tune only the processes their executors start (older trees
# tuned whatever process ran a replication): set the pool's workers up the same way.
try:
    worker_setup = importlib.import_module(prefix + "simcore.tuning").become_worker
except ImportError:
    worker_setup = None


def one(i: int) -> tuple[float, int, int]:
    """Run replication i; return this worker's peak RSS (MB), its pid and the day count."""
    r = run_replication(CapacityModel, SCENARIO, seed, i)
    days = len(next(iter(r.timeseries.values())))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, os.getpid(), days


if __name__ == "__main__":
    with mp.get_context("fork").Pool(workers, initializer=worker_setup) as pool:
        pool.map(one, range(n, n + workers), chunksize=1)       # warm-up, not timed
        t0 = time.perf_counter()
        out = pool.map(one, range(n), chunksize=1)
        wall = time.perf_counter() - t0
    rss: dict[int, float] = {}
    for mb, pid, _ in out:
        rss[pid] = max(mb, rss.get(pid, 0.0))
    print(json.dumps({"wall_s": wall, "replications": n, "workers": workers,
                      "replications_per_minute": n / (wall / 60.0), "horizon_days": out[0][2],
                      "worker_peak_rss_mb": sorted(rss.values(), reverse=True)}))
