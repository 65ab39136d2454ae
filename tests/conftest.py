"""Shared fixtures: the default scenario, and a short-horizon variant for fast tests.

Hypothesis settings come from profiles, chosen by the environment variable
HYPOTHESIS_PROFILE: "dev" (the default: a quick loop), "ci" (more examples, what `.ci/run`
uses) and "deep" (a long search, for a night). No test sets its own example counts.
"""

from __future__ import annotations

import os

import pytest
from capsim.models.scenario import load
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture]}
settings.register_profile("dev", max_examples=10, **_COMMON)
settings.register_profile("ci", max_examples=40, print_blob=True, **_COMMON)
settings.register_profile("deep", max_examples=1000, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


PRIORS = "scenario.posterior=''"
"""The override that draws the default's inputs from its priors, not its shipped posterior.

Tests of the model's mechanics use it: their seeds were chosen for what the priors draw
(a stress that throttles, an order that falls due). tests/test_shipped_posterior.py tests
the posterior itself.
"""


@pytest.fixture(scope="session")
def default_scenario():
    """The default scenario, its inputs drawn from the priors (see PRIORS)."""
    return load(None, [PRIORS])[0]


@pytest.fixture(scope="session")
def short_scenario():
    """Two years from the default start: enough for the 2026 milestone and some growth."""
    return load(None, ["scenario.end=2028-04-01", PRIORS])[0]
