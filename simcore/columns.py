"""How a result column is stored (kept apart from the store so that models need no Arrow)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """How a result column is stored: its Arrow type and the metadata of its field."""

    dtype: str                      # "float64", "float32" or "int64"
    metadata: Mapping[str, str]     # e.g. unit, description, kind
