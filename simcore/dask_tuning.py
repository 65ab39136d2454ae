"""The Dask worker plugin that gives a worker the process tuning of replication workers.

A module of its own because it imports `distributed` (an optional extra) at the top: the
plugin's class must be importable by name on the workers.
"""

from __future__ import annotations

from typing import Any

from capsim.simcore import tuning
from distributed.diagnostics.plugin import WorkerPlugin


class TuneWorker(WorkerPlugin):
    """On each worker (and each that joins later): `simcore.tuning.become_worker`."""

    name = "capsim-tuning"
    idempotent = True

    def setup(self, worker: Any) -> None:
        """Called by Dask when the plugin is registered on, or a worker joins, the cluster."""
        tuning.become_worker()
