"""The market for Claude tokens: price follows cost per token, demand answers price and a ceiling.

Computed once per replication for every day at once (plain arrays in, arrays out), before
the daily loop, so it costs almost nothing per replication.

- Cost per token: what the cloud bills per MW of IT a year, divided by the tokens a MW of
  IT serves in a year: the planned fleet's tokens per IT watt (generations shipped and not
  yet retired, after the efficiency gains) x the serving share x a serving utilization.
- Price: from ``start`` the price per token is cost x 1 / (1 - gross margin), where the
  margin moves from the one implied on ``start`` (baseline price against cost) toward a
  target with a half-life; the price is kept inside a band of yearly declines from the
  price on ``start`` (no faster than ``price_decline_fastest``, no slower than
  ``price_decline_slowest``). Before ``start`` it is the baseline path of the demand
  section (``demand.price_decline_per_year``), which history was calibrated with.
- Price response: token volume = baseline volume x (price / baseline price) ** elasticity.
- Ceiling: the Anthropic-wide spend this gives, S_u(t), approaches the total addressable
  spend K as a logistic does: S = min(S_u, 1 / (1/K + (1 - S0/K) / S_u)), S0 the spend on
  ``start``. For exponential S_u this is exactly the logistic curve from S0 toward K; S
  equals S_u on ``start`` and stays below K.

The result is a price path and a volume factor per day that the model multiplies into
its price and its demand growth; with the market off both are the baseline (factor 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.models import finance
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY, SECONDS_PER_YEAR


@dataclass(frozen=True)
class MarketDraw:
    """One replication's market parameters (drawn once, from the ``market`` stream)."""

    start_day: int
    serving_utilization: float
    margin_target: float
    margin_halflife_years: float
    decline_fastest: float
    decline_slowest: float
    elasticity: float
    tam_usd: float


@dataclass(frozen=True)
class MarketPath:
    """Daily results of the market: all arrays have one entry per day of the run."""

    price_factor: np.ndarray     # price / price on day 0 (every tier follows it)
    volume_factor: np.ndarray    # token demand / baseline token demand
    cost_usd_per_mtok: np.ndarray
    price_usd_per_mtok: np.ndarray
    spend_usd: np.ndarray        # Anthropic-wide spend per year the market allows
    uncapped_spend_usd: np.ndarray
    tam_usd: float               # the ceiling in force (at least 5% above the start's spend)


def draw(m, start_day: int, rng: np.random.Generator) -> MarketDraw:
    """Draw the market parameters of one replication from scenario section `m`."""
    return MarketDraw(
        start_day=start_day,
        serving_utilization=float(np.clip(m.serving_utilization.sample(rng), 1e-3, 1.0)),
        margin_target=float(m.gross_margin_target.sample(rng)),
        margin_halflife_years=float(m.margin_halflife_years.sample(rng)),
        decline_fastest=float(m.price_decline_fastest.sample(rng)),
        decline_slowest=float(m.price_decline_slowest.sample(rng)),
        elasticity=float(m.elasticity.sample(rng)),
        tam_usd=float(m.tam_usd_per_year.sample(rng)))


def fleet_tokens_per_it_mw(days: int, ship_day: np.ndarray, ship_gen: np.ndarray,
                           ship_chips: np.ndarray, base_chips: np.ndarray, it_kw: np.ndarray,
                           tps: np.ndarray, life_days: float) -> np.ndarray:
    """Reference tokens/s per MW of IT of the planned fleet, per day (before efficiency gains).

    The planned fleet on a day: the installed base plus planned shipments up to that day,
    less those older than the useful life. Days without chips take the nearest fleet's value.
    """
    n_g = it_kw.size
    count = np.zeros((n_g, days + 1))
    d = np.clip(ship_day.astype(int), 0, days)
    np.add.at(count, (ship_gen.astype(int), d), ship_chips)
    np.add.at(count, (ship_gen.astype(int), np.clip(d + int(life_days), 0, days)), -ship_chips)
    count[:, 0] += base_chips
    count = np.cumsum(count, axis=1)[:, :days]
    count[:, :] = np.maximum(count, 0.0)
    kw = it_kw @ count
    tok = tps @ count
    out = np.full(days, np.nan)
    ok = kw > 0
    out[ok] = tok[ok] / kw[ok] * 1000.0
    if not ok.any():
        return np.ones(days)
    idx = np.where(ok, np.arange(days), 0)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.argmax(ok))
    idx[:first] = first
    return out[idx]


def compute(d: MarketDraw, *, base_factor: np.ndarray, tokens_per_it_mw: np.ndarray,
            efficiency: np.ndarray, usd_per_mw_it_year: float, serving_share: float,
            base_spend: np.ndarray, price0: float) -> MarketPath:
    """The market's daily price and volume factor.

    Args:
        d: the replication's market draw.
        base_factor: baseline price / price0, per day (before the start it is the result).
        tokens_per_it_mw: reference tokens/s per MW of IT of the fleet, per day.
        efficiency: tokens per chip relative to day 0 (efficiency gains), per day.
        usd_per_mw_it_year: what the cloud bills per MW of IT a year.
        serving_share: share of the compute that serves (the rest trains; both are paid).
        base_spend: Anthropic-wide spend per year at baseline prices and volumes, per day.
        price0: the enterprise price per million tokens on day 0 (USD).
    """
    base_price = price0 * base_factor
    days = base_price.size
    tokens_mtok_year = tokens_per_it_mw * efficiency * SECONDS_PER_YEAR / 1e6
    cost = usd_per_mw_it_year / np.maximum(
        tokens_mtok_year * serving_share * d.serving_utilization, 1e-12)
    s = int(np.clip(d.start_day, 0, days))
    price = base_price.copy()
    volume = np.ones(days)
    spend = base_spend.copy()
    uncapped = base_spend.copy()
    tam = d.tam_usd
    if s < days:
        years = (np.arange(s, days) - s) / DAYS_PER_YEAR
        p_s = float(base_price[s])
        m0 = 1.0 - float(cost[s]) / p_s
        margin = d.margin_target + (m0 - d.margin_target) * 0.5 ** (
            years / d.margin_halflife_years)
        target = cost[s:] / (1.0 - np.minimum(margin, 0.99))
        lo = p_s * min(d.decline_fastest, d.decline_slowest) ** years
        hi = p_s * max(d.decline_fastest, d.decline_slowest) ** years
        price[s:] = np.clip(target, lo, hi)
        ratio = price[s:] / base_price[s:]
        response = ratio ** d.elasticity
        uncapped[s:] = base_spend[s:] * ratio * response
        s0 = float(uncapped[s])
        tam = max(d.tam_usd, 1.05 * s0)
        # The ceiling never lifts spend: where S_u falls below S0 the curve would.
        spend[s:] = np.minimum(uncapped[s:], 1.0 / (
            1.0 / tam + (1.0 - s0 / tam) / np.maximum(uncapped[s:], 1e-300)))
        volume[s:] = response * spend[s:] / np.maximum(uncapped[s:], 1e-300)
    factor = base_factor.copy()
    factor[s:] = price[s:] / price0
    return MarketPath(factor, volume, cost, price, spend, uncapped, tam)


def baseline_spend_usd(dem, price_factor: np.ndarray) -> np.ndarray:
    """Anthropic-wide spend per year at baseline prices and volumes, per day (USD).

    `dem` is the replication's DemandModel: enterprise tokens (active customers' weight x
    growth) at the blended enterprise price, consumer tokens at the consumer price, over
    the share of Claude demand on the modelled clouds; weekday and hourly profiles have
    mean 1 and are left out.
    """
    w = dem.pop.weight
    w_all = w.sum(axis=0)
    w0 = float(w_all[0]) if w_all.size else 0.0
    od = float(w[0::2, 0].sum() / w0) if w0 > 0 else 0.0
    ent_price = dem.price_usd_per_mtok * (1 - dem.batch_share * dem.batch_discount * od)
    ent = w_all * dem.tps_per_weight * dem.ent_growth * ent_price
    con = dem.con_tps0 * dem.con_growth * dem.consumer_price_usd_per_mtok
    return (ent + con) * price_factor * SECONDS_PER_YEAR / 1e6 / max(dem.cloud_share, 1e-12)


def for_replication(m, start_day: int, rng: np.random.Generator, dem, *, price_decline: float,
                    ship_day: np.ndarray, ship_gen: np.ndarray, ship_chips: np.ndarray,
                    base_chips: np.ndarray, it_kw: np.ndarray, tps: np.ndarray,
                    life_days: float, usd_per_mw_it_year: float,
                    serving_share: float) -> MarketPath:
    """The market path of one replication (`m`: the scenario's market section, enabled)."""
    days = dem.ent_growth.size
    t = np.arange(days) / DAYS_PER_YEAR
    # The baseline factor as the daily service computes it (bit for bit): all days at once.
    base_factor = np.asarray(finance.price_factor(np.arange(days), price_decline), float)
    d = draw(m, start_day, rng)
    return compute(
        d, base_factor=base_factor,
        tokens_per_it_mw=fleet_tokens_per_it_mw(days, ship_day, ship_gen, ship_chips,
                                                base_chips, it_kw, tps, life_days),
        efficiency=dem.efficiency_per_year ** t, usd_per_mw_it_year=usd_per_mw_it_year,
        serving_share=serving_share, base_spend=baseline_spend_usd(dem, base_factor),
        price0=dem.price_usd_per_mtok)


def for_model(sc, clock, streams, dem, fleet, shipments: list, money, clouds: list[str],
              pue: float, life_days: float, serving_share: float) -> MarketPath | None:
    """`for_replication` from the model's parts (None when the scenario has no market).

    The cost of capacity is the price of the market's `cost_cloud` (the first enabled
    cloud when it is off); the market draws from its own stream "market".
    """
    m = sc.market
    if m is None or not m.enabled:
        return None
    f = fleet
    sh = np.array(shipments, float).reshape(-1, 3)
    ci = clouds.index(m.cost_cloud) if m.cost_cloud in clouds else 0
    usd_per_mw_it_year = float(money.cloud_price[ci])
    return for_replication(
        m, int(clock.hours(m.start) // HOURS_PER_DAY), streams.rng("market"), dem,
        price_decline=money.price_decline,
        ship_day=sh[:, 0] / HOURS_PER_DAY, ship_gen=sh[:, 1], ship_chips=sh[:, 2],
        base_chips=(f.in_transit + f.waiting + f.installed + f.failed).astype(float),
        it_kw=f.kw / pue, tps=f.tps, life_days=life_days,
        usd_per_mw_it_year=usd_per_mw_it_year, serving_share=serving_share)


def revenue_per_mw_year(dates: np.ndarray, revenue_usd: np.ndarray, it_mw: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Revenue per MW-year of occupied IT capacity by calendar year.

    Returns (years, USD per MW-year, days of the year inside the run): a year's served
    revenue over its occupied IT MW-years (daily MW summed / 365.25).
    """
    year = np.asarray(dates).astype("datetime64[Y]").astype(int) + 1970
    years, idx = np.unique(year, return_inverse=True)
    rev = np.bincount(idx, weights=revenue_usd)
    mw_years = np.bincount(idx, weights=it_mw) / DAYS_PER_YEAR
    days = np.bincount(idx)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(mw_years > 0, rev / mw_years, np.nan)
    return years, per, days


def revenue_per_mw_kpis(dates: np.ndarray, revenue_usd: np.ndarray, it_mw: np.ndarray,
                        window: slice, reference_year: int = 2026) -> dict[str, float]:
    """KPIs of revenue per occupied IT MW-year: the window's, the reference year's, the peak.

    ``revenue_per_mw_year_peak_ratio`` is the highest full calendar year after the
    reference year over the reference year's value (NaN when either is missing).
    """
    mw = float(np.sum(it_mw[window])) / DAYS_PER_YEAR
    out = {"revenue_per_mw_year_usd": float(np.sum(revenue_usd[window]) / mw) if mw > 0
           else float("nan")}
    years, per, days = revenue_per_mw_year(dates, revenue_usd, it_mw)
    ref = per[years == reference_year]
    ref_v = float(ref[0]) if ref.size and np.isfinite(ref[0]) else float("nan")
    later = per[(years > reference_year) & (days >= 365) & np.isfinite(per)]
    out["revenue_per_mw_year_2026_usd"] = ref_v
    out["revenue_per_mw_year_peak_ratio"] = (float(later.max() / ref_v)
                                             if later.size and ref_v > 0 else float("nan"))
    return out
