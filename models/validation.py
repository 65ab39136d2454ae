"""Checks on scenario input that the schema's types alone do not make.

Four kinds, each refusing what cannot be meant before a run starts:

- Size: a scenario file is a regular file of at most `MAX_FILE_BYTES`; tables and arrays
  nest at most `MAX_DEPTH` deep; a string is at most `MAX_STRING` characters.
- Magnitude: every number in a scenario lies within +-`MAX_MAGNITUDE` (the largest real
  figures are dollar amounts near 1e11); NaN and infinities are refused by the schema
  itself (`allow_inf_nan=False`).
- Counts: a parameter that counts things (customers, chips) is a whole number when given
  as a constant.
- Resources: `estimate` gives the memory and events one replication needs; `check_resources`
  refuses a scenario needing more than the machine has, saying how much.

A `ResourceLimit` or a `ValueError` from here becomes a `ScenarioError` (exit 2) naming
the file and the key.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from capsim.simcore.units import DAYS_PER_YEAR

MAX_FILE_BYTES = 1 << 20
"""Largest scenario file read (1 MiB; the embedded scenarios are ~25 kB)."""
MAX_POSTERIOR_BYTES = 512 * 2**20
"""Most bytes of a posterior table (a calibration's draws: thousands of rows of inputs)."""
MAX_DEPTH = 10
"""Deepest nesting of tables and arrays in a scenario (the schema needs 5)."""
MAX_STRING = 10_000
"""Longest string value, in characters."""
MAX_MAGNITUDE = 1e15
"""Largest absolute value of any number in a scenario."""
MAX_EVENTS = 2_000_000
"""Most scheduled events (surges, launches, deliveries, power-ons, reviews) a replication may
need; the default scenario needs a few thousand."""
MEMORY_SHARE = 0.5
"""Share of the machine's memory that the replications running at once may need."""


class ResourceLimit(ValueError):
    """A scenario that would need more memory or events than allowed."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def open_regular(path: Path, what: str = "a scenario is a TOML file"):
    """Open `path` for reading only if it is a regular file; the open file object.

    Opened without blocking, then looked at: a FIFO or a device (which would block or never
    end) is refused at once, and the file checked is the file read.

    Raises:
        OSError: it cannot be opened.
        ValueError: not a regular file (`what` says what it should be).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"not a regular file ({what})")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: Path, what: str = "a scenario is a TOML file",
                 limit: int | None = None) -> str:
    """The text of an input file: a regular file of at most `limit` bytes, UTF-8.

    `limit` defaults to MAX_FILE_BYTES (scenarios, `extends` targets, observation files).

    Raises:
        OSError: it cannot be opened.
        ValueError: not a regular file, too big, or not UTF-8.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    with open_regular(path, what) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit // 1024} KiB; {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def check_text(text: str) -> None:
    """Refuse TOML text too long or nested too deeply to be a scenario (before parsing).

    Counts brackets and braces outside strings and comments; that bounds the depth the
    parser will recurse to, so a pathological file cannot exhaust the stack.

    Raises:
        ValueError: naming the limit.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ValueError(f"longer than {MAX_FILE_BYTES // 1024} KiB")
    depth = deepest = 0
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote in ('"', '"""'):
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            continue
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH + 2:  # table headers [[x]] count two
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1


def check_data(data: Any) -> list[str]:
    """Problems with a parsed scenario's sizes and magnitudes, one line each (key: what)."""
    problems: list[str] = []
    stack: list[tuple[tuple[str, ...], Any, int]] = [((), data, 0)]
    while stack:
        path, node, depth = stack.pop()
        shown = path[:-1] if path[-1:] == ("value",) else path  # a parameter's value
        key = ".".join(shown) or "(top level)"
        if depth > MAX_DEPTH:
            problems.append(f"{key}: nested deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(node, dict):
            for k, v in node.items():
                if len(str(k)) > 200:
                    problems.append(f"{key}: a key longer than 200 characters")
                    continue
                stack.append(((*path, str(k)), v, depth + 1))
        elif isinstance(node, list):
            if len(node) > 100_000:
                problems.append(f"{key}: more than 100,000 items")
                continue
            stack.extend(((*path, str(i)), v, depth + 1) for i, v in enumerate(node))
        elif isinstance(node, str):
            if len(node) > MAX_STRING:
                problems.append(f"{key}: a string of {len(node):,} characters (at most "
                                f"{MAX_STRING:,})")
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int | float):
            if isinstance(node, float) and not math.isfinite(node):
                problems.append(f"{key}: must be a finite number (got {node!r})")
            elif abs(node) > MAX_MAGNITUDE:
                # An integer of hundreds of digits has no float to print it as.
                big = f"{node:g}" if isinstance(node, float) or abs(node) < 1e300 \
                    else f"an integer of {len(str(abs(node)))} digits"
                problems.append(f"{key}: {big} is beyond the largest accepted magnitude "
                                f"({MAX_MAGNITUDE:g})")
    return sorted(problems)


def whole(p: Any) -> Any:
    """A validator for count parameters: a constant must be a whole number."""
    spec = p.spec
    if getattr(spec, "dist", None) == "constant" and float(spec.value) != int(spec.value):
        raise ValueError(f"a count must be a whole number (got {spec.value!r})")
    return p


# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """What one replication needs: peak memory in bytes, events, and the keys that drive them."""

    memory_bytes: float
    events: float
    memory_key: str
    events_key: str


def _hi(p: Any) -> float:
    """The largest value a parameter can draw (its p99.9 for unbounded distributions)."""
    lo, hi = p.spec.support
    if math.isfinite(hi):
        return float(hi)
    return float(p.spec.ppf(0.999))


def _mean(p: Any) -> float:
    """A parameter's mean (over a grid of its quantiles, so any distribution will do)."""
    return float(np.mean(p.spec.ppf(np.linspace(0.0025, 0.9975, 200))))


def estimate(sc: Any) -> Estimate:
    """Peak memory and scheduled events of one replication of scenario `sc`.

    The terms are the model's large arrays: ~64 bytes per enterprise customer (sizes,
    regions, arrival and churn days and their temporaries), ~24 bytes per chip of the
    installed base (one install age each, and temporaries), hourly arrays of
    days x 24 x (tiers + clouds + generations) doubles, the hours of every surge's window
    (~96 bytes an hour), and daily series; events are
    random surges, launches, chip batches, building power-ons and procurement reviews.
    """
    days = (sc.scenario.end - sc.scenario.start).days + 1
    years = days / DAYS_PER_YEAR
    e = sc.demand.enterprise
    customers = _hi(e.customers) + _hi(e.new_customers_per_year) * years * 1.1 + 10
    gens = len(sc.supply.generations)
    clouds = len(sc.clouds)
    hourly = days * 24 * 8 * (12 + 2 * clouds)
    daily = days * 8 * (120 + 8 * gens + 6 * clouds)
    customer_bytes = 64 * customers
    # The installed base draws one install age per chip (8 bytes, plus temporaries).
    chips = {name: 24 * _hi(g.installed_at_start) for name, g in sc.supply.generations.items()}
    chip_key, chip_bytes = max(chips.items(), key=lambda kv: kv[1]) if chips else ("", 0.0)
    s = sc.surges
    surges = _hi(s.rate_per_year) * years
    launches = days / max(float(s.launch_every_days.spec.support[0]), 1e-9) + len(s.launches)
    # Each surge's demand multipliers are computed for every hour of its window (the ramp
    # and ten half-lives, whole days), ~12 doubles an hour with their temporaries.
    window = min(days, _mean(s.ramp_days) + 10 * _mean(s.halflife_days) + 2)
    surge_bytes = (surges + launches) * window * 24 * 96
    memory = (customer_bytes + sum(chips.values()) + hourly + daily + surge_bytes
              + 150e6)  # + libraries
    terms = {"demand.enterprise.customers": customer_bytes, "scenario.end": hourly,
             f"supply.generations.{chip_key}.installed_at_start": chip_bytes,
             "surges.rate_per_year" if surges >= launches else "surges.launch_every_days":
             surge_bytes}
    memory_key = max(terms, key=lambda k: terms[k])
    batches = sum(g.batches_per_quarter for g in sc.supply.generations.values()) * years * 4
    buildings = sum(c.new_buildings for c in sc.datacenters.campuses.values())
    reviews = days / max(sc.procurement.review_every_days, 1e-9)
    parts = {"surges.rate_per_year": surges, "surges.launch_every_days": launches,
             "supply.generations.<name>.batches_per_quarter": batches,
             "datacenters.campuses.<name>.new_buildings": buildings,
             "procurement.review_every_days": reviews, "scenario.end": days * 4}
    events_key = max(parts, key=lambda k: parts[k])
    return Estimate(memory, sum(parts.values()), memory_key, events_key)


def available_memory() -> float:
    """Bytes of memory this machine has available (total when unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8e9


def _gib(x: float) -> str:
    return f"{x / 2**30:,.1f} GiB" if x >= 2**30 else f"{x / 2**20:,.0f} MiB"


def check_resources(sc: Any, workers: int = 1, memory: float | None = None) -> Estimate:
    """Refuse a scenario whose replications need more memory or events than allowed.

    Raises:
        ResourceLimit: naming the key that drives the need, how much is needed and allowed.
    """
    est = estimate(sc)
    limit = MEMORY_SHARE * (available_memory() if memory is None else memory)
    need = est.memory_bytes * max(1, workers)
    if est.events > MAX_EVENTS:
        raise ResourceLimit(est.events_key, (
            f"{est.events_key}: a replication would schedule about {est.events:,.0f} events, "
            f"more than the {MAX_EVENTS:,} allowed"))
    if need > limit:
        raise ResourceLimit(est.memory_key, (
            f"{est.memory_key}: a replication would need about {_gib(est.memory_bytes)} of "
            f"memory ({_gib(need)} for {max(1, workers)} worker(s) at once), more than the "
            f"{_gib(limit)} allowed ({MEMORY_SHARE:.0%} of the available memory)"))
    return est
