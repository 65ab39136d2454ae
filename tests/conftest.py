"""Shared fixtures: the default scenario, and a short-horizon variant for fast tests."""

from __future__ import annotations

import pytest
from capsim.models.scenario import load


@pytest.fixture(scope="session")
def default_scenario():
    return load()[0]


@pytest.fixture(scope="session")
def short_scenario():
    """Two years from the default start: enough for the 2026 milestone and some growth."""
    return load(None, ["scenario.end=2028-04-01"])[0]
