"""Other tenants of a cloud: a rival that takes part of the new power Anthropic would get.

A tenant (e.g. OpenAI on AWS) holds a compute commitment: ``commitment_usd`` over
``commitment_years`` at ``price_usd_per_mw_it_year`` is a contracted IT MW level, times
the ``pue`` a facility MW level; from ``expansion_from`` that level grows by
``expansion_per_year``. Allocation rule (stated, not published): from the tenant's
``start``, every building of its cloud that powers on gives ``power_share`` of its MW to
the tenant for as long as the tenant holds less than its contracted level on that date;
Anthropic gets the rest. Power energized before the tenant's start is not touched, and a
tenant never gives power back. The tenant's chips are its own (NVIDIA GPUs for OpenAI),
outside this scenario's chip pools, so it competes for power only.

Pure functions on plain lists and arrays, run once before the simulation starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from capsim.simcore.units import HOURS_PER_YEAR


@dataclass(frozen=True)
class TenantDraw:
    """One replication's tenant: contracted facility MW, growth, share of new power."""

    name: str
    cloud: int
    start_h: float
    base_mw: float
    expansion_from_h: float
    expansion_per_year: float
    power_share: float

    def target_mw(self, t_h: float) -> float:
        """Facility MW the tenant is entitled to at hour `t_h`."""
        years = max(0.0, (t_h - self.expansion_from_h) / HOURS_PER_YEAR)
        return self.base_mw * self.expansion_per_year ** years


def draw(name: str, t, cloud: int, hours, rng: np.random.Generator) -> TenantDraw:
    """Draw tenant `t` (a scenario Tenant) of one replication; `hours` maps a date to hours."""
    commitment = float(t.commitment_usd.sample(rng))
    price = float(t.price_usd_per_mw_it_year.sample(rng))
    pue = float(t.pue.sample(rng))
    growth = float(t.expansion_per_year.sample(rng))
    share = float(np.clip(t.power_share.sample(rng), 0.0, 1.0))
    base = commitment / t.commitment_years / max(price, 1e-12) * pue
    return TenantDraw(name, cloud, float(hours(t.start)), base, float(hours(t.expansion_from)),
                      growth, share)


def carve(power_ons: list[tuple[float, float, int, str]], tenants: list[TenantDraw]
          ) -> tuple[list[tuple[float, float, int, str]], dict[str, list[tuple[float, float]]]]:
    """Split scheduled power-ons between Anthropic and the tenants, by the module's rule.

    Args:
        power_ons: (hour, facility MW, cloud index, campus) of buildings powering on.
        tenants: the replication's tenants, served in list order at each power-on.

    Returns:
        Anthropic's power-ons (same order and times; MW reduced, never raised) and, per
        tenant, its takes as (hour, MW).
    """
    held = {d.name: 0.0 for d in tenants}
    taken: dict[str, list[tuple[float, float]]] = {d.name: [] for d in tenants}
    out = list(power_ons)
    for i in sorted(range(len(power_ons)), key=lambda k: power_ons[k][0]):
        t, mw, c, name = power_ons[i]
        left = mw
        for d in tenants:
            if d.cloud != c or t < d.start_h:
                continue
            take = min(mw * d.power_share, max(0.0, d.target_mw(t) - held[d.name]), left)
            if take > 0:
                held[d.name] += take
                taken[d.name].append((t, take))
                left -= take
        out[i] = (t, left, c, name)
    return out, taken


def held_mw(taken: list[tuple[float, float]], horizon_h: float) -> float:
    """Facility MW a tenant holds at `horizon_h` (sum of its takes up to then)."""
    return float(sum(mw for t, mw in taken if t <= horizon_h))
