"""What the daily step records of the fleet, the lines, the pools and the orders.

Once a day (`models.daily.DailyLoop`) the fleet's chips by state, the powered MW of each
cloud, the lines' net shipments and held flags, and one tuple of money, orders and pool
stock are recorded; everything else per day (capacity, occupied MW, spend, FP8) follows
from these after the run (`by_cloud`, `by_generation`, `fleet_daily`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from capsim.models.fleet import STATES, Fleet
from capsim.models.supply import ProductionLines
from capsim.simcore.units import DAYS_PER_YEAR, HOURS_PER_DAY

FLEET_DAILY = ("investment_cum_usd", "ordered_cum_mw", "fp8_eflops",
               "chips_awaiting_components", "chips_held", "power_ordered_cum_mw")
"""Series the daily step records as one number per day (the fleet's and the orders')."""

_INSTALLED, _FAILED = STATES.index("installed"), STATES.index("failed")


class Ordered(Protocol):
    """What tells the capacity ordered so far (`models.orders.Orders`)."""

    ordered_mw: float
    power_ordered_mw: float


@dataclass(frozen=True)
class DayRecorder:
    """Records day `day`: its chips (read by the day's checks), then the rest.

    `rest(day, received_usd)` takes the investment received so far (`TrancheWatch`).
    """

    chips: Callable[[int], None]
    rest: Callable[[int, float], None]


class FleetRecord:
    """The fleet's day-by-day record (see the module docstring).

    Args:
        days: length of the run.
        fleet: the chips and the powered space.
        lines: the production lines (chips due and not shipped, held chips).
        pools: the component pools' containers (their stock is recorded).
        efficiency_per_year: tokens per chip-second gained per year by software.
        it_price: $ per facility kW-day of each cloud.
        fp8_per_chip: FP8 exaFLOPS per chip of each generation.
        orders: what tells the MW ordered so far (`ordered_mw`, `power_ordered_mw`).
    """

    def __init__(self, days: int, fleet: Fleet, lines: ProductionLines, pools: list,
                 efficiency_per_year: float, it_price: np.ndarray, fp8_per_chip: np.ndarray,
                 orders: Ordered) -> None:
        self.days, self.fleet, self.lines, self.pools = days, fleet, lines, pools
        self.it_price, self.fp8_per_chip, self.orders = it_price, fp8_per_chip, orders
        n_g, n_c = fleet.kw.size, fleet.n_clouds
        self.efficiency = efficiency_per_year ** (np.arange(days) / DAYS_PER_YEAR)
        self.chips = np.zeros((days, len(STATES), n_g), np.int64)
        self.energized = np.zeros((days, n_c))
        # Chips due from the lines and not shipped: planned chips due less the lines' net
        # shipments, which are what the day records (`awaiting` subtracts after the run).
        self._net_shipped = np.zeros((days, n_g), np.int64)
        self._due: np.ndarray | None = None
        self.held = np.zeros((days, n_g), bool)
        # Investment received, MW ordered, MW of power ordered, then each pool's stock, as
        # one tuple a day (`daily` and `pool_stock` are their columns).
        self._rows: list[tuple[float, ...]] = []
        self._table: np.ndarray | None = None

    def recorder(self) -> DayRecorder:
        """The functions that record a day (what they read is bound once, for speed)."""
        self._due = self.lines.due_planned_at((np.arange(self.days) + 0.5) * HOURS_PER_DAY)
        f, lines, row, pools = self.fleet, self.lines, self._rows.append, self.pools
        orders, level = self.orders, operator.attrgetter("level")
        chips, state = self.chips, f.state
        energized, energized_now = self.energized, f.energized
        net_shipped, net_now = self._net_shipped, lines.net_shipped
        held, held_now = self.held, lines.held

        def record_chips(day: int) -> None:
            chips[day] = state

        def record_rest(day: int, received_usd: float) -> None:
            energized[day] = energized_now
            net_shipped[day] = net_now
            held[day] = held_now
            row((received_usd, orders.ordered_mw, orders.power_ordered_mw, *map(level, pools)))

        return DayRecorder(record_chips, record_rest)

    @property
    def awaiting(self) -> np.ndarray:
        """(days, generations) chips due from the lines and not yet shipped, each day."""
        if self._due is None:
            return np.zeros_like(self._net_shipped)
        return self._due - self._net_shipped

    def _recorded(self) -> np.ndarray:
        """(days, 3 + pools): the day's tuples as one table (after the run)."""
        if self._table is None or len(self._table) != len(self._rows):
            self._table = (np.array(self._rows, float) if self._rows
                           else np.zeros((0, 3 + len(self.pools))))
        return self._table

    @property
    def daily(self) -> np.ndarray:
        """(days, 3): investment received, MW ordered, MW of power ordered, cumulative."""
        return self._recorded()[:, :3]

    @property
    def pool_stock(self) -> np.ndarray:
        """(days, pools): each component pool's stock."""
        return self._recorded()[:, 3:]

    def total_tps(self, d0: int = 0, d1: int | None = None) -> np.ndarray:
        """Tokens/s of the healthy installed chips on days d0 .. d1 - 1, with efficiency."""
        installed = self.chips[d0:d1, _INSTALLED]
        return (installed * self.fleet.tps).sum(axis=1) * self.efficiency[d0:d1]

    def by_generation(self) -> np.ndarray:
        """(days, states + 1, generations): chips by state, then healthy tokens/s."""
        healthy = self.chips[:, _INSTALLED] * self.fleet.tps * self.efficiency[:, None]
        return np.concatenate([self.chips, healthy[:, None]], axis=1).astype(float)

    def by_cloud(self) -> np.ndarray:
        """(days, 4, clouds): energized MW, occupied MW, healthy tokens/s, spend $/day."""
        f = self.fleet
        one_hot = np.zeros((f.kw.size, f.n_clouds))
        one_hot[np.arange(f.kw.size), f.cloud] = 1.0
        installed, failed = self.chips[:, _INSTALLED], self.chips[:, _FAILED]
        occ_kw = ((installed + failed) * f.kw) @ one_hot
        tps = ((installed * f.tps) @ one_hot) * self.efficiency[:, None]
        return np.stack([self.energized, occ_kw / 1000.0, tps, occ_kw * self.it_price], axis=1)

    def fp8_by_cloud(self) -> np.ndarray:
        """(days, clouds): dense FP8 EFLOP/s of the healthy installed chips of each cloud."""
        f = self.fleet
        per_cloud = np.zeros((f.kw.size, f.n_clouds))
        per_cloud[np.arange(f.kw.size), f.cloud] = self.fp8_per_chip
        return self.chips[:, _INSTALLED] @ per_cloud

    def fleet_daily(self) -> dict[str, np.ndarray]:
        """The one-number-a-day series of the fleet and the orders (see FLEET_DAILY)."""
        installed = self.chips[:, _INSTALLED]
        return {"investment_cum_usd": self.daily[:, 0], "ordered_cum_mw": self.daily[:, 1],
                "fp8_eflops": installed @ self.fp8_per_chip,
                "chips_awaiting_components": np.where(self.held, 0, self.awaiting).sum(axis=1),
                "chips_held": np.where(self.held, self.awaiting, 0).sum(axis=1),
                "power_ordered_cum_mw": self.daily[:, 2]}
