"""Claude demand: a vectorized enterprise population plus consumers, in tokens/s.

Enterprise customers are NumPy arrays (size, region, tier, arrival day, churn day), never
one process each. Because a customer's weight changes only when it arrives or churns, the
daily totals per (region, tier, size class) group are difference arrays summed once per
replication, and summed over the size classes for each (region, tier);
`hourly_all` then builds every hour of the run at once. Total use grows by a common intensity factor
exp(m * L(t)), where the log-growth rate decays from `growth_start` to `growth_long_run`
with a half-life, plus (with `growth_persistence` and `growth_volatility`) a deviation that
is a stationary AR(1) process from month to month, its shocks drawn from the stream
"demand.growth" (`growth_deviation`); m is the growth-multiplier stress knob. Before that
curve, growth can be given period by period (`growth_by_period`: until a date, x per
year).

Tokens come from money: at the start, enterprise demand priced at the blended price (batch
tokens at their discount) equals the enterprise share of the revenue run-rate, and the
same for consumers; `cloud_share` of it is served on the modelled clouds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from capsim.models.scenario import Demand
from capsim.simcore.clock import Clock
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY, SECONDS_PER_YEAR


def log_growth(years: np.ndarray, g0: float, g_inf: float, halflife: float) -> np.ndarray:
    """L(t): integral of a log-growth rate decaying from ln g0 to ln g_inf with a half-life."""
    a, b = math.log(g0), math.log(g_inf)
    k = math.log(2) / halflife
    return b * years + (a - b) * (1 - np.exp(-k * years)) / k


def stressed_growth(L: np.ndarray, multiplier: float, from_day: int = 0) -> np.ndarray:
    """Log growth L with the stress multiplier applied to its growth after `from_day`.

    Days before `from_day` keep L; from it on, L(from) + m (L - L(from)). With
    `from_day` 0 this is m L (the curve starts at the run's start).
    """
    if multiplier == 1.0:
        return L
    if from_day <= 0:
        return multiplier * L
    d0 = min(from_day, L.size - 1)
    out = L.copy()
    out[d0:] = L[d0] + multiplier * (L[d0:] - L[d0])
    return out


def period_log_growth(years: np.ndarray, periods: list[tuple[float, float]], g0: float,
                      g_inf: float, halflife: float) -> np.ndarray:
    """L(t) with growth given period by period, then the decaying curve of `log_growth`.

    `periods` are (end in years from the start, x per year), in time order; the decaying
    curve starts where the last period ends. Without periods this is `log_growth`.
    """
    L = np.zeros_like(years, dtype=float)
    t0, level = 0.0, 0.0
    for end, rate in periods:
        end = max(end, t0)  # a period that ended before the start adds nothing
        inside = (years > t0) & (years <= end)
        L[inside] = level + math.log(rate) * (years[inside] - t0)
        level += math.log(rate) * (end - t0)
        t0 = end
    after = years > t0
    L[after] = level + log_growth(years[after] - t0, g0, g_inf, halflife)
    return L


def ar1_path(shocks: np.ndarray, persistence: float, volatility: float) -> np.ndarray:
    """x_k = phi x_(k-1) + s sqrt(1 - phi^2) e_k, x_0 = s e_0: a stationary AR(1) with sd s."""
    x = np.empty(shocks.size)
    innovation = volatility * math.sqrt(max(0.0, 1.0 - persistence ** 2))
    prev = 0.0
    for k, e in enumerate(np.asarray(shocks, float)):
        prev = volatility * e if k == 0 else persistence * prev + innovation * e
        x[k] = prev
    return x


def month_index(dates: np.ndarray) -> np.ndarray:
    """Each day's calendar month, counted from the first day's month (0, 1, ...)."""
    months = dates.astype("datetime64[M]").astype(np.int64)
    return months - months[0]


def growth_deviation(dates: np.ndarray, shocks: np.ndarray, persistence: float,
                     volatility: float) -> np.ndarray:
    """The cumulative log deviation of demand at each day's midpoint (ln units).

    Month k's yearly log-growth rate deviates by x_k (`ar1_path` of month k's shock); a
    day adds x_k / 365.25 of log growth, half of it by the day's midpoint.
    """
    month = month_index(dates)
    x = ar1_path(shocks[: int(month[-1]) + 1], persistence, volatility)
    daily = x[month] / DAYS_PER_YEAR
    return np.cumsum(daily) - 0.5 * daily


def growth_shocks(d: Demand, dates: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """One standard-normal shock per month of the run (from `rng`; none given: zeros).

    The first months take `d.growth_shocks` when the scenario fixes them; the stream's
    draws are made all the same, so every later month draws the same number either way.
    """
    months = int(month_index(dates)[-1]) + 1
    e = rng.standard_normal(months) if rng is not None else np.zeros(months)
    fixed = np.asarray(d.growth_shocks[:months], float)
    e[: fixed.size] = fixed
    return e


def hourly_profile(region_shares: np.ndarray, utc_offsets: np.ndarray, peak_local_hour: float,
                   peak_to_average: float, peak_width_hours: float = 3.0) -> np.ndarray:
    """(regions x 24) weekday profiles in UTC hours, each with mean 1.

    Each region's use is a bump around its local peak hour; the bump's height is set so
    that the share-weighted total has the requested peak-to-average ratio.
    """
    h = np.arange(24) + 0.5
    local = (h[None, :] + utc_offsets[:, None]) % 24
    dist = np.minimum(np.abs(local - peak_local_hour), 24 - np.abs(local - peak_local_hour))
    bump = np.exp(-0.5 * (dist / peak_width_hours) ** 2)
    bump -= bump.mean(axis=1, keepdims=True)
    total = region_shares @ bump
    amp = (peak_to_average - 1.0) / max(total.max(), 1e-12)
    # Keep every hour above zero: cap the amplitude if the request is too peaky.
    floor = -bump.min()
    if floor > 0:
        amp = min(amp, 0.95 / floor)
    return 1.0 + amp * bump


@dataclass
class Population:
    """Enterprise customers as arrays, plus the per-group daily totals derived from them.

    The totals are kept per fine group (region x tier x size class: `fine_*`, row
    ``(region * 2 + committed) * classes + class``) and summed over the size classes for
    the (region, tier) tables; the size classes are quantiles of size within each tier
    (`size_classes`, see `size_classes_of`).
    """

    size: np.ndarray        # float32 relative size (lognormal)
    region: np.ndarray      # int8 region index
    committed: np.ndarray   # bool: committed-throughput tier
    arrive: np.ndarray      # int32 arrival day (<= 0 for customers present at the start)
    churn: np.ndarray       # int32 churn day (> horizon if never within it)
    weight: np.ndarray      # (groups, days) summed size of active customers
    count: np.ndarray       # (groups, days) number of active customers
    n_start: int = 0        # customers present at the start (the first n_start entries)
    size_classes: tuple[float, ...] = ()  # quantiles cutting each tier into size classes
    fine_weight: np.ndarray | None = None    # (groups x classes, days) as `weight`
    fine_count: np.ndarray | None = None     # (groups x classes, days) as `count`
    fine_arrivals: np.ndarray | None = None  # (groups x classes, days) joining on the day

    @property
    def n(self) -> int:
        """Customers ever present in the run."""
        return int(self.size.size)


SIZE_CLASSES = (0.5, 0.8, 0.95, 0.99)
"""Default quantiles of size that cut each tier into size classes."""


def size_classes_of(size: np.ndarray, committed: np.ndarray, n_start: int,
                    quantiles: Sequence[float]) -> np.ndarray:
    """Each customer's size class within its tier.

    The class is how many of the tier's cut points are at or below the customer's size:
    `quantiles` of size among the customers present at the start (newcomers are drawn
    from the same sizes and take the same cut points).
    """
    first = slice(0, max(n_start, 1))
    by_seg = []
    for seg in (False, True):
        start = size[first][committed[first] == seg]
        above = np.zeros(size.size, np.int8)
        if start.size:
            edges = np.quantile(start, quantiles).astype(size.dtype)
            # A search in a handful of edges, as comparisons over the whole population.
            for edge in edges:
                above += size >= edge
        by_seg.append(above)
    return np.where(committed, by_seg[1], by_seg[0])


def group_days(groups: np.ndarray, n_groups: int, size: np.ndarray, arrive: np.ndarray,
               churn: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_groups, days) summed size, head count and arrivals of each group's customers.

    Size and head count enter on the arrival day and leave on the churn day: one
    bincount per change over (group, day) cells, then a running sum along the days. The
    arrivals of day 0 include the customers present at the start.
    """
    cells = n_groups * (days + 2)
    # Each customer's group's first cell, then its arrival's and its churn's cells.
    cell_in = np.multiply(groups, days + 2, dtype=np.int64)
    cell_out = cell_in + np.minimum(churn, days + 1)
    cell_in += arrive
    size64 = size.astype(np.float64)
    weight = (np.bincount(cell_in, size64, cells)
              - np.bincount(cell_out, size64, cells)).reshape(n_groups, days + 2)
    entered = np.bincount(cell_in, minlength=cells).reshape(n_groups, days + 2)
    count = entered - np.bincount(cell_out, minlength=cells).reshape(n_groups, days + 2)
    weight = np.cumsum(weight, axis=1)[:, :days]
    count = np.cumsum(count, axis=1)[:, :days].astype(float)
    return np.maximum(weight, 0), count, entered[:, :days].astype(float)


def fine_group_days(size: np.ndarray, region: np.ndarray, committed: np.ndarray,
                    arrive: np.ndarray, churn: np.ndarray, n_start: int,
                    quantiles: Sequence[float], n_regions: int, days: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`group_days` of the fine groups, row (region * 2 + committed) * classes + class.

    The size classes are `size_classes_of`; the arrivals of day 0 are 0 (the customers
    present at the start are not newcomers).
    """
    k = len(quantiles) + 1
    fine = region.astype(np.int64)  # (region * 2 + committed) * k + size class, in place
    fine *= 2
    fine += committed
    fine *= k
    fine += size_classes_of(size, committed, n_start, quantiles)
    weight, count, entered = group_days(fine, n_regions * 2 * k, size, arrive, churn, days)
    entered[:, 0] = 0.0
    return weight, count, entered


def _choice(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """`rng.choice(p.size, size=n, p=p)` as int8, with the same draws and the same result.

    NumPy draws one uniform per item and looks it up in the cumulative shares; with a
    handful of shares, counting the boundaries at or below each uniform is 4x faster
    than the general lookup.
    """
    cdf = p.cumsum()
    cdf /= cdf[-1]
    u = rng.random(n)
    out = np.zeros(n, np.int8)
    for edge in cdf[:-1]:
        out += u >= edge
    return out


def build_population(d: Demand, days: int, rng: np.random.Generator,
                     size_classes: Sequence[float] = SIZE_CLASSES) -> Population:
    """Draw the customer population of one replication.

    Draws, in order: counts and rates, sizes, regions, arrivals, churn. The daily totals
    are summed per fine group (`size_classes`), then over the size classes.
    """
    e = d.enterprise
    n0 = int(round(float(e.customers.sample(rng))))
    sigma = float(e.size_sigma.sample(rng))
    committed_share = float(np.clip(e.committed_share.sample(rng), 0, 1))
    arrivals_per_year = max(0.0, float(e.new_customers_per_year.sample(rng)))
    churn_rate = max(0.0, float(e.churn_per_year.sample(rng)))
    n_new = int(rng.poisson(arrivals_per_year * days / DAYS_PER_YEAR))
    n = n0 + n_new
    # Lognormal sizes: exp(sigma z) of the stream's standard normals, as `rng.lognormal`
    # draws them (NumPy's vectorized exp may differ from the C library's in the last bit
    # of a double; that never reaches the float32 sizes).
    z = rng.standard_normal(n)
    z *= sigma
    size = np.exp(z, out=z).astype(np.float32)
    del z
    shares = np.array(list(e.region_shares.values()), float)
    region = _choice(rng, shares / shares.sum(), n)
    arrive = np.zeros(n, np.int32)
    # Arrival days in order: the sorted draws, rebuilt from their counts per day.
    span = max(days, 1)
    arrive[n0:] = np.repeat(np.arange(span, dtype=np.int32),
                            np.bincount(rng.integers(0, span, n_new), minlength=span))
    if churn_rate > 0:
        life = rng.exponential(DAYS_PER_YEAR / churn_rate, n)
        np.ceil(life, out=life)
        life += arrive
        churn = np.minimum(life, days + 1, out=life).astype(np.int32)
        del life
    else:
        churn = np.full(n, days + 1, np.int32)
    # The largest customers hold committed throughput: a size threshold from the
    # customers at the start, applied to newcomers too.
    if committed_share > 0 and n0 > 0:
        threshold = np.quantile(size[:n0], 1 - committed_share)
        committed = size >= threshold
    else:
        committed = np.zeros(n, bool)
    k = len(size_classes) + 1
    n_par = shares.size * 2
    f_weight, f_count, f_entered = fine_group_days(size, region, committed, arrive, churn, n0,
                                                   size_classes, shares.size, days)
    weight = f_weight.reshape(n_par, k, days).sum(axis=1)
    count = f_count.reshape(n_par, k, days).sum(axis=1)
    return Population(size, region, committed, arrive, churn, weight, count, n0,
                      tuple(size_classes), f_weight, f_count, f_entered)


@dataclass(frozen=True)
class DemandDraw:
    """One replication's demand parameters and its enterprise population.

    Drawn from the stream "demand" in a fixed order: the scalars, then the population,
    then the batch discount.
    """

    revenue_run_rate_usd: float
    enterprise_share: float
    price: float
    cloud_share: float
    growth_start: float
    growth_long_run: float
    growth_halflife_years: float
    period_rates: tuple[float, ...]
    growth_persistence: float
    growth_volatility: float
    efficiency_per_year: float
    consumer_price: float
    consumer_growth: float
    con_weekend: float
    con_peak_to_average: float
    con_peak_hour: float
    con_peak_width: float
    batch_share: float
    ent_weekend: float
    ent_peak_to_average: float
    ent_peak_hour: float
    ent_peak_width: float
    population: Population
    batch_discount: float

    @classmethod
    def draw(cls, d: Demand, days: int, rng: np.random.Generator,
             size_classes: Sequence[float] = SIZE_CLASSES) -> DemandDraw:
        """Draw every demand parameter and the population, in the order listed."""
        def one(p) -> float:
            return float(p.sample(rng))

        def share(p) -> float:
            return float(np.clip(p.sample(rng), 0, 1))

        revenue, ent_share, price, cloud = (one(d.revenue_run_rate_usd),
                                            share(d.enterprise_revenue_share),
                                            one(d.price_usd_per_mtok), share(d.cloud_share))
        g0, g_inf, half = one(d.growth_start), one(d.growth_long_run), one(
            d.growth_halflife_years)
        rates = tuple(one(p.rate) for p in d.growth_by_period)
        phi, vol = ((one(d.growth_persistence), one(d.growth_volatility))
                    if d.growth_persistence is not None and d.growth_volatility is not None
                    else (0.0, 0.0))
        efficiency = one(d.efficiency_gain_per_year)
        c = d.consumer
        c_price, c_growth, c_weekend = (one(c.price_usd_per_mtok), one(c.growth_factor),
                                        one(c.weekend_factor))
        c_p2a, c_peak, c_width = (one(c.peak_to_average), one(c.peak_local_hour),
                                  one(c.peak_width_hours))
        e = d.enterprise
        batch_share = share(e.batch_share)
        e_weekend, e_p2a, e_peak, e_width = (one(e.weekend_factor), one(e.peak_to_average),
                                             one(e.peak_local_hour), one(e.peak_width_hours))
        population = build_population(d, days, rng, size_classes)
        # Batch tokens are billed at a discount: enterprise revenue buys more tokens.
        discount = share(d.batch_discount)
        return cls(revenue, ent_share, price, cloud, g0, g_inf, half, rates, phi, vol,
                   efficiency,
                   c_price, c_growth, c_weekend, c_p2a, c_peak, c_width, batch_share,
                   e_weekend, e_p2a, e_peak, e_width, population, discount)


class DemandModel:
    """Daily demand in tokens/s per UTC hour, by tier: committed, on-demand, consumer."""

    def __init__(self, d: Demand, clock: Clock, drawn: DemandDraw,
                 stress_from_day: int = 0, shocks: np.ndarray | None = None) -> None:
        self.clock = clock
        days = clock.days
        x = drawn
        price, c_price, cloud = x.price, x.consumer_price, x.cloud_share
        self.efficiency_per_year = x.efficiency_per_year
        self.batch_share, self.batch_discount = x.batch_share, x.batch_discount
        self.pop = x.population
        e = d.enterprise
        shares = np.array(list(e.region_shares.values()), float)
        offsets = np.array([e.region_utc_offset_hours[r] for r in e.region_shares], float)
        self.ent_profile = hourly_profile(shares, offsets, x.ent_peak_hour, x.ent_peak_to_average,
                                          x.ent_peak_width)  # regions x 24
        self.con_profile = shares @ hourly_profile(shares, offsets, x.con_peak_hour,
                                                   x.con_peak_to_average, x.con_peak_width)  # 24

        years = np.arange(days) / DAYS_PER_YEAR
        periods = [(clock.hours(p.until) / HOURS_PER_DAY / DAYS_PER_YEAR, r)
                   for p, r in zip(d.growth_by_period, x.period_rates, strict=True)]
        L = period_log_growth(years + 0.5 / DAYS_PER_YEAR, periods, x.growth_start,
                              x.growth_long_run, x.growth_halflife_years)
        # The stress scales the expected growth; the shocks stay as drawn (the same on the
        # same seed), so a stronger trend means more demand on every day after the start
        # of the stress. Scaling the shocks too made demand fall faster wherever a shock
        # turned growth negative.
        L = stressed_growth(L, d.growth_multiplier, stress_from_day)
        self.shocks = shocks  # the month's growth shocks (None: the mean curve)
        if x.growth_volatility > 0 and shocks is not None and days:
            L = L + growth_deviation(clock.dates(), shocks, x.growth_persistence,
                                     x.growth_volatility)
        self.ent_growth = np.exp(L)
        self.con_growth = np.exp(x.consumer_growth * L)

        # Tokens from money: reference tokens/s at the start on this cloud.
        self.price_usd_per_mtok, self.consumer_price_usd_per_mtok = price, c_price
        self.cloud_share = cloud
        # Batch is a share of on-demand customers' tokens (groups: region*2 + committed).
        w0 = self.pop.weight[:, 0].sum()
        od_share = self.pop.weight[0::2, 0].sum() / w0 if w0 > 0 else 0.0
        ent_price = price * (1 - self.batch_share * self.batch_discount * od_share)
        revenue, ent_share = x.revenue_run_rate_usd, x.enterprise_share
        ent_tps0 = revenue * ent_share * cloud / (ent_price / 1e6) / SECONDS_PER_YEAR
        con_tps0 = revenue * (1 - ent_share) * cloud / (c_price / 1e6) / SECONDS_PER_YEAR
        self.tps_per_weight = ent_tps0 / w0 if w0 > 0 else 0.0
        self.con_tps0 = con_tps0

        # Weekday/weekend factors that keep the weekly mean at 1.
        dow = (clock.dates().astype("datetime64[D]").view("int64") + 3) % 7  # Monday = 0
        weekend = dow >= 5
        e_weekend, c_weekend = x.ent_weekend, x.con_weekend
        self.ent_day = np.where(weekend, e_weekend, 1.0) * 7 / (5 + 2 * e_weekend)
        self.con_day = np.where(weekend, c_weekend, 1.0) * 7 / (5 + 2 * c_weekend)

    @classmethod
    def draw(cls, d: Demand, clock: Clock, rng: np.random.Generator,
             size_classes: Sequence[float] = SIZE_CLASSES,
             stress_from_day: int = 0,
             growth_rng: np.random.Generator | None = None) -> DemandModel:
        """Draw a replication's demand (`DemandDraw.draw`) and build its model.

        The growth multiplier scales growth from day `stress_from_day` on (the
        evaluation start), so the history before it is the unstressed one. `growth_rng`
        (the stream "demand.growth") draws the monthly growth shocks; without it they are 0
        (the mean growth curve).
        """
        drawn = DemandDraw.draw(d, clock.days, rng, size_classes)
        shocks = None
        if drawn.growth_volatility > 0 and clock.days:
            shocks = growth_shocks(d, clock.dates(), growth_rng)
        return cls(d, clock, drawn, stress_from_day, shocks)

    def scale_volume(self, factor: np.ndarray) -> None:
        """Scale every day's demand growth by `factor` (the market's volume response)."""
        self.ent_growth = self.ent_growth * factor
        self.con_growth = self.con_growth * factor

    def hourly(self, day: int, surge_ent: np.ndarray | float = 1.0,
               surge_con: np.ndarray | float = 1.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Demand of `day` in tokens/s.

        Demand of `day` in tokens/s: committed, on-demand and consumer per UTC hour, and
        batch as a mean rate over the day (it can be served in any hour).
        """
        w = self.pop.weight[:, day]                          # groups = region*2 + committed
        scale = self.tps_per_weight * self.ent_growth[day] * self.ent_day[day]
        committed = (w[1::2] @ self.ent_profile) * scale * surge_ent
        on_demand = (w[0::2] @ self.ent_profile) * scale * surge_ent
        batch = float(on_demand.mean()) * self.batch_share
        on_demand = on_demand * (1 - self.batch_share)
        consumer = (self.con_tps0 * self.con_growth[day] * self.con_day[day] * self.con_profile
                    * surge_con)
        return committed, on_demand, consumer, batch

    def hourly_all(self, surge_ent: np.ndarray, surge_con: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Demand of every day at once, as :meth:`hourly` gives it for one day.

        Args:
            surge_ent: (days, 24) enterprise surge multipliers.
            surge_con: (days, 24) consumer surge multipliers.

        Returns:
            committed, on_demand, consumer as (days, 24) tokens/s, and batch as (days,)
            mean tokens/s over each day.
        """
        return self.hourly_range(0, self.pop.weight.shape[1], surge_ent, surge_con)

    def hourly_range(self, d0: int, d1: int, surge_ent: np.ndarray, surge_con: np.ndarray,
                     weight: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Demand of days d0 .. d1 - 1 (see :meth:`hourly_all`; surges of those days).

        `weight` replaces the population's (groups x days) summed sizes of those days,
        e.g. after customers left (models.customers).
        """
        w = self.pop.weight[:, d0:d1] if weight is None else weight
        scale = (self.tps_per_weight * self.ent_growth[d0:d1] * self.ent_day[d0:d1])[:, None]
        committed = (w[1::2].T @ self.ent_profile) * scale * surge_ent
        on_demand = (w[0::2].T @ self.ent_profile) * scale * surge_ent
        batch = on_demand.mean(axis=1) * self.batch_share
        on_demand = on_demand * (1 - self.batch_share)
        consumer = ((self.con_tps0 * self.con_growth[d0:d1] * self.con_day[d0:d1])[:, None]
                    * self.con_profile * surge_con)
        return committed, on_demand, consumer, batch

    def active_all(self) -> tuple[np.ndarray, np.ndarray]:
        """(committed, on-demand) customers active on every day."""
        c = self.pop.count
        return c[1::2].sum(axis=0), c[0::2].sum(axis=0)

    def active_customers(self, day: int) -> tuple[int, int]:
        """(committed, on-demand) customers active on `day`."""
        c = self.pop.count[:, day]
        return int(c[1::2].sum()), int(c[0::2].sum())
