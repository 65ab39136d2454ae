"""Which named group each uncertain input belongs to, for grouped sensitivity.

One table, read top to bottom: the first rule whose pattern matches an input's name (as
`capsim.models.inputs` lists it) gives its group. A chip generation's inputs form one group
per generation ("supply: <generation>"). These are classifications, not calibrated
numbers: a reader sees at once which inputs move together in the analysis.
"""

from __future__ import annotations

import re

RULES: list[tuple[str, str]] = [
    (r"^supply\.generations\.([^.\[]+)\.", r"supply: \1"),
    (r"^supply\.pools\.", "supply: components (CoWoS, HBM)"),
    (r"^demand\.(price_usd_per_mtok|price_decline_per_year|cloud_share)$", "price and market"),
    (r"^demand\.consumer\.price_usd_per_mtok$", "price and market"),
    (r"^market\.", "price and market"),
    (r"^tenants\.", "price and market"),
    (r"^demand\.", "demand growth"),
    (r"^surges\.", "demand growth"),
    (r"^datacenters\.", "power timing"),
    (r"^procurement\.", "power timing"),
    (r"^fleet\.", "fleet reliability"),
    (r"^customers\.", "customers' reactions"),
    (r"^finance\.", "money"),
    (r"^clouds\.", "money"),
    (r"^service\.", "serving"),
]
"""(regular expression on the input's name, group; `\\1` takes the first captured part)."""

OTHER = "other"


def group_of(name: str) -> str:
    """The group of one input (`OTHER` when no rule matches)."""
    for pattern, group in RULES:
        m = re.match(pattern, name)
        if m:
            return m.expand(group)
    return OTHER


def groups_of(names: list[str]) -> list[str]:
    """The group of each input, in order."""
    return [group_of(n) for n in names]
