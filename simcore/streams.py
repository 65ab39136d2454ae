"""Named random streams from one SeedSequence, and distribution specs.

Every random draw in a run comes from a stream named by (replication, component).
The stream is `SeedSequence(seed, spawn_key=(replication, crc32(component)))`, so it
depends only on the root seed, the replication index and the component's name: never on
the order components are created in, the worker that runs the replication, or the
executor. Two scenarios run with the same seed draw the same numbers for a component
that consumes them the same way (common random numbers).
"""

from __future__ import annotations

import math
import zlib
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special as _sp

Z95 = float(_sp.ndtri(0.95))  # a 90% interval spans +-1.645 sigma


def _key(name: str) -> int:
    # crc32 is stable across processes and Python versions, unlike hash().
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """The stream tree of one replication.

    Args:
        seed: root seed of the whole Monte Carlo run.
        replication: index of this replication (0-based).
    """

    def __init__(self, seed: int, replication: int) -> None:
        if seed < 0 or replication < 0:
            raise ValueError(f"seed(={seed}) and replication(={replication}) must be >= 0.")
        self.seed = int(seed)
        self.replication = int(replication)
        self._issued: dict[str, np.random.Generator] = {}

    def seed_sequence(self, component: str) -> np.random.SeedSequence:
        """The SeedSequence of one named component."""
        return np.random.SeedSequence(self.seed, spawn_key=(self.replication, _key(component)))

    def rng(self, component: str) -> np.random.Generator:
        """The generator of a component; asking twice returns the same generator."""
        if component not in self._issued:
            bits = np.random.PCG64(self.seed_sequence(component))
            self._issued[component] = np.random.Generator(bits)
        return self._issued[component]

    @property
    def names(self) -> list[str]:
        """Components that have drawn from this tree so far."""
        return sorted(self._issued)


# ---------------------------------------------------------------------------
# Distribution specs
# ---------------------------------------------------------------------------

class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def sample(self, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
        """Draw from the distribution by inversion.

        Draw from the distribution by inversion: one uniform per value, whatever the
        distribution (a constant too). So two scenarios that give a parameter different
        distributions still use the same uniforms for it and for every later draw of
        the stream (common random numbers hold), and a higher quantile in one is a
        higher quantile in the other.
        """
        u = rng.random(size)
        x = self.ppf(u)
        return float(x) if size is None else np.asarray(x, float)

    def ppf(self, u: np.ndarray | float) -> np.ndarray | float:
        """Quantile function: the value at cumulative probability u."""
        raise NotImplementedError

    @property
    def median(self) -> float:
        """The distribution's median, used as its base value."""
        raise NotImplementedError

    @property
    def support(self) -> tuple[float, float]:
        """Smallest and largest values a draw can take."""
        lo = getattr(self, "low", None)
        hi = getattr(self, "high", None)
        if lo is not None and hi is not None:
            return float(lo), float(hi)
        raise NotImplementedError


class Constant(_Spec):
    """A fixed value."""

    dist: Literal["constant"] = "constant"
    value: float

    def ppf(self, u):  # noqa: D102
        return np.full(np.shape(u), self.value)

    @property
    def median(self):  # noqa: D102
        return self.value

    @property
    def support(self):  # noqa: D102
        return self.value, self.value


class Uniform(_Spec):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _check(self):
        if self.low > self.high:
            raise ValueError(f"low(={self.low}) must be <= high(={self.high})")
        return self

    def ppf(self, u):  # noqa: D102
        return self.low + (self.high - self.low) * np.asarray(u)

    @property
    def median(self):  # noqa: D102
        return 0.5 * (self.low + self.high)


class Triangular(_Spec):
    """Triangular with low <= mode <= high."""

    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _check(self):
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"need low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self

    def ppf(self, u):  # noqa: D102
        a, c, b = self.low, self.mode, self.high
        if isinstance(u, float) and b != a:
            # One draw (most of a replication's parameters): the same arithmetic as below
            # in plain numbers, only the branch that applies.
            if u < (c - a) / (b - a):
                return a + math.sqrt(u * (b - a) * (c - a))
            return b - math.sqrt((1 - u) * (b - a) * (b - c))
        u = np.asarray(u, float)
        if b == a:
            return np.full(u.shape, a)
        fc = (c - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1 - u) * (b - a) * (b - c))
        return np.where(u < fc, left, right)

    @property
    def median(self):  # noqa: D102
        a, c, b = self.low, self.mode, self.high
        if b == a:
            return a
        if c >= (a + b) / 2:
            return a + math.sqrt((b - a) * (c - a) / 2)
        return b - math.sqrt((b - a) * (b - c) / 2)


class Normal(_Spec):
    """Normal with mean and sd, optionally truncated to [low, high] by clipping.

    Leave out `low` or `high` for no bound on that side (NaN and infinities are refused).
    """

    dist: Literal["normal"]
    mean: float
    sd: Annotated[float, Field(gt=0)]
    low: float = -math.inf
    high: float = math.inf

    def ppf(self, u):  # noqa: D102
        return np.clip(self.mean + self.sd * _sp.ndtri(u), self.low, self.high)

    @property
    def median(self):  # noqa: D102
        return float(np.clip(self.mean, self.low, self.high))


class Lognormal(_Spec):
    """Lognormal given by `median` and `sigma` (of the log), or by a 90% interval p05..p95."""

    dist: Literal["lognormal"]
    median_: Annotated[float | None, Field(alias="median", gt=0)] = None
    sigma: Annotated[float | None, Field(gt=0)] = None
    p05: Annotated[float | None, Field(gt=0)] = None
    p95: Annotated[float | None, Field(gt=0)] = None

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True,
                              allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self):
        by_median = self.median_ is not None and self.sigma is not None
        by_interval = self.p05 is not None and self.p95 is not None
        given = [k for k in ("median_", "sigma", "p05", "p95") if getattr(self, k) is not None]
        # Exactly one of the two forms, complete, and nothing of the other.
        if by_median == by_interval or len(given) != 2:
            raise ValueError("give either median and sigma, or p05 and p95 (not a mix)")
        if by_interval and self.p05 >= self.p95:
            raise ValueError(f"p05(={self.p05}) must be < p95(={self.p95})")
        return self

    @property
    def mu_sigma(self) -> tuple[float, float]:
        """(mu, sigma) of the underlying normal."""
        if self.median_ is not None and self.sigma is not None:
            return math.log(self.median_), float(self.sigma)
        assert self.p05 is not None and self.p95 is not None  # _check: else the interval
        lo, hi = math.log(self.p05), math.log(self.p95)
        return 0.5 * (lo + hi), (hi - lo) / (2 * Z95)

    def ppf(self, u):  # noqa: D102
        mu, s = self.mu_sigma
        return np.exp(mu + s * _sp.ndtri(u))

    @property
    def median(self):  # noqa: D102
        return math.exp(self.mu_sigma[0])

    @property
    def support(self):  # noqa: D102
        # Open at 0: the smallest positive float stands for "just above zero".
        return math.ulp(0.0), math.inf


class Pert(_Spec):
    """Beta-PERT on [low, high] with the given mode (shape lambda = 4 by default)."""

    dist: Literal["pert"]
    low: float
    mode: float
    high: float
    shape: Annotated[float, Field(gt=0)] = 4.0

    @model_validator(mode="after")
    def _check(self):
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"need low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self

    def _ab(self) -> tuple[float, float]:
        r = self.high - self.low
        return (1 + self.shape * (self.mode - self.low) / r,
                1 + self.shape * (self.high - self.mode) / r)

    def ppf(self, u):  # noqa: D102
        if self.high == self.low:
            return np.full(np.shape(u), self.low)
        a, b = self._ab()
        return self.low + (self.high - self.low) * _sp.betaincinv(a, b, u)

    @property
    def median(self):  # noqa: D102
        if self.high == self.low:
            return self.low
        a, b = self._ab()
        return float(self.low + (self.high - self.low) * _sp.betaincinv(a, b, 0.5))


DistSpec = Annotated[
    Constant | Uniform | Triangular | Normal | Lognormal | Pert, Field(discriminator="dist")
]
"""Any distribution spec, told apart by its `dist` field."""
