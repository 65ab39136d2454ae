"""The golden digest: every KPI, series and event of a few replications, pinned.

A change that claims to leave results alone (a refactoring, a speed-up) must leave this
digest unchanged; `tests/test_golden.py` compares a fresh one with `tests/golden.json`
and names each quantity that changed. A change that means to move results regenerates
the file in a commit of its own that says why:

    python tests/golden_digest.py --write     # regenerate tests/golden.json
    python tests/golden_digest.py             # compare, as the test does

Each quantity is pinned by the SHA-256 of its exact float64 bytes (series and KPIs) or of
its rows (events), with a few plain figures beside it (sum, first and last value) so that
a failure also says by how much a quantity moved. The comparison is bit for bit on the
machine that wrote the file; elsewhere a quantity whose figures agree within 1e-9 counts
as the same (another CPU's SIMD kernels round the last digit differently; `--exact` counts
those too). The digest covers the whole default
horizon of the default and the multi-cloud scenario, replications 0-2 of seed 2026, with
the uncertain inputs drawn from the priors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN = Path(__file__).with_name("golden.json")
SCENARIOS = ("aws-anthropic-2026", "anthropic-multicloud-2026")
SEED = 2026
REPLICATIONS = 3
LIBRARIES = ("numpy", "scipy", "simpy", "pydantic")


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def _figures(values: np.ndarray) -> dict[str, float | None]:
    def num(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    if values.size == 0:
        return {"n": 0}
    with np.errstate(all="ignore"):
        return {"n": int(values.size), "sum": num(float(np.nansum(values))),
                "first": num(float(values[0])), "last": num(float(values[-1]))}


def _replication_digest(result: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(result.timeseries):
        v = np.ascontiguousarray(result.timeseries[name], dtype=np.float64)
        out[f"series.{name}"] = {"sha": _hash(v.tobytes()), **_figures(v)}
    for name in sorted(result.kpis):
        v = np.array([result.kpis[name]], dtype=np.float64)
        out[f"kpi.{name}"] = {"sha": _hash(v.tobytes()), "value": _figures(v).get("first")}
    kinds: dict[str, list[str]] = {}
    for e in result.events:
        row = f"{float(e[0]).hex()}|{e[1]}|{e[2]}|{e[3]}|{float(e[4]).hex()}|{e[5]}"
        kinds.setdefault(e[1], []).append(row)
    for kind in sorted(kinds):
        rows = kinds[kind]
        out[f"events.{kind}"] = {"sha": _hash("\n".join(rows).encode()), "n": len(rows)}
    return out


def compute() -> dict[str, Any]:
    """The digest of the pinned replications, as a JSON-ready dict."""
    from capsim.models.capacity import CapacityModel
    from capsim.models.scenario import load
    from capsim.simcore.simulation import run_replication

    runs: dict[str, Any] = {}
    for name in SCENARIOS:
        # The model's own numbers: drawn from the priors, not a shipped posterior (which is
        # fitted to these replications' history and is checked against it).
        scenario = load(name, ["scenario.posterior=''"])[0]
        for i in range(REPLICATIONS):
            result = run_replication(CapacityModel, scenario, SEED, i)
            runs[f"{name}/{i}"] = _replication_digest(result)
    versions = {lib: metadata.version(lib) for lib in LIBRARIES}
    versions["python"] = platform.python_version()
    return {"seed": SEED, "versions": versions, "runs": runs}


RELATIVE = 1e-9
"""Figures this close count as the same quantity rounded by another CPU (see `rounding`)."""


def rounding(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two digests of a quantity differ only in rounding.

    On one machine results are bit for bit the same; on another CPU numpy's SIMD kernels
    (exp, log, power, sums) may round the last digit differently. A quantity whose bytes
    differ but whose plain figures (count, sum, first, last) agree within `RELATIVE`
    (and 1e-12 absolute, for values that are zero but for rounding) is that.
    """
    keys = (set(a) | set(b)) - {"sha"}
    if not keys or set(a) != set(b):
        return False
    for k in keys:
        x, y = a[k], b[k]
        if x is None or y is None or isinstance(x, str):
            if x != y:
                return False
        elif abs(x - y) > RELATIVE * max(abs(x), abs(y)) + 1e-12:
            return False
    return True


def differences(stored: dict[str, Any], fresh: dict[str, Any], limit: int = 40,
                exact: bool = False) -> list[str]:
    """One line per quantity whose digest differs, then the counts; empty when equal.

    Unless `exact`, quantities that differ only in rounding (`rounding`) count as equal.
    """
    lines: list[str] = []
    changed = 0
    for run in sorted(set(stored["runs"]) | set(fresh["runs"])):
        a, b = stored["runs"].get(run), fresh["runs"].get(run)
        if a is None or b is None:
            lines.append(f"{run}: {'new' if a is None else 'gone'}")
            changed += 1
            continue
        for q in sorted(set(a) | set(b)):
            qa, qb = a.get(q), b.get(q)
            if qa is not None and qb is not None and (
                    qa["sha"] == qb["sha"] or (not exact and rounding(qa, qb))):
                continue
            changed += 1
            if len(lines) >= limit:
                continue
            if qa is None or qb is None:
                lines.append(f"{run} {q}: {'added' if qa is None else 'removed'}")
            else:
                was = {k: v for k, v in qa.items() if k != "sha"}
                now = {k: v for k, v in qb.items() if k != "sha"}
                lines.append(f"{run} {q}: {was} -> {now}")
    if changed:
        if changed > len(lines):
            lines.append(f"... {changed - len(lines)} more")
        lines.append(f"{changed} quantities differ from {GOLDEN.name}")
        if stored.get("versions") != fresh.get("versions"):
            lines.append(f"library versions differ: stored {stored.get('versions')}, "
                         f"here {fresh.get('versions')}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Compare with, or (--write) regenerate, tests/golden.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="regenerate tests/golden.json")
    ap.add_argument("--exact", action="store_true",
                    help="bit for bit: count differences in rounding too")
    args = ap.parse_args(argv)
    fresh = compute()
    if args.write:
        GOLDEN.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
        n = sum(len(v) for v in fresh["runs"].values())
        print(f"wrote {GOLDEN} ({len(fresh['runs'])} replications, {n} quantities)")
        return 0
    diff = differences(json.loads(GOLDEN.read_text()), fresh, exact=args.exact)
    print("\n".join(diff) if diff else f"identical to {GOLDEN}")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
