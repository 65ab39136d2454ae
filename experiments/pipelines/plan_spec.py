"""What `capsim plan` searches and how hard (`PlanSpec`), and the objectives it minimises."""

from __future__ import annotations

from dataclasses import dataclass, field

from capsim.experiments.pipelines.checks import DEFAULT_SEED
from capsim.models.decisions import headline_kpi
from capsim.models.scenario import Scenario, ScenarioError

OBJECTIVES = {"spend": ("spend_usd",
                        "expected spend on the enabled clouds over the evaluation window, "
                        "with the cost of chips held at the supplier, USD"),
              "spend_plus_lost": ("spend_plus_lost_usd",
                                  "expected spend plus the revenue of unserved tokens, USD"),
              "spend_plus_forgone": ("spend_plus_forgone_usd",
                                     "expected spend plus forgone revenue (every unmet token, "
                                     "customers who left included), USD"),
              "stranded": ("stranded_power_mw_months",
                           "expected powered but empty facility MW-months")}
DEFAULT_BUDGET = 40
"""Candidates of the default search (docs/developer/timings.md has its measured time)."""


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
    risk: str = "headline"
    """The constraint: "headline" (expected headline shortage KPI <= max_risk, by default the
    scenario's [plan] max_unmet_share) or "short_month" (P(short month) <= max_shortfall)."""
    max_risk: float | None = None
    indifference: float | None = None
    """Ties in the fresh-seed selection: a share of the cost (None: the scenario's [plan])."""
    certify_max: int = 60
    """Fresh-seed replications per candidate at most in the ranking and selection."""
    certify_batch: int = 10

    @property
    def risk_col(self) -> str:
        """The outcome column whose mean is the plan's risk."""
        return "short" if self.risk == "short_month" else headline_kpi()

    @property
    def limit(self) -> float:
        """The largest risk a feasible plan may have."""
        if self.risk == "short_month":
            return self.max_shortfall
        assert self.max_risk is not None, "PlanSpec.resolve first"
        return self.max_risk

    @property
    def risk_label(self) -> str:
        """The risk in words."""
        return ("P(some month short)" if self.risk == "short_month"
                else f"expected {self.risk_col}")

    def resolve(self, scenario: Scenario) -> None:
        """Take the target and the indifference zone from the scenario's [plan]."""
        target = scenario.plan
        if self.risk == "headline" and self.max_risk is None:
            if target is None:
                raise ScenarioError("plan", [
                    "the scenario has no [plan] table: give [plan] max_unmet_share (with unit "
                    "and source), or --max-risk, or --risk short_month"])
            self.max_risk = target.max_unmet_share
        if self.indifference is None:
            self.indifference = target.indifference_share if target is not None else 0.01

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
        if self.risk not in ("headline", "short_month"):
            problems.append(f"--risk (={self.risk!r}) must be headline or short_month")
        if self.max_risk is not None and not 0 < self.max_risk < 1:
            problems.append(f"--max-risk (={self.max_risk}) must lie in (0, 1)")
        if self.max_reps < self.reps:
            problems.append(f"--max-reps (={self.max_reps}) must be >= --reps (={self.reps})")
        if problems:
            raise ScenarioError("plan", problems)
