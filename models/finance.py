"""Money: what capacity costs, what served tokens earn, and investment on milestones.

- Spend: a cloud bills the IT MW of chips in service for the customer (installed or out
  for repair) at its price per MW-year; chips waiting for power are not billed.
- Revenue: served tokens at the scenario's prices, which fall by a yearly factor; batch
  tokens at a discount. Unserved tokens at the same prices are lost revenue.
- Held chips: a chip the power-aware policy holds at the supplier for lack of powered
  space costs ``finance.held_chip_usd_per_chip_month`` a month while it is held (carrying
  its value), apart from what the clouds bill.
- Commitments: spend inside a cloud's commitment window against the committed amount,
  pro rata to the part of the window the run covers.
- Tranches: each fires at most once and never before the deal date: one released on the
  deal date fires on it, the others on the first day from it on that the run-rate reaches
  their milestone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from capsim.simcore.units import DAYS_PER_YEAR, SECONDS_PER_DAY


def price_factor(day: np.ndarray | float, decline_per_year: float) -> np.ndarray | float:
    """Price on `day` relative to the start: decline_per_year ** years."""
    return decline_per_year ** (np.asarray(day, float) / DAYS_PER_YEAR)


def tokens_value_usd(tps_by_tier: np.ndarray, usd_per_mtok: np.ndarray) -> float:
    """Dollars of one day of tokens: tokens/s per tier x seconds x price per tier."""
    return float(np.dot(tps_by_tier, usd_per_mtok) * SECONDS_PER_DAY / 1e6)


def commitment_gap_usd(spend_per_day: np.ndarray, start: dt.date, commitment_usd: float,
                       commitment_start: dt.date, commitment_years: float) -> float:
    """Commitment minus spend inside the commitment window, over the part the run covers.

    Positive: the plan spends less than committed (capacity is short of the commitment);
    negative: it spends beyond it. The commitment counts pro rata to the share of its
    window inside the run (a window that began before the start is not fully seen).
    """
    days = np.asarray(spend_per_day, float).size
    w0 = (commitment_start - start).days
    w1 = w0 + commitment_years * DAYS_PER_YEAR
    lo, hi = max(0, w0), min(days, w1)
    if hi <= lo:
        return 0.0
    covered = (hi - lo) / (w1 - w0)
    spend = float(np.sum(spend_per_day[int(lo):int(np.ceil(hi))]))
    return commitment_usd * covered - spend


@dataclass
class Tranche:
    """One investment tranche of a replication."""

    name: str
    amount_usd: float
    milestone_run_rate_usd: float
    capacity_share: float
    at_deal: bool = False
    fired_day: int | None = None


class Tranches:
    """The replication's tranches; `check` fires those that are due, once each.

    Args:
        tranches: the tranches, none fired.
        deal_day: the run's day of the deal date: no tranche fires before it.
    """

    def __init__(self, tranches: list[Tranche], deal_day: int = 0) -> None:
        self.items, self.deal_day = tranches, deal_day

    def milestones(self) -> list[float]:
        """Milestones of the tranches not fired yet that a run-rate releases."""
        return [t.milestone_run_rate_usd for t in self.items
                if t.fired_day is None and not t.at_deal]

    def at_deal(self, day: int) -> list[Tranche]:
        """Tranches released on the deal date that fire today (on or after it)."""
        fired = []
        for t in self.items:
            if t.fired_day is None and t.at_deal and day >= self.deal_day:
                t.fired_day = day
                fired.append(t)
        return fired

    def check(self, day: int, run_rate_usd: float) -> list[Tranche]:
        """Tranches that fire today: not fired before, the deal exists, milestone met."""
        fired = self.at_deal(day)
        if day < self.deal_day:
            return fired
        for t in self.items:
            if (t.fired_day is None and not t.at_deal
                    and run_rate_usd >= t.milestone_run_rate_usd):
                t.fired_day = day
                fired.append(t)
        return fired

    @property
    def received_usd(self) -> float:
        """Investment received so far."""
        return float(sum(t.amount_usd for t in self.items if t.fired_day is not None))


def affordability(dates: np.ndarray, spend_usd: np.ndarray, revenue_usd: np.ndarray,
                  investment_usd: np.ndarray, share_of_revenue: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cloud spend against what revenue and investment can pay, by calendar year.

    A year's means: `share_of_revenue` x its served revenue + investment released in it
    (`investment_usd`: released per day). Returns (years, spend, means) per calendar year
    of `dates` (all inputs daily arrays).
    """
    year = np.asarray(dates).astype("datetime64[Y]").astype(int)
    years, idx = np.unique(year, return_inverse=True)
    spend = np.bincount(idx, weights=spend_usd)
    revenue = np.bincount(idx, weights=revenue_usd)
    invest = np.bincount(idx, weights=investment_usd)
    return years + 1970, spend, share_of_revenue * revenue + invest


@dataclass(frozen=True)
class FinanceDraw:
    """One replication's money: prices, commitments, capex, tranches, what revenue carries.

    Attributes:
        price_decline: price factor per year.
        cloud_price: $ per IT MW-year of each enabled cloud.
        commitments: (USD, start date, years) of each enabled cloud's commitment.
        capex_per_mw: $ per facility MW that a tranche's capacity share buys.
        tranches: (name, USD, milestone run-rate USD, capacity share, at the deal) of each
            tranche.
        spend_share: share of revenue that spend may take (None: not modelled).
        deal_day: the run's day of ``[finance] deal_date``: no tranche before it.
        held_chip_usd: $ a chip held at the supplier costs a month (None: not costed).
    """

    price_decline: float
    cloud_price: np.ndarray
    commitments: tuple[tuple[float, dt.date, float], ...]
    capex_per_mw: float
    tranches: tuple[tuple[str, float, float, float, bool], ...]
    spend_share: float | None
    deal_day: int = 0
    held_chip_usd: float | None = None

    def new_tranches(self) -> Tranches:
        """The replication's tranches, none fired yet."""
        return Tranches([Tranche(*t) for t in self.tranches], self.deal_day)

    @classmethod
    def draw(cls, sc, clouds: list[str], streams) -> FinanceDraw:
        """One replication's money, from its named streams.

        The streams: "finance.prices", "clouds.<cloud>", "finance.tranches",
        "finance.means" and "finance.held".
        """
        price_decline = float(sc.demand.price_decline_per_year.sample(
            streams.rng("finance.prices")))
        cloud_price = np.zeros(len(clouds))
        commitments = []
        for i, name in enumerate(clouds):
            c = sc.clouds[name]
            rng = streams.rng(f"clouds.{name}")
            cloud_price[i] = float(c.price_usd_per_mw_it_year.sample(rng))
            commitments.append((float(c.commitment_usd.sample(rng)), c.commitment_start,
                                c.commitment_years))
        rng = streams.rng("finance.tranches")
        capex = float(sc.finance.capex_usd_per_mw.sample(rng))
        items = tuple((name, float(t.amount_usd.sample(rng)),
                       float(t.milestone_run_rate_usd.sample(rng)),
                       float(np.clip(t.capacity_share.sample(rng), 0, 1)), t.at_deal)
                      for name, t in sc.finance.tranches.items())
        share = sc.finance.spend_share_of_revenue
        spend_share = (None if share is None
                       else float(share.sample(streams.rng("finance.means"))))
        held = sc.finance.held_chip_usd_per_chip_month
        held_usd = None if held is None else float(held.sample(streams.rng("finance.held")))
        meta = sc.scenario
        deal = sc.finance.deal_date or meta.evaluation_start or meta.start
        return cls(price_decline, cloud_price, tuple(commitments), capex, items, spend_share,
                   max(0, (deal - meta.start).days), held_usd)
