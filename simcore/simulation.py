"""One replication: a SimPy environment, its components and a horizon -> RunResult.

Lifecycle (after desmod): build components -> each component starts its processes ->
the environment runs to the horizon -> the model collects plain data into a RunResult.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy
from capsim.simcore import tuning
from capsim.simcore.clock import Clock
from capsim.simcore.probes import Event, EventLog
from capsim.simcore.streams import Streams


class Component(Protocol):
    """Anything that starts SimPy processes in a Simulation."""

    name: str

    def start(self, sim: Simulation) -> None:
        """Register the component's processes with `sim.env`."""


class Simulation:
    """A SimPy environment bound to a clock, a stream tree and components."""

    def __init__(self, clock: Clock, streams: Streams) -> None:
        self.env = simpy.Environment()
        self.clock = clock
        self.streams = streams
        self.events = EventLog()
        self.components: list[Component] = []

    def add(self, component: Component) -> Component:
        """Add a component; it is started when the simulation runs."""
        if any(c.name == component.name for c in self.components):
            raise ValueError(f"component name {component.name!r} is used twice")
        self.components.append(component)
        return component

    def run(self) -> None:
        """Start every component, then run to the horizon."""
        for c in self.components:
            c.start(self)
        self.env.run(until=self.clock.horizon)


def advance(env: simpy.Environment, t: float) -> bool:
    """Move `env`'s clock to `t` at once when no event is due before or at `t`.

    For a process that wakes at fixed times (the daily step): when nothing else happens
    up to its next wake-up, it carries on at once instead of yielding a timeout through
    the event queue. The order of events and the clock are what the timeout would give:
    events scheduled from here on are dated from `t`, and an event already due at `t`
    (which would come before a timeout scheduled now) makes this return False, leaving
    the clock alone, so that the process yields its timeout as usual.
    """
    if env.peek() > t:
        env._now = t  # SimPy's clock (Environment.step sets it the same way)
        return True
    return False


@dataclass
class RunResult:
    """What one replication returns: plain data, no live objects.

    Attributes:
        replication: replication index.
        timeseries: daily series, each an array with one value per day.
        kpis: scalar key figures of the replication.
        events: logged events (hour, kind, detail, subject, amount, unit).
    """

    replication: int
    timeseries: Mapping[str, np.ndarray]
    kpis: Mapping[str, float]
    events: list[Event] = field(default_factory=list)


class Model(Protocol):
    """A domain model the Monte Carlo driver can run.

    `build` creates a Simulation with the model's components for one replication;
    `collect` turns the finished simulation into a RunResult.
    """

    def __init__(self, scenario: Any) -> None: ...

    def build(self, streams: Streams) -> Simulation:
        """Create the Simulation of one replication, drawing from `streams`."""
        ...

    def collect(self, sim: Simulation) -> RunResult:
        """Turn the finished simulation into a RunResult."""
        ...


def run_replication(model_cls: type, scenario: Any, seed: int, replication: int) -> RunResult:
    """Run one replication of `model_cls(scenario)`; top-level so that it pickles."""
    tuning.before_replication()  # a worker's first replication freezes its long-lived objects
    # No automatic collections during the replication (about 3% of its time): what it
    # builds lives until its end, and the collection below frees its cycles then.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # An overflow to infinity is an error, never a silent inf in the results: the
        # caller gets a FloatingPointError and names the scenario values that caused it.
        # An invalid operation (inf - inf) gives a NaN that the caller's checks of the
        # KPIs report, so it prints no warning of its own.
        with np.errstate(over="raise", invalid="ignore"):
            model = model_cls(scenario)
            sim = model.build(Streams(seed, replication))
            sim.run()
            result = model.collect(sim)
        # SimPy's processes and callbacks hold the model in reference cycles: free its
        # arrays now rather than at some later collection, so that a worker's memory stays
        # at one replication's worth however many it runs.
        del model, sim
    finally:
        if collecting:
            gc.enable()
        gc.collect()
    return result
