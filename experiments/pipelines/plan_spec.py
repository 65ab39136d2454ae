"""What `capsim plan` searches and how hard (`PlanSpec`), and the objectives it minimises."""

from __future__ import annotations

from dataclasses import dataclass, field

from capsim.experiments.pipelines.checks import DEFAULT_SEED
from capsim.models.scenario import ScenarioError

OBJECTIVES = {"spend": ("spend_usd",
                        "expected spend on the enabled clouds over the evaluation window, USD"),
              "spend_plus_lost": ("spend_plus_lost_usd", "expected spend plus lost revenue, USD"),
              "stranded": ("stranded_power_mw_months",
                           "expected powered but empty facility MW-months")}
DEFAULT_BUDGET = 40
"""Candidates of the default search: about 10 minutes on 2 cores for the default scenario."""


@dataclass
class PlanSpec:
    """What `capsim plan` searches, and how hard."""

    scenario: str | None = None
    overrides: list[str] = field(default_factory=list)
    max_shortfall: float = 0.10
    objective: str = "spend"
    budget: int = DEFAULT_BUDGET
    seed: int = DEFAULT_SEED
    reps: int = 8
    max_reps: int = 32
    check_reps: int = 100
    workers: int = 2
    executor: str = "processes"
    threshold: float | None = None
    """A month is short above this share of its demand unserved (None: the scenario's)."""
    window: str | None = None
    robust: int = 3
    states: int = 48
    progress: bool | None = None

    def check(self) -> None:
        """Refuse impossible settings (ScenarioError: exit 2)."""
        problems = []
        if not 0 < self.max_shortfall < 1:
            problems.append(f"--max-shortfall (={self.max_shortfall}) must lie in (0, 1)")
        if self.objective not in OBJECTIVES:
            problems.append(f"--objective (={self.objective!r}) must be one of "
                            f"{', '.join(OBJECTIVES)}")
        if self.threshold is not None and not 0 <= self.threshold < 1:
            problems.append(f"--threshold (={self.threshold}) must lie in [0, 1)")
        if self.max_reps < self.reps:
            problems.append(f"--max-reps (={self.max_reps}) must be >= --reps (={self.reps})")
        if problems:
            raise ScenarioError("plan", problems)
